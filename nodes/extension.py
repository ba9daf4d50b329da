"""The ComfyExtension that lists the nodes; ComfyUI calls comfy_entrypoint()."""
from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from .apply import ApplyParetoSlider
from .front_preview import ParetoSliderFrontPreview
from .loader import ParetoSliderLoader, register_model_folder
from .lora_slider import ParetoSliderFromLoras
from .msdda_sampler import ParetoSliderMSDDASampler
from .preference import ParetoSliderPreference
from .schedule import ParetoSliderSchedule
from .sweep import ParetoSliderSweep


class ParetoSliderExtension(ComfyExtension):
    @override
    async def on_load(self) -> None:
        register_model_folder()
        from .routes import register_routes
        register_routes()
        from .example_inputs import install_example_inputs
        install_example_inputs()     # the Kontext template's source image

    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ParetoSliderLoader, ParetoSliderPreference, ApplyParetoSlider, ParetoSliderSweep,
                ParetoSliderFrontPreview, ParetoSliderFromLoras, ParetoSliderSchedule, ParetoSliderMSDDASampler]


async def comfy_entrypoint() -> ParetoSliderExtension:
    return ParetoSliderExtension()
