"""The ComfyExtension that lists the nodes; ComfyUI calls comfy_entrypoint()."""
from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from .apply import ApplyParetoSlider
from .front_preview import ParetoSliderFrontPreview
from .loader import ParetoSliderLoader, register_model_folder
from .preference import ParetoSliderPreference
from .sweep import ParetoSliderSweep


class ParetoSliderExtension(ComfyExtension):
    @override
    async def on_load(self) -> None:
        register_model_folder()
        from .routes import register_routes
        register_routes()

    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ParetoSliderLoader, ParetoSliderPreference, ApplyParetoSlider, ParetoSliderSweep,
                ParetoSliderFrontPreview]


async def comfy_entrypoint() -> ParetoSliderExtension:
    return ParetoSliderExtension()
