"""The one sampler: Euler steps of the rectified-flow ODE, and the Flow-GRPO SDE step.

Everything that samples goes through here — the training rollout (`trainer.rl.algorithms`), the
evaluation sweep (`trainer.evaluation.sweep`) and the front benchmark (`bench/toytask`). A sampler only
sees a *velocity function* `v(x, sigma) -> velocity`, sigma (B,); what model, LoRA, ω or blend
stands behind it is the caller's business. Blends (Diffusion Blend) are composite velocity
functions (`blend`); MSDDA combines several models' Gaussian reverse steps (`msdda_sample`).

Conventions: x_t = (1 − σ) x0 + σ ε, v = ε − x0, sigmas run from 1 (noise) to 0 (data).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from pareto_core.combine import (  # noqa: F401  (re-exported: the trainer's and the bench's callers)
    _rows,
    gaussian_product,
    msdda_step,
    sde_step,
    sde_step_mean,
    sde_step_std,
    weighted_sum,
)

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def euler_sample(velocity_fn: VelocityFn, noise: torch.Tensor, sigmas: torch.Tensor,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """x_1 = noise → x_0 by x_{i+1} = x_i + (σ_{i+1} − σ_i) · v(x_i, σ_i).

    Deterministic: fixed noise and a fixed velocity function give the same result, which is what
    an ω sweep needs to show the effect of ω alone. `callback(i, x)` after every step."""
    if len(sigmas) < 2:
        raise ValueError(f"sampling needs at least 1 step (2 sigmas), got {len(sigmas)} sigma(s)")
    sigmas = sigmas.to(noise.device, torch.float32)
    x = noise
    for i in range(len(sigmas) - 1):
        s, s_next = sigmas[i], sigmas[i + 1]
        v = velocity_fn(x, s.expand(x.shape[0]))
        x = x + (s_next - s).to(x.dtype) * v
        if callback is not None:
            callback(i, x)
    return x


def blend(weighted: Sequence[tuple[float, VelocityFn]]) -> VelocityFn:
    """v = Σ_j w_j v_j (Diffusion Blend, pareto_core.combine.weighted_sum as in the ComfyUI
    nodes); terms with w = 0 are not evaluated."""
    terms = [(float(w), fn) for w, fn in weighted if float(w) != 0.0]
    if not terms:
        raise ValueError("blend needs at least one velocity function with a non-zero weight")
    weights = [w for w, _ in terms]

    def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return weighted_sum(weights, [fn(x, sigma) for _, fn in terms])
    return velocity


# ----------------------------------------------------------------------------- Flow-GRPO SDE
# The step's math (sde_step_std / sde_step_mean / sde_step) is pareto_core.combine's, shared with
# the ComfyUI MSDDA sampler; re-exported here for the trainer's callers.

def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, std² I), averaged over elements → (B,). std is (B,)."""
    sd = _rows(std, x).to(torch.float64)
    lp = (-((x.double() - mean.double()) ** 2) / (2 * sd ** 2) - torch.log(sd) - 0.5 * math.log(2 * math.pi))
    return lp.reshape(lp.shape[0], -1).mean(1).to(x.dtype if x.is_floating_point() else torch.float32)


@torch.no_grad()
def sde_sample(velocity_fn: VelocityFn, noise: torch.Tensor, sigmas: torch.Tensor, eta: float,
               generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Flow-GRPO rollout: SDE steps (the last step to σ = 0 deterministic). Returns
    (x0, trajectory [x_1, ..., x_0], per-step log-probs (B, steps − 1)). The noise is drawn on
    the CPU from `generator` so a run is reproducible on any device."""
    sigmas = sigmas.to(noise.device, torch.float32)
    cap = float(sigmas[1])
    n, steps = noise.shape[0], len(sigmas) - 1
    x = noise
    traj, logps = [x.clone()], []
    for i in range(steps):
        v = velocity_fn(x, sigmas[i].expand(n))
        if i == steps - 1:
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        else:
            mean, std = sde_step(x, v, sigmas[i].expand(n), sigmas[i + 1].expand(n), eta, cap)
            eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
            x = mean + _rows(std, x) * eps
            logps.append(gaussian_log_prob(x, mean, std))
        traj.append(x.clone())
    return x, traj, torch.stack(logps, 1)


# ----------------------------------------------------------------------------- MSDDA
# gaussian_product / msdda_step: pareto_core.combine (the closed-form step, derivation in
# docs/LORA_SLIDERS.md), the one implementation the ComfyUI nodes use too.

@torch.no_grad()
def msdda_sample(weighted: Sequence[tuple[float, VelocityFn]], noise: torch.Tensor, sigmas: torch.Tensor,
                 eta: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """MSDDA (arXiv 2604.14379) on the flow sampler: every step is the ω-weighted product of the
    single-objective models' Flow-GRPO SDE steps (`gaussian_product`); the last step (to σ = 0)
    is the deterministic limit, the ω-weighted mean. The step noise comes from `generator` (on the
    CPU), so fixed seeds give the same images for every method, seed and ω."""
    terms = [(float(w), fn) for w, fn in weighted if float(w) != 0.0]
    sigmas = sigmas.to(noise.device, torch.float32)
    cap = float(sigmas[1])
    n, steps = noise.shape[0], len(sigmas) - 1
    x = noise
    for i in range(steps):
        s, s_next = sigmas[i].expand(n), sigmas[i + 1].expand(n)
        vs = [(w, fn(x, s)) for w, fn in terms]
        if i == steps - 1:
            x = x + (sigmas[i + 1] - sigmas[i]) * sum(w * v for w, v in vs)
            continue
        mean, std = msdda_step(x, vs, s, s_next, eta, cap)
        if eta == 0:     # every model deterministic: the product collapses to the weighted mean
            x = mean
            continue
        eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        x = mean + _rows(std, x) * eps
    return x
