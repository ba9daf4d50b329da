"""ParetoSlider Preference Sweep: N preferences for N latents, the whole front in one pass.

Its rows share one noise (Apply ParetoSlider installs nodes/sweep_noise.py for per-sample ω), so
two rows differ only by their ω; `noise` = per row keeps ComfyUI's noise per image."""
from __future__ import annotations

from comfy_api.latest import io

from ..pareto_core import PreferenceError, edge_sweep, simplex_grid
from .errors import user_errors
from .loader import LoadedSlider
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType
from .sweep_noise import noise_per_row

NOISE_MODES = ("same for every row", "per row")


class ParetoSliderSweep(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ParetoSliderSweep",
            display_name="ParetoSlider Preference Sweep",
            category=CATEGORY,
            description="Per-sample preferences: image i of the latent batch uses ω_i, and every "
                        "image starts from the same noise, so the images differ only by ω. Wire count "
                        "to the latent's batch_size.",
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
                io.Combo.Input("noise", options=list(NOISE_MODES), default=NOISE_MODES[0], optional=True,
                               tooltip="same for every row: each image starts from the noise of the "
                                       "first (the seed's image), so only ω changes across the batch; "
                                       "per row: ComfyUI's own different noise per image"),
            ],
            outputs=[ParetoPreferenceType.Output(display_name="preference"),
                     io.Int.Output(display_name="count")],
        )

    @classmethod
    @user_errors
    def execute(cls, slider: LoadedSlider, mode: str, steps: int, from_objective: int,
                to_objective: int, noise: str = NOISE_MODES[0]) -> io.NodeOutput:
        k = slider.num_objectives
        if mode == "edge":
            omega = edge_sweep(k, steps, from_objective, to_objective)
        elif mode == "grid":
            omega = simplex_grid(k, steps - 1)
        else:
            raise PreferenceError(f"unknown sweep mode {mode!r}; use 'edge' or 'grid'")
        if noise not in NOISE_MODES:
            raise PreferenceError(f"unknown sweep noise {noise!r}; use {NOISE_MODES[0]!r} or {NOISE_MODES[1]!r}")
        if noise == "per row":
            omega = noise_per_row(omega)
        return io.NodeOutput(omega, omega.shape[0])
