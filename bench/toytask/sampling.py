"""Evaluation machinery of the toy benchmark: fixed-noise Euler sampling of policies built
from ParetoSlider files, rewarded soups and Diffusion Blend.

A *policy* here is the base transformer plus a weighted sum of trained pieces:
    W = W_base + sum_i c_i * dW_i           (LoRA deltas, dW = alpha/rank * B @ A)
    temb += sum_i c_i * m_i(omega_i)        (preference modules, omega_i per row or fixed)
- a ParetoSlider file at ω:   one piece, c = 1, omega = ω;
- a fixed-weight run:         one piece, c = 1, omega = the ω it was trained at;
- rewarded soups at ω:        two pieces (the end runs), c = ω (weights interpolated, merged);
- Diffusion Blend at ω:       two policies, velocities blended per step: v = ω0 v_A + ω1 v_B.
ω is fed through the product's own hook (trainer.inject.preference_hooks).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pareto_core import PreferenceModules, load_paretoslider
from trainer.backbones.base import Conditioning
from trainer.inject import preference_hooks


@dataclass
class Piece:
    """What one trained file contributes: LoRA deltas by module name, its preference modules,
    and the ω it was trained at if it is a fixed-weight run (None = ω-conditioned)."""
    deltas: dict[str, torch.Tensor]
    modules: PreferenceModules | None
    fixed_omega: torch.Tensor | None = None
    path: str = ""


def lora_deltas(lora: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`transformer.<module>.lora_A/B.weight` (+ `.alpha`) → {<module>: alpha/rank * B @ A}."""
    out = {}
    for key, a in lora.items():
        if not key.endswith(".lora_A.weight"):
            continue
        mod = key[len("transformer."):-len(".lora_A.weight")]
        b = lora[f"transformer.{mod}.lora_B.weight"].float()
        rank = a.shape[0]
        alpha = lora.get(f"transformer.{mod}.alpha")
        scale = float(alpha) / rank if alpha is not None else 1.0
        out[mod] = scale * (b @ a.float())
    return out


def load_piece(path: str | Path, fixed_omega: Sequence[float] | None = None) -> Piece:
    f = load_paretoslider(path)
    if fixed_omega is None:
        fixed = f.metadata.training.get("fixed_omega") or f.metadata.training.get("fixed")
        fixed_omega = fixed if fixed else None
    return Piece(lora_deltas(f.lora), f.preference_modules(),
                 None if fixed_omega is None else torch.tensor(fixed_omega, dtype=torch.float32), str(path))


class _SumModules(nn.Module):
    """Looks like PreferenceModules to preference_hooks; returns sum_i c_i m_i(ω_i)."""

    def __init__(self, parts: list[tuple[float, Piece]]):
        super().__init__()
        self.parts = [(c, p) for c, p in parts if p.modules is not None]
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)   # dtype probe for the hook
        bm = [p.modules.block_modulation for _, p in self.parts]
        self.block_modulation = bm[0] if any(m is not None for m in bm) else None

    def _omega(self, piece: Piece, omega: torch.Tensor) -> torch.Tensor:
        if piece.fixed_omega is None:
            return omega
        return piece.fixed_omega.to(omega).expand(omega.shape[0], -1)

    def temb_delta(self, omega):
        return sum(c * p.modules.temb_delta(self._omega(p, omega)) for c, p in self.parts)

    def block_vector(self, omega):
        vecs = [c * p.modules.block_vector(self._omega(p, omega)) for c, p in self.parts
                if p.modules.block_modulation is not None]
        return sum(vecs) if vecs else None


class PolicyBank:
    """Holds the base weights of one backbone and switches it between policies (in place)."""

    def __init__(self, backbone):
        self.backbone = backbone
        self.root = backbone.transformer
        self.base = {k: v.detach().clone() for k, v in self.root.state_dict().items()}
        self.current = None

    def set_weights(self, parts: list[tuple[float, Piece]]) -> None:
        key = tuple((round(c, 8), id(p)) for c, p in parts)
        if key == self.current:
            return
        with torch.no_grad():
            state = self.root.state_dict()
            for k, v in self.base.items():
                state[k].copy_(v)
            for c, p in parts:
                for mod, d in p.deltas.items():
                    w = state[f"{mod}.weight"]
                    w.add_(c * d.to(w))
        self.current = key

    def velocity_fn(self, parts: list[tuple[float, Piece]]):
        """v(x, sigma, cond, omega_rows) of W_base + sum c dW with the summed preference vector."""
        mods = _SumModules(parts) if parts else None

        def v(x, sigma, cond, omega):
            self.set_weights(parts)
            with preference_hooks(self.root, self.backbone, mods, omega if mods is not None else None):
                return self.backbone.velocity(x, sigma, cond)
        return v


@torch.no_grad()
def euler_sample(velocity_fns: list[tuple[float, object]], noise: torch.Tensor, cond: Conditioning,
                 omega: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x_{s'} = x_s + (s' - s) * v, with v = sum_j w_j v_j (a blend when there are several)."""
    x = noise.clone()
    for s, s_next in itertools.pairwise(sigmas):
        sig = torch.full((x.shape[0],), float(s))
        v = sum(w * fn(x, sig, cond, omega) for w, fn in velocity_fns if w != 0)
        x = x + (float(s_next) - float(s)) * v
    return x


@dataclass
class EvalSet:
    """Fixed prompts and fixed sampling noise shared by every method."""
    prompts: list[str]
    labels: torch.Tensor
    noise: torch.Tensor
    cond: Conditioning = field(repr=False, default=None)


def make_eval_set(backbone, per_prompt: int = 8, seed: int = 1234) -> EvalSet:
    from trainer.backbones.toy import PROMPTS
    prompts = [p for p in PROMPTS for _ in range(per_prompt)]
    labels = torch.arange(len(PROMPTS)).repeat_interleave(per_prompt)
    g = torch.Generator().manual_seed(seed)
    noise = backbone.noise(len(prompts), generator=g)
    return EvalSet(prompts, labels, noise, backbone.encode(prompts))
