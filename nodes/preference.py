"""ParetoSlider Preference: the ω widget's string → a validated preference vector."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pareto_core import parse_preference, validate_preference
from .loader import LoadedSlider
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType


def preference_for(slider: LoadedSlider, value) -> torch.Tensor:
    """ω checked against the slider's objectives (length, NaN, negative, all zero) and normalised."""
    names = slider.objective_names
    return validate_preference(parse_preference(value), len(names), names)


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
    def execute(cls, slider: LoadedSlider, preference: str) -> io.NodeOutput:
        return io.NodeOutput(preference_for(slider, preference))
