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


BLOCK_FORMS = ("residual", "affine", "scale_only", "shift_only")
BLOCK_PROJECTORS = ("sinusoidal", "fourier")

# Fields of format version 2 with the values that mean "as in version 1". A config that keeps them
# all at these values is written without them, as a version-1 file older extensions still read.
V2_DEFAULTS = {"block_projector": "sinusoidal", "block_form": "residual", "block_fraction": 1.0,
               "pooled_width": 0, "extender_width": 768, "projector_layers": 4}


@dataclass
class EmbeddingConfig:
    """How ω enters the model. Stored in the file's metadata; both halves build from it.

    Version 1: the ω → temb MLP and, optionally, a shared block vector from sinusoidal features.
    Version 2 adds the reference code's forms (docs/FORMAT.md): the "fourier" projector
    (sin/cos(π·2^k·ω) → a wide extender → an MLP of `projector_layers`, optionally fed the
    pooled text embedding too), the affine / scale-only / shift-only block forms and a block
    fraction (only the first blocks are modulated)."""
    num_objectives: int
    width: int                      # the model's timestep-embedding width (temb / c / vec)
    hidden: int = 256               # hidden width of the ω → temb MLP
    block_modulation: bool = False  # also modulate the image stream of the joint/double blocks
    num_frequencies: int = 8        # sinusoidal / Fourier features per ω component
    injection: str = "temb"         # the only injection point of format versions 1 to 3
    # format version 2 (defaults = version 1's behaviour)
    block_projector: str = "sinusoidal"   # "sinusoidal" (v1) | "fourier" (the reference's SliderProjector)
    block_form: str = "residual"    # residual: h += gate_mlp ⊙ m; affine: (scale_mlp, shift_mlp) += m (2·D wide);
                                    # scale_only / shift_only: one of them += m
    block_fraction: float = 1.0     # the first max(1, int(n·fraction)) of the n blocks are modulated
    pooled_width: int = 0           # > 0: the block vector also reads the pooled text embedding (SD3's y)
    extender_width: int = 768       # fourier: width the features are projected to first
    projector_layers: int = 4       # fourier: Linear layers after the extender (ReLU between)

    def __post_init__(self):
        self.block_fraction = float(self.block_fraction)
        if self.block_form not in BLOCK_FORMS:
            raise ValueError(f"block_form {self.block_form!r} is not one of {list(BLOCK_FORMS)}")
        if self.block_projector not in BLOCK_PROJECTORS:
            raise ValueError(f"block_projector {self.block_projector!r} is not one of {list(BLOCK_PROJECTORS)}")
        if not 0.0 < self.block_fraction <= 1.0:
            raise ValueError(f"block_fraction must be in (0, 1], got {self.block_fraction}")
        if self.pooled_width < 0 or self.extender_width < 1 or self.projector_layers < 1:
            raise ValueError("pooled_width must be >= 0, extender_width and projector_layers >= 1")
        if self.pooled_width and self.block_projector != "fourier":
            raise ValueError("pooled_width needs block_projector 'fourier'")

    @property
    def block_width(self) -> int:
        """Width of the block vector m(ω): affine carries (scale, shift), twice the model width."""
        return 2 * self.width if self.block_form == "affine" else self.width

    @property
    def format_version(self) -> int:
        """The oldest file format version that can hold this config."""
        uses_v2 = self.block_modulation and any(getattr(self, k) != v for k, v in V2_DEFAULTS.items())
        return 2 if uses_v2 else 1

    def active_blocks(self, num_blocks: int) -> int:
        """How many leading blocks get the block vector (the same integer rule in both halves)."""
        return max(1, min(int(num_blocks * self.block_fraction), num_blocks))

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.format_version == 1:     # exactly the version-1 fields
            for k in V2_DEFAULTS:
                d.pop(k)
        return d

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


