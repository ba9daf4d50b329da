"""Socket types shared by the nodes (a public contract with the web widget and workflows)."""
from comfy_api.latest import io

CATEGORY = "ParetoSlider"
ParetoSliderType = io.Custom("PARETO_SLIDER")          # a loaded file (LoadedSlider) or LoRAs (LoraSlider)
ParetoPreferenceType = io.Custom("PARETO_PREFERENCE")  # ω: tensor (K,) or (N, K), or an OmegaSchedule
