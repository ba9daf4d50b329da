"""The ComfyUI nodes of ParetoSlider. Imported only inside ComfyUI (see the root __init__)."""
