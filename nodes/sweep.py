"""ParetoSlider Preference Sweep: N preferences for N latents, the whole front in one pass."""
from __future__ import annotations

from comfy_api.latest import io

from ..pareto_core import PreferenceError, edge_sweep, simplex_grid
from .errors import user_errors
from .loader import LoadedSlider
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType


class ParetoSliderSweep(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderSweep",
            display_name="ParetoSlider Preference Sweep",
            category=CATEGORY,
            description="Per-sample preferences: sample i of the latent batch uses ω_i. Wire "
                        "count to the latent's batch_size.",
            inputs=[
                ParetoSliderType.Input("slider"),
                io.Combo.Input("mode", options=["edge", "grid"], default="edge",
                               tooltip="edge: from one objective to another; grid: a grid over the whole simplex"),
                io.Int.Input("steps", default=5, min=2, max=64,
                             tooltip="Points along each edge (grid: per edge of the simplex)"),
                io.Int.Input("from_objective", default=0, min=0, max=63,
                             tooltip="edge mode: index of the objective at the start"),
                io.Int.Input("to_objective", default=1, min=0, max=63,
                             tooltip="edge mode: index of the objective at the end"),
            ],
            outputs=[ParetoPreferenceType.Output(display_name="preference"),
                     io.Int.Output(display_name="count")],
        )

    @classmethod
    @user_errors
    def execute(cls, slider: LoadedSlider, mode: str, steps: int, from_objective: int,
                to_objective: int) -> io.NodeOutput:
        k = slider.num_objectives
        if mode == "edge":
            omega = edge_sweep(k, steps, from_objective, to_objective)
        elif mode == "grid":
            omega = simplex_grid(k, steps - 1)
        else:
            raise PreferenceError(f"unknown sweep mode {mode!r}; use 'edge' or 'grid'")
        return io.NodeOutput(omega, omega.shape[0])
