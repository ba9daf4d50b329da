"""The one sampler: Euler steps of the rectified-flow ODE, and the Flow-GRPO SDE step.

Everything that samples goes through here — the training rollout (`trainer.algorithms`), the
evaluation sweep (`trainer.sweep`) and the front benchmark (`bench/toytask`). A sampler only
sees a *velocity function* `v(x, sigma) -> velocity`, sigma (B,); what model, LoRA, ω or blend
stands behind it is the caller's business. Blends (Diffusion Blend) are composite velocity
functions (`blend`); MSDDA combines several models' Gaussian reverse steps (`msdda_sample`).

Conventions: x_t = (1 − σ) x0 + σ ε, v = ε − x0, sigmas run from 1 (noise) to 0 (data).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _rows(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) → (B, 1, ..., 1) broadcastable against `like`."""
    return t.reshape((-1,) + (1,) * (like.ndim - 1))


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
    """v = Σ_j w_j v_j (Diffusion Blend); terms with w = 0 are not evaluated."""
    terms = [(float(w), fn) for w, fn in weighted if float(w) != 0.0]
    if not terms:
        raise ValueError("blend needs at least one velocity function with a non-zero weight")

    def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return sum(w * fn(x, sigma) for w, fn in terms)
    return velocity


# ----------------------------------------------------------------------------- Flow-GRPO SDE

def sde_step_std(sigma: torch.Tensor, eta: float, sigma_cap: float) -> torch.Tensor:
    """σ_t = η·sqrt(s / (1 − s)) with s = min(σ, sigma_cap) (σ = 1 would be infinite)."""
    s = torch.clamp(sigma, max=sigma_cap)
    return eta * torch.sqrt(s / (1.0 - s))


def sde_step_mean(x_t: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                  std: torch.Tensor) -> torch.Tensor:
    """Mean of the Flow-GRPO reverse SDE step from σ to σ_next (dt = σ_next − σ < 0):

    x' = x + [v + std²/(2σ) · (x + (1 − σ) v)] · dt
    (the ODE drift plus the score correction that keeps the marginals of the flow)."""
    s, sn, sd = _rows(sigma, x_t), _rows(sigma_next, x_t), _rows(std, x_t)
    return x_t + (v + sd.pow(2) / (2 * s) * (x_t + (1 - s) * v)) * (sn - s)


def sde_step(x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float,
             sigma_cap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the Gaussian reverse step x → x' from σ to σ_next; all (B,) per row.
    The step's noise scale is σ_t · sqrt(σ − σ_next)."""
    std_t = sde_step_std(sigma, eta, sigma_cap)
    return sde_step_mean(x, v, sigma, sigma_next, std_t), std_t * torch.sqrt(sigma - sigma_next)


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

def gaussian_product(weighted: Sequence[tuple[float, torch.Tensor, torch.Tensor]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of  Π_i N(μ_i, s_i²)^{w_i}  normalised, for weights summing to 1: precision
    Σ w_i / s_i², mean = Σ (w_i / s_i²) μ_i / precision. Items are (w_i, μ_i, s_i), s_i (B,) per row.
    This is MSDDA's closed-form step (docs/BENCHMARK.md has the derivation)."""
    terms = [(float(w), m, s) for w, m, s in weighted if float(w) != 0.0]
    if not terms or min(w for w, _, _ in terms) < 0 or abs(sum(w for w, _, _ in terms) - 1.0) > 1e-6:
        raise ValueError(f"MSDDA weights must be non-negative and sum to 1, got {[w for w, *_ in weighted]}")
    precisions = [(w, m, w / _rows(s, m).pow(2)) for w, m, s in terms]
    precision = sum(p for _, _, p in precisions)
    mean = sum(p * m for _, m, p in precisions) / precision
    return mean, precision.rsqrt().reshape(precision.shape[0])


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
        steps_i = [(w, *sde_step(x, v, s, s_next, eta, cap)) for w, v in vs]
        if eta == 0:     # every model deterministic: the product collapses to the weighted mean
            x = sum(w * m for w, m, _ in steps_i)
            continue
        mean, std = gaussian_product(steps_i)
        eps = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        x = mean + _rows(std, x) * eps
    return x
