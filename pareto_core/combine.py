"""Combining several models or LoRAs without training (pure torch): rewarded soups, Diffusion
Blend and MSDDA. One implementation shared by the ComfyUI nodes, the trainer's sampler and the
front benchmark (docs/LORA_SLIDERS.md has the derivations).

Conventions: x_t = (1 − σ) x0 + σ ε, v = ε − x0, σ runs from 1 (noise) to 0 (data) for flow
models; ε- and v-prediction models sample in k-diffusion's frame x_σ = x0 + σ ε (σ from σ_max to 0).
- soups:  W = W_base + Σ_i ω_i ΔW_i                      (`sum_deltas`; ComfyUI: weight patches)
- blend:  v = Σ_i ω_i v_i                                 (`weighted_sum`)
- MSDDA:  the reverse step ∝ Π_i N(μ_i, s_i²)^{ω_i}       (`gaussian_product`, `msdda_step` for flow
          models, `msdda_ancestral_step` for the x0 + σ ε frame)
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch


def _rows(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) → (B, 1, ..., 1) broadcastable against `like`."""
    return t.reshape((-1,) + (1,) * (like.ndim - 1))


# ----------------------------------------------------------------------------- soups

def sum_deltas(weighted: Sequence[tuple[float, Mapping[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """Σ_i c_i ΔW_i over the union of modules (rewarded soups)."""
    out: dict[str, torch.Tensor] = {}
    for c, deltas in weighted:
        for name, d in deltas.items():
            out[name] = out[name] + c * d if name in out else c * d
    return out


# ----------------------------------------------------------------------------- blend

def weighted_sum(weights: torch.Tensor | Sequence[float], terms: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ_j w_j · term_j. weights: one per term (floats, or a (m,) tensor), or a (B, m) tensor with
    one row per batch row (per-sample ω). Linear, so blending denoised outputs x0_j = x − σ v_j
    with Σ w = 1 blends the velocities. Scalar weights multiply as Python floats (no rounding)."""
    per_row = torch.is_tensor(weights) and weights.ndim == 2
    ws = list(weights.unbind(-1)) if per_row else [float(w) for w in weights]
    if len(ws) != len(terms):
        raise ValueError(f"{len(ws)} weights for {len(terms)} terms")
    out = None
    for w, term in zip(ws, terms):
        if per_row:
            w = _rows(w.to(term.device, term.dtype), term)
        out = w * term if out is None else out + w * term
    return out


# ----------------------------------------------------------------------------- Flow-GRPO SDE step

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


# ----------------------------------------------------------------------------- MSDDA

def gaussian_product(weighted: Sequence[tuple[float, torch.Tensor, torch.Tensor]]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of  Π_i N(μ_i, s_i²)^{w_i}  normalised, for weights summing to 1: precision
    Σ w_i / s_i², mean = Σ (w_i / s_i²) μ_i / precision. Items are (w_i, μ_i, s_i), s_i (B,) per row.
    This is MSDDA's closed-form step."""
    terms = [(float(w), m, s) for w, m, s in weighted if float(w) != 0.0]
    if not terms or min(w for w, _, _ in terms) < 0 or abs(sum(w for w, _, _ in terms) - 1.0) > 1e-6:
        raise ValueError(f"MSDDA weights must be non-negative and sum to 1, got {[w for w, *_ in weighted]}")
    precisions = [(w, m, w / _rows(s, m).pow(2)) for w, m, s in terms]
    precision = sum(p for _, _, p in precisions)
    mean = sum(p * m for _, m, p in precisions) / precision
    return mean, precision.rsqrt().reshape(precision.shape[0])


def msdda_step(x: torch.Tensor, weighted_velocities: Sequence[tuple[float, torch.Tensor]],
               sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float, sigma_cap: float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of one MSDDA step: the ω-weighted product of the models' Flow-GRPO SDE steps.
    With one η and one σ schedule every model's step has the same std, so this equals
    `sde_step(x, Σ ω_i v_i, ...)`: MSDDA is the SDE sampler on the blended velocity."""
    steps = [(w, *sde_step(x, v, sigma, sigma_next, eta, sigma_cap)) for w, v in weighted_velocities
             if float(w) != 0.0]
    if eta == 0:     # every model deterministic: the product collapses to the weighted mean
        return sum(w * m for w, m, _ in steps), torch.zeros_like(sigma)
    return gaussian_product(steps)


# ----------------------------------------------------------------------------- ancestral step (x0 + σ ε)

def ancestral_sigmas(sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(σ_down, σ_up) per row, k-diffusion's `get_ancestral_step`:
    σ_up = min(σ', η·sqrt(σ'²(σ² − σ'²)/σ²)),  σ_down = sqrt(σ'² − σ_up²).  η = 0: (σ', 0)."""
    if eta == 0:
        return sigma_next, torch.zeros_like(sigma_next)
    up = torch.minimum(sigma_next, eta * torch.sqrt(sigma_next.pow(2) * (sigma.pow(2) - sigma_next.pow(2)).clamp(min=0)
                                                    / sigma.pow(2)))
    return torch.sqrt((sigma_next.pow(2) - up.pow(2)).clamp(min=0)), up


def ancestral_step(x: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the ancestral reverse step x → x' from σ to σ_next in the frame
    x_σ = x0 + σ ε (ComfyUI's ε / v / EDM models), σ and σ_next (B,) per row:

    mean = x0 + (σ_down/σ)(x − x0),  std = σ_up       (`ancestral_sigmas`)

    The mean is computed as k-diffusion's Euler step x + d·(σ_down − σ), d = (x − x0)/σ (the same
    number, so η = 0 is ComfyUI's `euler` bit for bit). η = 1 is the DDPM posterior
    q(x_σ' | x_σ, x0); η = 0 the deterministic DDIM / Euler step; to σ_next = 0 it is x0."""
    down, up = ancestral_sigmas(sigma, sigma_next, eta)
    s = _rows(sigma, x)
    d = (x - x0) / s
    return x + d * (_rows(down, x) - s), up


def msdda_ancestral_step(x: torch.Tensor, weighted_x0s: Sequence[tuple[float, torch.Tensor]],
                         sigma: torch.Tensor, sigma_next: torch.Tensor, eta: float
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of one MSDDA step in the x0 + σ ε frame: the ω-weighted product of the models'
    ancestral steps. Their mean is affine in x0 with coefficients that depend on σ, σ', η only, and
    their std is σ_up for every model, so this equals `ancestral_step(x, Σ ω_i x0_i, ...)`: MSDDA
    is the ancestral sampler on the blended x0. Rows whose step is deterministic (η = 0, or
    σ_next = 0) take the weighted mean (the product of point masses' limit); one model with ω = 1
    is its own step exactly."""
    steps = [(w, *ancestral_step(x, x0, sigma, sigma_next, eta)) for w, x0 in weighted_x0s if float(w) != 0.0]
    std = steps[0][2] if steps else torch.zeros_like(sigma)
    if eta == 0 or not bool(std.any()):      # every model deterministic: the weighted mean
        return sum(float(w) * m for w, m, _ in steps), torch.zeros_like(sigma)
    if len(steps) == 1 and float(steps[0][0]) == 1.0:   # one model: its own step, no rounding
        return steps[0][1], steps[0][2]
    mean, std = gaussian_product(steps)
    if bool((std == 0).any()):               # some rows deterministic (σ_next = 0 there)
        mean = torch.where(_rows(std == 0, x), sum(float(w) * m for w, m, _ in steps), mean)
    return mean, std