def fourier_features(omega: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """The reference's layout: per component [sin(π·2^k·ω) for k < F, cos(π·2^k·ω) for k < F],
    components one after the other (no raw ω). (B, K) → (B, K·2F)."""
    freqs = 2.0 ** torch.arange(num_frequencies, device=omega.device, dtype=omega.dtype)
    angles = omega.unsqueeze(-1) * freqs * math.pi          # the reference's order of products
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(1)


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

    def forward(self, omega: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(sinusoidal_features(omega, self.num_frequencies))


class FourierBlockProjector(nn.Module):
    """The reference's block vector: Fourier features of ω → Linear(→ extender_width), joined with
    the pooled text embedding when `pooled_width` > 0, → `layers` Linear layers of the output
    width with ReLU between. Last layer zero at initialisation (a fresh module changes nothing)."""

    def __init__(self, num_objectives: int, out_width: int, num_frequencies: int, extender_width: int = 768,
                 layers: int = 4, pooled_width: int = 0):
        super().__init__()
        self.num_frequencies = num_frequencies
        self.pooled_width = pooled_width
        self.extender = nn.Linear(num_objectives * 2 * num_frequencies, extender_width)
        stack: list[nn.Module] = []
        width_in = extender_width + pooled_width
        for _ in range(layers - 1):
            stack += [nn.Linear(width_in, out_width), nn.ReLU()]
            width_in = out_width
        stack.append(nn.Linear(width_in, out_width))
        self.net = nn.Sequential(*stack)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, omega: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor:
        h = self.extender(fourier_features(omega, self.num_frequencies))
        if self.pooled_width:
            if pooled is None:
                raise PreferenceError("this ParetoSlider file's block vector reads the prompt's pooled text "
                                      "embedding, and the model was called without one; use the text "
                                      "encoder's conditioning (SD3's pooled output) with this file")
            if pooled.shape != (omega.shape[0], self.pooled_width):
                raise PreferenceError(f"the pooled text embedding has shape {tuple(pooled.shape)}; this "
                                      f"ParetoSlider file expects ({omega.shape[0]}, {self.pooled_width})")
            h = torch.cat([h, pooled.to(h.dtype)], dim=-1)
        return self.net(h)


class PreferenceModules(nn.Module):
    """Everything ω-dependent that a ParetoSlider file carries besides the LoRA."""

    def __init__(self, config: EmbeddingConfig):
        super().__init__()
        self.config = config
        self.embedding = PreferenceEmbedding(config.num_objectives, config.width, config.hidden)
        self.block_modulation: nn.Module | None = None
        if config.block_modulation and config.block_projector == "fourier":
            self.block_modulation = FourierBlockProjector(
                config.num_objectives, config.block_width, config.num_frequencies, config.extender_width,
                config.projector_layers, config.pooled_width)
        elif config.block_modulation:
            self.block_modulation = BlockModulation(config.num_objectives, config.block_width, config.hidden,
                                                    config.num_frequencies)

    @property
    def needs_pooled(self) -> bool:
        return self.block_modulation is not None and self.config.pooled_width > 0

    def temb_delta(self, omega: torch.Tensor) -> torch.Tensor:
        return self.embedding(omega)

    def block_vector(self, omega: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor | None:
        """m(ω) (B, config.block_width), or None without block modulation. `pooled` (B, pooled_width)
        is read only when the config has a pooled width."""
        return None if self.block_modulation is None else self.block_modulation(omega, pooled)


def modulate_block(form: str, width: int, m: torch.Tensor, shift_mlp: torch.Tensor,
                   scale_mlp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The pre-FF forms on a block's image-stream AdaLN MLP shift and scale (B, D): affine adds
    m = [scale | shift]; scale_only / shift_only add m to one of them. Residual changes neither."""
    m = m.to(scale_mlp.dtype)
    if form == "affine":
        return shift_mlp + m[:, width:], scale_mlp + m[:, :width]
    if form == "scale_only":
        return shift_mlp, scale_mlp + m
    if form == "shift_only":
        return shift_mlp + m, scale_mlp
    return shift_mlp, scale_mlp


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
