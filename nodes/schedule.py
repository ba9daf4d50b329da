"""ParetoSlider Preference Schedule: ω that moves over the denoising steps.

Its output rides the PARETO_PREFERENCE socket as a pareto_core.OmegaSchedule; Apply ParetoSlider
takes it for ParetoSlider files (OmegaInjector) and LoRA sliders (nodes/multi_lora.py) alike, and
at every model call picks ω from the call's σ (pareto_core.schedule.omega_now).
"""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pareto_core import PreferenceError, parse_preference
from ..pareto_core.schedule import AXES, CURVES, OmegaSchedule, parse_keypoints, start_end_schedule
from .errors import user_errors
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType
from .sweep_noise import keep_noise_choice


def build_schedule(slider, start, end: str, curve: str, keypoints: str, axis: str):
    if keypoints and keypoints.strip():
        schedule = parse_keypoints(keypoints, axis)
    else:
        if isinstance(start, OmegaSchedule):
            raise PreferenceError("the schedule's start is itself a schedule; connect a ParetoSlider Preference "
                                  "or Preference Sweep to start, or write the whole path as keypoints")
        start = start if torch.is_tensor(start) else torch.as_tensor(parse_preference(start))
        schedule = start_end_schedule(start, torch.tensor(parse_preference(end), dtype=torch.float32), curve)
    return keep_noise_choice(start, schedule.validated(slider.check_preference))


class ParetoSliderSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderSchedule",
            display_name="ParetoSlider Preference Schedule",
            category=CATEGORY,
            description="ω that changes during sampling: from the start ω (first step) to the end ω "
                        "(last step) along a curve, or through keypoints (position: weights, one per "
                        "line; linear between them, constant outside). Wire it into Apply ParetoSlider.",
            inputs=[
                ParetoSliderType.Input("slider"),
                ParetoPreferenceType.Input("start", tooltip="ω at the first step (a Preference or a Sweep)"),
                io.String.Input("end", default="0.5, 0.5", tooltip="ω at the last step, e.g. 0.2, 0.8"),
                io.Combo.Input("curve", options=list(CURVES), default="linear",
                               tooltip="How ω moves from start to end over the steps (step: halfway)"),
                io.String.Input("keypoints", default="", multiline=True,
                                tooltip="Optional; replaces start/end/curve. One per line: "
                                        "<position>: <w1>, <w2>, ...  e.g. 0: 1, 0 / 0.5: 0.5, 0.5"),
                io.Combo.Input("axis", options=list(AXES), default="percent",
                               tooltip="Keypoint positions: percent = sampling progress (0 first step, "
                                       "1 last step); sigma = the model's noise level σ"),
            ],
            outputs=[ParetoPreferenceType.Output(display_name="preference")],
        )

    @classmethod
    @user_errors
    def execute(cls, slider, start, end: str = "0.5, 0.5", curve: str = "linear", keypoints: str = "",
                axis: str = "percent") -> io.NodeOutput:
        return io.NodeOutput(build_schedule(slider, start, end, curve, keypoints, axis))
