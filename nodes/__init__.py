"""The ComfyUI nodes of ParetoSlider, registered only inside ComfyUI (see the root __init__).

front_plot.py (the Front Preview chart) and errors.py (user error → node error) import no ComfyUI
module, so tests/runtime/ runs them without it."""
