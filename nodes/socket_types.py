"""Socket types shared by the nodes (a public contract with the web widget and workflows)."""
from comfy_api.latest import io

CATEGORY = "ParetoSlider"
ParetoSliderType = io.Custom("PARETO_SLIDER")          # a loaded ParetoSlider file (LoadedSlider)
ParetoPreferenceType = io.Custom("PARETO_PREFERENCE")  # ω: tensor (K,) or (N, K)
