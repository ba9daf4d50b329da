"""Preference vectors (ω on the simplex) and the modules that turn ω into model conditioning.

Pure torch: imported by the ComfyUI runtime and by the trainer alike.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import torch
from torch import nn

from .errors import ParetoSliderError


class PreferenceError(ParetoSliderError):
    """A preference vector that cannot be used (wrong length, NaN, negative, all zero)."""


def validate_preference(omega: Sequence[float] | torch.Tensor, num_objectives: int,
                        names: Sequence[str] | None = None) -> torch.Tensor:
    """Check ω and return it as a float32 tensor normalised onto the simplex.

    Accepts a vector (K,) or a batch (B, K). Nonnegative weights that do not sum to 1 are
    rescaled (a user typing "1, 3" means 25% / 75%); anything else is refused with a message.
    """
    w = torch.as_tensor(omega, dtype=torch.float64).detach().cpu()
    if w.ndim not in (1, 2) or w.shape[-1] != num_objectives:
        what = f"{num_objectives} objectives" + (f" ({', '.join(names)})" if names else "")
        raise PreferenceError(
            f"the preference has {tuple(w.shape)[-1] if w.ndim else 1} value(s) but this slider "
            f"has {what}; give one weight per objective")
    if not torch.isfinite(w).all():
        raise PreferenceError("the preference contains NaN or infinity; give finite weights >= 0")
    if (w < 0).any():
        raise PreferenceError(f"the preference has a negative weight ({w.min().item():g}); "
                              "weights must be >= 0 (they are normalised to sum to 1)")
    total = w.sum(-1, keepdim=True)
    if (total <= 0).any():
        raise PreferenceError("the preference weights are all zero; set at least one weight above 0")
    return (w / total).to(torch.float32)


def parse_preference(value: str | Sequence[float] | dict) -> list[float]:
    """Read ω as saved by the Preference widget: "0.3, 0.7", "[0.3, 0.7]" or {"omega": [...]}."""
    if isinstance(value, dict):
        value = value.get("omega", value.get("value"))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise PreferenceError("the preference is empty; give one weight per objective, e.g. 0.5, 0.5")
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = [p for p in text.replace(";", ",").split(",") if p.strip()]
        if isinstance(parsed, dict):
            return parse_preference(parsed)
        value = parsed if isinstance(parsed, list) else [parsed]
    if not isinstance(value, (list, tuple)):
        raise PreferenceError(f"cannot read a preference from {value!r}; write weights like 0.3, 0.7")
    try:
        return [float(v) for v in value]
    except (TypeError, ValueError) as err:
        raise PreferenceError(f"cannot read a preference from {value!r}: {err}") from None


def edge_sweep(num_objectives: int, steps: int, start: int = 0, end: int = 1) -> torch.Tensor:
    """`steps` preferences from vertex `start` to vertex `end` of the simplex (inclusive)."""
    if steps < 2:
        raise PreferenceError("a sweep needs at least 2 steps")
    if not (0 <= start < num_objectives and 0 <= end < num_objectives and start != end):
        raise PreferenceError(f"a sweep goes between two different objectives in 0..{num_objectives - 1}")
    t = torch.linspace(0, 1, steps)
    w = torch.zeros(steps, num_objectives)
    w[:, start] = 1 - t
    w[:, end] = t
    return w


def simplex_grid(num_objectives: int, divisions: int) -> torch.Tensor:
    """All ω with coordinates in {0, 1/d, ..., 1} summing to 1 (d = divisions)."""
    def rec(k: int, left: int) -> Iterable[list[int]]:
        if k == 1:
            yield [left]
            return
        for i in range(left, -1, -1):
            for rest in rec(k - 1, left - i):
                yield [i] + rest
    return torch.tensor(list(rec(num_objectives, divisions)), dtype=torch.float32) / divisions


@dataclass
class EmbeddingConfig:
    """How ω enters the model. Stored in the file's metadata; both halves build from it."""
    num_objectives: int
    width: int                      # the model's timestep-embedding width (temb / c / vec)
    hidden: int = 256               # hidden width of the ω → temb MLP
    block_modulation: bool = False  # also add a shared vector to every block's image stream
    num_frequencies: int = 8        # sinusoidal features per ω component for block modulation
    injection: str = "temb"         # the only injection point of format version 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EmbeddingConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown embedding config field(s) {sorted(unknown)}")
        return cls(**d)


def sinusoidal_features(omega: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """[ω, sin(2^k π ω), cos(2^k π ω)] per component: lets a small MLP bend sharply in ω."""
    freqs = (2.0 ** torch.arange(num_frequencies, device=omega.device, dtype=omega.dtype)) * math.pi
    angles = omega[..., None] * freqs
    return torch.cat([omega, angles.sin().flatten(-2), angles.cos().flatten(-2)], dim=-1)


class PreferenceEmbedding(nn.Module):
    """ω (B, K) → a vector (B, D) added to the timestep embedding. Zero at initialisation,
    so a fresh module leaves the base model unchanged."""

    def __init__(self, num_objectives: int, width: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(num_objectives, hidden), nn.SiLU(), nn.Linear(hidden, width))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, omega: torch.Tensor) -> torch.Tensor:
        return self.net(omega)


class BlockModulation(nn.Module):
    """ω → one shared vector (B, D) added to the image stream of every joint/double block,
    gated by that block's own AdaLN MLP gate: h ← h + gate_mlp ⊙ m(ω)."""

    def __init__(self, num_objectives: int, width: int, hidden: int = 256, num_frequencies: int = 8):
        super().__init__()
        self.num_frequencies = num_frequencies
        in_dim = num_objectives * (1 + 2 * num_frequencies)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, width))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, omega: torch.Tensor) -> torch.Tensor:
        return self.net(sinusoidal_features(omega, self.num_frequencies))


class PreferenceModules(nn.Module):
    """Everything ω-dependent that a ParetoSlider file carries besides the LoRA."""

    def __init__(self, config: EmbeddingConfig):
        super().__init__()
        self.config = config
        self.embedding = PreferenceEmbedding(config.num_objectives, config.width, config.hidden)
        self.block_modulation = (BlockModulation(config.num_objectives, config.width, config.hidden,
                                                 config.num_frequencies)
                                 if config.block_modulation else None)

    def temb_delta(self, omega: torch.Tensor) -> torch.Tensor:
        return self.embedding(omega)

    def block_vector(self, omega: torch.Tensor) -> torch.Tensor | None:
        return None if self.block_modulation is None else self.block_modulation(omega)


def rows_for_batch(omega: torch.Tensor, batch: int) -> torch.Tensor:
    """Expand ω to one row per batch item.

    ω is (K,) → same for every row; (N, K) with batch a multiple of N → row i uses ω[i % N]
    (ComfyUI concatenates [cond rows, uncond rows], each with N samples, so sample i of either
    chunk gets ω_i).
    """
    if omega.ndim == 1:
        return omega.unsqueeze(0).expand(batch, -1)
    n = omega.shape[0]
    if batch % n != 0:
        raise PreferenceError(f"a batch of {batch} rows cannot take {n} per-sample preferences; "
                              f"use a latent batch size of {n}")
    return omega.repeat(batch // n, 1)
