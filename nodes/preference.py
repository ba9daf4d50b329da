"""ParetoSlider Preference: the ω widget's string → a validated preference vector."""
from __future__ import annotations

from comfy_api.latest import io

from ..pareto_core import parse_preference
from .errors import user_errors
from .loader import LoadedSlider
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType


class ParetoSliderPreference(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderPreference",
            display_name="ParetoSlider Preference",
            category=CATEGORY,
            description="The preference ω between the slider's objectives (weights >= 0, "
                        "normalised to sum to 1). The widget draws a slider or a simplex pad.",
            inputs=[
                ParetoSliderType.Input("slider"),
                io.String.Input("preference", default="0.5, 0.5",
                                tooltip="One weight per objective, e.g. 0.3, 0.7 (normalised to sum to 1)"),
            ],
            outputs=[ParetoPreferenceType.Output(display_name="preference")],
        )

    @classmethod
    @user_errors
    def execute(cls, slider: LoadedSlider, preference: str) -> io.NodeOutput:
        return io.NodeOutput(slider.check_preference(parse_preference(preference)))
