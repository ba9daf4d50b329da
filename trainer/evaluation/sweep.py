"""The ω sweep: generate every held-out (sample, seed) at every ω with ONE noise tensor, and score it.

    result = sweep(backbone, modules, ["a red cat"], omega_grid(2), [build_reward("brightness")])

The noise of a (sample, seed) row is drawn once and reused for every ω (and for the base model),
so the differences along a row are the effect of ω alone. Sampling is the deterministic Euler ODE
over `backbone.sigmas` (`trainer.sampling.euler_sample`) with ω fed by `preference_hooks`.
Numbers from a `SweepResult` are `trainer.evaluation.summary`'s job, pictures `trainer.evaluation.plots`'.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch

from pareto_core import edge_sweep, simplex_grid

from ..adapters.inject import preference_hooks
from ..backbones.base import Backbone, Sample
from ..errors import UserError
from ..rewards import Reward
from ..sampling import VelocityFn, euler_sample

__all__ = ["SweepResult", "as_samples", "omega_grid", "omega_label", "sweep", "sweep_per_omega"]


# ----------------------------------------------------------------------------------- ω grids

def omega_grid(num_objectives: int, points: int = 11, start: int = 0, end: int = 1,
               mode: str = "auto", divisions: int | None = None) -> torch.Tensor:
    """The ω to evaluate: `points` along the edge start→end ("edge"; the default for 2 objectives)
    or the simplex grid with `divisions` steps per side ("grid"; default for ≥3, 5 → 21 points)."""
    if mode == "auto":
        mode = "edge" if num_objectives == 2 else "grid"
    if mode == "edge":
        return edge_sweep(num_objectives, points, start, end)
    if mode == "grid":
        return simplex_grid(num_objectives, divisions or (5 if num_objectives == 3 else 3))
    raise UserError(f"sweep mode must be 'auto', 'edge' or 'grid', got {mode!r}")


def omega_label(w: Sequence[float]) -> str:
    """"1/0", "0.5/0.5", "0.33/0.67": the corners as integers, the rest with two decimals at most."""
    return "/".join(f"{float(v):.2f}".rstrip("0").rstrip(".") if v not in (0, 1) else str(int(v))
                    for v in w)


# ----------------------------------------------------------------------------------- the sweep

@dataclass
class SweepResult:
    omega: torch.Tensor                              # (N, K)
    scores: dict[str, torch.Tensor]                  # scorer → (N, S) over S = prompts × seeds
    samples: list[Sample]                            # the S (prompt, source) rows, in order
    images: list[torch.Tensor] = field(default_factory=list)   # per S: (N, 3, H, W) on CPU (video: N, F, 3, h, w)
    base_scores: dict[str, torch.Tensor] | None = None          # scorer → (S,)
    base_images: list[torch.Tensor] = field(default_factory=list)  # per S: (3, H, W)


def as_samples(samples: Sequence[Sample | str]) -> list[Sample]:
    """Prompts (str) as text-to-image samples; Samples as they are."""
    return [s if isinstance(s, Sample) else Sample(prompt=s) for s in samples]


def _kept(x: torch.Tensor) -> torch.Tensor:
    """What is kept for the pictures: images as they are, videos shrunk (trainer.evaluation.video_preview)."""
    if x.ndim == 5:
        from .video_preview import shrink_videos
        return shrink_videos(x)
    return x.cpu()


def _velocity_fn(backbone: Backbone, cond) -> VelocityFn:
    """v(x, σ) of whatever is active on the backbone, σ in the latents' dtype."""
    return lambda x, sigma: backbone.velocity(x, sigma.to(x.dtype), cond)


def _generate(backbone: Backbone, sample: Sample, noise: torch.Tensor, omegas: torch.Tensor | None,
              modules, steps: int, batch_size: int) -> torch.Tensor:
    """Images for one (sample, noise) at every ω row (omegas None: the base model, one image)."""
    rows = 1 if omegas is None else omegas.shape[0]
    cond1 = backbone.encode([sample])
    sigmas = backbone.sigmas(steps)
    out = []
    for lo in range(0, rows, batch_size):
        n = min(batch_size, rows - lo)
        cond = cond1.repeat_interleave(n)
        x1 = noise.expand(n, *noise.shape[1:]).clone()
        w = None if omegas is None else omegas[lo:lo + n].to(x1.device)
        with preference_hooks(backbone.transformer, backbone, None if w is None else modules, w):
            lat = euler_sample(_velocity_fn(backbone, cond), x1, sigmas)
        out.append(backbone.decode(lat).float().clamp(0, 1))
    return torch.cat(out)


