"""ParetoSlider Front Preview: the measured front stored in the file, with the current ω on it.

The chart itself is nodes/front_plot.py (no ComfyUI import); this is the node around it.
"""
from __future__ import annotations

from comfy_api.latest import io, ui

from .errors import user_errors
from .front_plot import image_tensor, preview, render_lora_slider
from .loader import LoadedSlider
from .lora_slider import LoraSlider
from .recommended import recommended
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType


class ParetoSliderFrontPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderFrontPreview",
            display_name="ParetoSlider Front Preview",
            category=CATEGORY,
            description="Plots the measured Pareto front stored in the file (by python -m trainer eval): "
                        "the first two scorers, points coloured by ω, the base model, and the current ω; "
                        "under the title, the sampling settings the file was trained with.",
            inputs=[
                ParetoSliderType.Input("slider"),
                ParetoPreferenceType.Input("preference", optional=True,
                                           tooltip="Marks this ω on the front (scores interpolated between "
                                                   "the two nearest measured ω)"),
                io.Int.Input("width", default=512, min=256, max=2048, step=16, optional=True,
                             tooltip="Width of the image in pixels (height is 3/4 of it)"),
            ],
            outputs=[io.Image.Output(display_name="image")],
            is_output_node=True,
        )

    @classmethod
    @user_errors
    def execute(cls, slider: LoadedSlider | LoraSlider, preference=None, width: int = 512) -> io.NodeOutput:
        if isinstance(slider, LoraSlider):    # nothing trained, no front: say so, still mark ω
            omegas = None if preference is None else _omega_rows(slider, preference)
            image = image_tensor(render_lora_slider(slider.labels, slider.method, omegas, width))
            return io.NodeOutput(image, ui=ui.PreviewImage(image, cls=cls))
        omegas = None if preference is None or not slider.metadata.front else slider.check_preference(preference)
        img, _ = preview(slider.metadata.front, slider.metadata.labels, omegas, width, slider.name,
                         subtitle=recommended(slider.metadata, slider.name).text,
                         imported_from=slider.metadata.imported_from)
        image = image_tensor(img)
        return io.NodeOutput(image, ui=ui.PreviewImage(image, cls=cls))


def _omega_rows(slider, preference):
    from ..pareto_core.schedule import OmegaSchedule
    if isinstance(preference, OmegaSchedule):      # a schedule: its keypoints, in order
        import torch
        return torch.cat([slider.check_preference(w).reshape(-1, slider.num_objectives)
                          for w in preference.omegas])
    return slider.check_preference(preference)
