"""ParetoSlider Front Preview: the measured front stored in the file, with the current ω on it.

The chart itself is nodes/front_plot.py (no ComfyUI import); this is the node around it.
"""
from __future__ import annotations

from comfy_api.latest import io, ui

from .errors import user_errors
from .front_plot import image_tensor, preview
from .loader import LoadedSlider
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
    def execute(cls, slider: LoadedSlider, preference=None, width: int = 512) -> io.NodeOutput:
        omegas = None if preference is None or not slider.metadata.front else slider.check_preference(preference)
        img, _ = preview(slider.metadata.front, slider.metadata.labels, omegas, width, slider.name,
                         subtitle=recommended(slider.metadata, slider.name).text)
        image = image_tensor(img)
        return io.NodeOutput(image, ui=ui.PreviewImage(image, cls=cls))
