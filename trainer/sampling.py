"""The deterministic sampler shared by evaluation (and usable by training): Euler steps of the
rectified-flow ODE dx/dσ = v(x, σ) over `backbone.sigmas(steps)` (1 → 0), with ω fed in through
`trainer.inject.preference_hooks` (one ω row per batch row)."""
from __future__ import annotations

from typing import Callable

import torch

from .backbones.base import Backbone, Conditioning


@torch.no_grad()
def euler_sample(backbone: Backbone, cond: Conditioning, noise: torch.Tensor, steps: int,
                 modules=None, omega: torch.Tensor | None = None,
                 callback: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """x_1 = noise → x_0 (latents). `omega` (K,) or (B, K); `modules=None` samples without ω.

    x_{i+1} = x_i + (σ_{i+1} − σ_i) · v(x_i, σ_i): deterministic, so fixed noise + fixed ω give
    the same image (what an ω sweep needs to show the effect of ω alone)."""
    from .inject import preference_hooks
    if steps < 1:
        raise ValueError(f"sampling needs at least 1 step, got {steps}")
    sigmas = backbone.sigmas(steps).to(noise.device, torch.float32)
    x = noise
    with preference_hooks(backbone.transformer, backbone, modules, omega):
        for i in range(len(sigmas) - 1):
            s, s_next = sigmas[i], sigmas[i + 1]
            v = backbone.velocity(x, s.expand(x.shape[0]).to(x.dtype), cond)
            x = x + (s_next - s).to(x.dtype) * v
            if callback is not None:
                callback(i, x)
    return x