def _score(backbone: Backbone, scorers: Sequence[Reward], images: torch.Tensor,
           sample: Sample) -> dict[str, torch.Tensor]:
    n = images.shape[0]
    src = None
    if sample.source is not None:     # the backbone resizes sources to its output, as in training
        src = backbone.source_images([sample])
        src = src.to(images.device).float().expand(n, *src.shape[1:])
    return {r.name: r(images, [sample.prompt] * n, src).cpu() for r in scorers}


def _check_inputs(rows: Sequence[Sample], scorers: Sequence[Reward], steps: int) -> list[str]:
    if steps < 1:
        raise UserError(f"sampling needs at least 1 step, got {steps}")
    if not rows:
        raise UserError("evaluation needs at least one held-out prompt")
    names = [r.name for r in scorers]
    if not names:
        raise UserError("evaluation needs at least one scorer")
    if len(set(names)) != len(names):
        raise UserError(f"scorer names must be unique, got {names}; give them 'name' options")
    return names


@torch.no_grad()
def sweep(backbone: Backbone, modules, samples: Sequence[Sample | str], omegas: torch.Tensor,
          scorers: Sequence[Reward], steps: int = 20, seed: int = 0, samples_per_prompt: int = 1,
          batch_size: int = 8, base: bool = False, keep_images: int | bool = True,
          progress: bool = True) -> SweepResult:
    """Sample every (sample, seed) at every ω with the SAME noise and score the images.

    `modules`: the PreferenceModules (the LoRA, if any, must already be active on the
    transformer). `base=True` also samples each (sample, seed) once with ω off (modules=None):
    the caller decides what "base" means by what is active on the transformer at that point —
    `evaluate_file` runs it before merging the LoRA. `keep_images`: keep the images (on CPU, for
    strips) of the first `keep_images` (sample, seed) rows; True = all, False/0 = none."""
    rows = as_samples(samples)
    names = _check_inputs(rows, scorers, steps)
    expanded = [(i, s, k) for i, s in enumerate(rows) for k in range(samples_per_prompt)]
    per: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    base_per: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    result = SweepResult(omega=omegas.float().cpu(), scores={}, samples=[s for _, s, _ in expanded])
    it = expanded
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(expanded, desc="eval sweep", unit="prompt")
    keep = len(expanded) if keep_images is True else int(keep_images)
    for j, (i, sample, k) in enumerate(it):
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + i * 1009 + k)
        noise = backbone.noise(1, generator=g)
        if base:
            img = _generate(backbone, sample, noise, None, None, steps, batch_size)
            for n, v in _score(backbone, scorers, img, sample).items():
                base_per[n].append(v)
            if j < keep:
                result.base_images.append(_kept(img)[0])
        if omegas.shape[0] == 0:        # base model only
            continue
        imgs = _generate(backbone, sample, noise, omegas, modules, steps, batch_size)
        for n, v in _score(backbone, scorers, imgs, sample).items():
            per[n].append(v)
        if j < keep:
            result.images.append(_kept(imgs))
    result.scores = {n: torch.stack(v, 1) if v else torch.zeros(0, len(expanded)) for n, v in per.items()}
    if base:
        result.base_scores = {n: torch.cat(v) for n, v in base_per.items()}
    return result


def sweep_per_omega(backbone: Backbone, modules, samples: Sequence[Sample | str], omegas: torch.Tensor,
                    scorers: Sequence[Reward], weights_at: Callable[[torch.Tensor], AbstractContextManager],
                    progress: bool = True, **kw) -> SweepResult:
    """`sweep` for weights that depend on ω (a per-objective file: W0 + Σ_k ω_k ΔW_k): ω by ω, inside
    `weights_at(ω)` (merged once per ω, then every sample), with the same noise as one `sweep`."""
    it = range(omegas.shape[0])
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="eval sweep", unit="ω")
    parts = []
    for i in it:
        with weights_at(omegas[i]):
            parts.append(sweep(backbone, modules, samples, omegas[i:i + 1], scorers, progress=False, **kw))
    first = parts[0]
    return SweepResult(omega=omegas.float().cpu(),
                       scores={n: torch.cat([p.scores[n] for p in parts]) for n in first.scores},
                       samples=first.samples,
                       images=[torch.cat([p.images[j] for p in parts]) for j in range(len(first.images))])
