"""ω schedules: the preference as a function of the denoising progress or of σ (pure torch).

A schedule is a list of keypoints (position, ω) on one axis:
- "percent": sampling progress, 0 = the first step, 1 = the last step (the step's index in the
  sampler's σ list, fractional for a sampler's intermediate σ);
- "sigma": the model's σ at the call (1 = noise, 0 = data for flow models).
Between keypoints ω follows `curve` (linear for the keypoint form); outside them it is constant.
A start/end schedule is two percent keypoints (0, start) and (1, end). ω entries are (K,) or
per-sample (N, K); rows broadcast, so a sweep's N starts can share one end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .preference import PreferenceError, parse_preference

AXES = ("percent", "sigma")
CURVES: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "smoothstep": lambda t: t * t * (3 - 2 * t),
    "ease_in": lambda t: t * t,
    "ease_out": lambda t: 1 - (1 - t) * (1 - t),
    "step": lambda t: 0.0 if t < 0.5 else 1.0,     # start ω for the first half, end ω after
}


@dataclass(frozen=True)
class OmegaSchedule:
    positions: tuple[float, ...]          # increasing
    omegas: tuple[torch.Tensor, ...]      # one per position, (K,) or (N, K), on the simplex
    axis: str = "percent"
    curve: str = "linear"

    def __post_init__(self):
        if self.axis not in AXES:
            raise PreferenceError(f"schedule axis {self.axis!r} is unknown; use one of {', '.join(AXES)}")
        if self.curve not in CURVES:
            raise PreferenceError(f"schedule curve {self.curve!r} is unknown; use one of {', '.join(CURVES)}")
        if not self.positions or len(self.positions) != len(self.omegas):
            raise PreferenceError("a schedule needs at least one keypoint (position: weights)")
        if any(b <= a for a, b in zip(self.positions, self.positions[1:])):
            raise PreferenceError(f"schedule positions must be distinct and increasing, got {list(self.positions)}")
        k = {int(w.shape[-1]) for w in self.omegas}
        if len(k) != 1:
            raise PreferenceError(f"schedule keypoints have different numbers of weights: {sorted(k)}")

    @property
    def num_objectives(self) -> int:
        return int(self.omegas[0].shape[-1])

    @property
    def is_constant(self) -> bool:
        first = self.omegas[0]
        return all(w.shape == first.shape and torch.equal(w, first) for w in self.omegas[1:])

    def validated(self, check: Callable[[torch.Tensor], torch.Tensor]) -> "OmegaSchedule":
        """The same schedule with every ω passed through `check` (e.g. a slider's check_preference)."""
        return OmegaSchedule(self.positions, tuple(check(w) for w in self.omegas), self.axis, self.curve)

    def at(self, position: float) -> torch.Tensor:
        """ω at `position` on the schedule's axis. At a keypoint, and wherever the curve gives 0 or 1,
        it is that keypoint's ω exactly (a constant schedule is bit-identical to its ω)."""
        pos, ws = self.positions, self.omegas
        if position <= pos[0]:
            return ws[0]
        if position >= pos[-1]:
            return ws[-1]
        i = max(j for j in range(len(pos)) if pos[j] <= position)
        a, b = ws[i], ws[i + 1]
        c = CURVES[self.curve]((position - pos[i]) / (pos[i + 1] - pos[i]))
        if c <= 0.0 or (a.shape == b.shape and torch.equal(a, b)):
            return a
        if c >= 1.0:
            return b
        w = (1 - c) * a + c * b
        return w / w.sum(-1, keepdim=True)

    def omega_for_call(self, sigma: float, sample_sigmas: torch.Tensor | None) -> torch.Tensor:
        """ω for a model call at σ = `sigma` in a run over `sample_sigmas` (None: progress is
        estimated as 1 − σ, the flow-model convention, for calls outside a sampler)."""
        if self.axis == "sigma":
            return self.at(sigma)
        return self.at(progress(sigma, sample_sigmas))


def progress(sigma: float, sample_sigmas: torch.Tensor | Sequence[float] | None) -> float:
    """0 at the first step's σ, 1 at the last step's σ; fractional between steps' σ (a
    second-order sampler's intermediate call)."""
    if sample_sigmas is None:
        return min(max(1.0 - float(sigma), 0.0), 1.0)
    s = [float(v) for v in torch.as_tensor(sample_sigmas).flatten().tolist()]
    steps = s[:-1] if len(s) > 1 else s         # the last σ (usually 0) is where sampling ends
    if len(steps) < 2:
        return 0.0
    for i in range(len(steps) - 1):
        hi, lo = steps[i], steps[i + 1]
        if hi >= sigma >= lo or hi <= sigma <= lo:
            frac = 0.0 if hi == lo else (hi - sigma) / (hi - lo)
            return (i + frac) / (len(steps) - 1)
    return 0.0 if abs(sigma - steps[0]) <= abs(sigma - steps[-1]) else 1.0


def start_end_schedule(start: torch.Tensor, end: torch.Tensor, curve: str = "linear") -> OmegaSchedule:
    return OmegaSchedule((0.0, 1.0), (start, end), "percent", curve)


def parse_keypoints(text: str, axis: str = "percent") -> OmegaSchedule:
    """`<position>: <w1>, <w2>, ...` one per line (blank lines and # comments skipped)."""
    points = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            raise PreferenceError(f"keypoint line {n} ({raw.strip()!r}) has no ':'; write e.g. 0.5: 0.3, 0.7")
        where, weights = line.split(":", 1)
        try:
            position = float(where)
        except ValueError:
            raise PreferenceError(f"keypoint line {n}: {where.strip()!r} is not a number") from None
        if axis == "percent" and not 0.0 <= position <= 1.0:
            raise PreferenceError(f"keypoint line {n}: percent position {position:g} is outside 0..1 "
                                  "(0 = first step, 1 = last step)")
        if axis == "sigma" and position < 0:
            raise PreferenceError(f"keypoint line {n}: σ position {position:g} is negative")
        points.append((position, torch.tensor(parse_preference(weights), dtype=torch.float32)))
    if not points:
        raise PreferenceError("the keypoints are empty; write one per line, e.g. 0: 1, 0")
    points.sort(key=lambda p: p[0])
    return OmegaSchedule(tuple(p for p, _ in points), tuple(w for _, w in points), axis, "linear")


def omega_now(preference, sigma: torch.Tensor, sample_sigmas=None) -> torch.Tensor:
    """The ω of one model call: a plain ω as it is, a schedule at the call's σ (the largest
    timestep of the call: with per-token timesteps the clean tokens carry σ = 0)."""
    if isinstance(preference, OmegaSchedule):
        return preference.omega_for_call(float(sigma.max()), sample_sigmas)
    return preference
