"""Evaluation of a ParetoSlider file: sweep ω, score with held-out scorers, measure the front.

    python -m trainer eval runs/x/paretoslider.safetensors --config my.yaml \
        --prompts heldout.txt --scorer '{"id": "clip_score", "path": "/models/clip"}' \
        --scorer jpeg_compressibility

For each held-out prompt (or edit pair) and seed, ONE noise tensor is drawn and reused for every
ω (and for the base model), so differences along a strip are the effect of ω alone. Sampling is
the deterministic Euler ODE over `backbone.sigmas` (trainer.sampling). Writes into --out:
- eval.json: per ω the mean/std of every scorer, the base model's scores, the hypervolume of the
  per-ω means (with the reference point used), non-dominated ω, Spearman(score, ω_k);
- front.png: the measured front (points coloured by ω, annotated with ω, base model marked);
- strips/NN.png: per prompt, the images across ω with ω labels;
and stores the front in the file's metadata (`front`), rewriting the file atomically.

Programmatic: `evaluate_file(path, backbone, samples, scorers, out_dir)` or the lower-level
`sweep(...)` + `summarize(...)` (also usable during training with live modules).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from pareto_core import (ParetoSliderFileError, ParetoSliderMismatchError, edge_sweep, load_paretoslider,
                         save_paretoslider, simplex_grid)

from .backbones.base import Backbone, Sample
from .pareto import hypervolume, non_dominated, spearman
from .rewards import Reward, build_reward
from .sampling import euler_sample

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
    raise ValueError(f"sweep mode must be 'auto', 'edge' or 'grid', got {mode!r}")


def omega_label(w: Sequence[float]) -> str:
    return "/".join(f"{float(v):.2f}".rstrip("0").rstrip(".") if v not in (0, 1) else str(int(v))
                    for v in w)


# ----------------------------------------------------------------------------------- the LoRA

def _get(root: nn.Module, dotted: str) -> nn.Module:
    mod = root
    for part in dotted.split("."):
        mod = mod[int(part)] if part.isdigit() else getattr(mod, part)
    return mod


@contextmanager
def merged_lora(transformer: nn.Module, lora: dict[str, torch.Tensor], strength: float = 1.0) -> Iterator[None]:
    """Add the file's LoRA (`transformer.<module>.lora_A/B.weight`, `.alpha`) into the weights of
    `transformer` for the duration of the block: W += strength · alpha/rank · B @ A. The original
    weights are restored on exit. Works for any diffusers transformer, with or without peft."""
    from .inject import _unwrap
    root = _unwrap(transformer)
    names = sorted({k[len("transformer."):].rsplit(".lora_", 1)[0] for k in lora if ".lora_" in k})
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    # a transformer that already carries a (training) peft LoRA: switch it off, or both would add up
    live = [m for m in root.modules() if hasattr(m, "enable_adapters") and hasattr(m, "base_layer")
            and not getattr(m, "disable_adapters", True)]
    grads = [(p, p.requires_grad) for m in live for p in m.parameters()]
    try:
        for m in live:
            m.enable_adapters(False)
        for name in names:
            a = lora.get(f"transformer.{name}.lora_A.weight")
            b = lora.get(f"transformer.{name}.lora_B.weight")
            if a is None or b is None:
                raise ParetoSliderFileError(f"LoRA for {name!r} lacks lora_A or lora_B")
            alpha = lora.get(f"transformer.{name}.alpha")
            scale = float(alpha) / a.shape[0] if alpha is not None else 1.0
            try:
                mod = _get(root, name)
            except (AttributeError, IndexError, TypeError):
                raise ParetoSliderMismatchError(
                    f"the ParetoSlider LoRA targets {name!r}, which {type(root).__name__} does not have; "
                    "this file was trained for another model") from None
            mod = getattr(mod, "base_layer", mod)     # a peft-wrapped layer: merge into its base
            weight = getattr(mod, "weight", None)
            delta = (b.double() @ a.double()) * (scale * strength)
            if weight is None or tuple(weight.shape) != tuple(delta.shape):
                raise ParetoSliderMismatchError(
                    f"the ParetoSlider LoRA for {name!r} has shape {tuple(delta.shape)} but the model's "
                    f"weight is {tuple(weight.shape) if weight is not None else 'missing'}")
            saved.append((weight, weight.detach().clone()))
            with torch.no_grad():
                weight.add_(delta.to(weight.device, weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for weight, orig in saved:
                weight.copy_(orig)
        for m in live:
            m.enable_adapters(True)
        for p, flag in grads:          # peft's enable_adapters(True) also flips requires_grad
            p.requires_grad_(flag)


# ----------------------------------------------------------------------------------- the sweep

@dataclass
class SweepResult:
    omega: torch.Tensor                              # (N, K)
    scores: dict[str, torch.Tensor]                  # scorer → (N, S) over S = prompts × seeds
    samples: list[Sample]                            # the S (prompt, source) rows, in order
    images: list[torch.Tensor] = field(default_factory=list)   # per S: (N, 3, H, W) on CPU
    base_scores: dict[str, torch.Tensor] | None = None          # scorer → (S,)
    base_images: list[torch.Tensor] = field(default_factory=list)  # per S: (3, H, W)


def _first_frame(x: torch.Tensor) -> torch.Tensor:
    return x[:, x.shape[1] // 2] if x.ndim == 5 else x


def _generate(backbone: Backbone, sample: Sample, noise: torch.Tensor, omegas: torch.Tensor | None,
              modules, steps: int, batch_size: int) -> torch.Tensor:
    """Images for one (sample, noise) at every ω row (omegas None: the base model, one image)."""
    rows = 1 if omegas is None else omegas.shape[0]
    cond1 = backbone.encode([sample])
    out = []
    for lo in range(0, rows, batch_size):
        n = min(batch_size, rows - lo)
        cond = cond1.repeat_interleave(n)
        x1 = noise.expand(n, *noise.shape[1:]).clone()
        w = None if omegas is None else omegas[lo:lo + n].to(x1.device)
        lat = euler_sample(backbone, cond, x1, steps, modules=None if w is None else modules, omega=w)
        out.append(backbone.decode(lat).float().clamp(0, 1))
    return torch.cat(out)


def _score(backbone: Backbone, scorers: Sequence[Reward], images: torch.Tensor,
           sample: Sample) -> dict[str, torch.Tensor]:
    n = images.shape[0]
    src = None
    if sample.source is not None:     # the backbone resizes sources to its output, as in training
        src = backbone.source_images([sample]) if hasattr(backbone, "source_images") else sample.source[None]
        src = src.to(images.device).float().expand(n, *src.shape[1:])
    return {r.name: r(images, [sample.prompt] * n, src).cpu() for r in scorers}


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
    rows = [s if isinstance(s, Sample) else Sample(prompt=s) for s in samples]
    if not rows:
        raise ValueError("evaluation needs at least one held-out prompt")
    names = [r.name for r in scorers]
    if not names:
        raise ValueError("evaluation needs at least one scorer")
    if len(set(names)) != len(names):
        raise ValueError(f"scorer names must be unique, got {names}; give them 'name' options")
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
                result.base_images.append(_first_frame(img)[0].cpu())
        if omegas.shape[0] == 0:        # base model only
            continue
        imgs = _generate(backbone, sample, noise, omegas, modules, steps, batch_size)
        for n, v in _score(backbone, scorers, imgs, sample).items():
            per[n].append(v)
        if j < keep:
            result.images.append(_first_frame(imgs).cpu())
    result.scores = {n: torch.stack(v, 1) if v else torch.zeros(0, len(expanded)) for n, v in per.items()}
    if base:
        result.base_scores = {n: torch.cat(v) for n, v in base_per.items()}
    return result


# ----------------------------------------------------------------------------------- summary

def summarize(result: SweepResult, reference: Sequence[float] | None = None,
              objective_names: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON-ready numbers: per-ω mean/std, hypervolume of the per-ω means, front membership."""
    names = list(result.scores)
    omega = result.omega
    k = omega.shape[1]
    objective_names = list(objective_names or [f"objective_{j}" for j in range(k)])
    mean = {n: result.scores[n].mean(1) for n in names}
    std = {n: result.scores[n].std(1, unbiased=False) for n in names}
    pts = np.stack([mean[n].numpy() for n in names], 1).astype(np.float64)     # (N, M)
    base_mean = ({n: float(result.base_scores[n].mean()) for n in names}
                 if result.base_scores is not None else None)
    if reference is not None:
        ref = np.asarray([float(v) for v in reference], dtype=np.float64)
        if ref.shape[0] != len(names):
            raise ValueError(f"the reference point has {ref.shape[0]} values for {len(names)} scorers "
                             f"({', '.join(names)})")
        ref_source = "given"
    else:
        allp = pts if base_mean is None else np.vstack([pts, [[base_mean[n] for n in names]]])
        ref = allp.min(0)
        ref_source = ("per-scorer minimum over the measured points" + (" and the base model" if base_mean else "")
                      + "; pass --reference to compare runs on a fixed point")
    hv = hypervolume(pts, ref) if len(names) >= 2 else float(pts[:, 0].max() - ref[0])
    front_mask = non_dominated(pts)
    rho = {n: {objective_names[j]: _nan_to_none(spearman(omega[:, j].numpy(), mean[n].numpy()))
               for j in range(k)} for n in names}
    return {
        "omega": [[round(float(v), 6) for v in w] for w in omega],
        "objectives": objective_names,
        "scorers": names,
        "scores": {n: [float(v) for v in mean[n]] for n in names},
        "std": {n: [float(v) for v in std[n]] for n in names},
        "per_omega": [{"omega": [round(float(v), 6) for v in omega[i]],
                       "scores": {n: {"mean": float(mean[n][i]), "std": float(std[n][i])} for n in names},
                       "non_dominated": bool(front_mask[i])} for i in range(omega.shape[0])],
        "base": (None if base_mean is None else
                 {n: {"mean": base_mean[n], "std": float(result.base_scores[n].std(unbiased=False))}
                  for n in names}),
        "hypervolume": float(hv),
        "reference": [float(v) for v in ref],
        "reference_source": ref_source,
        "non_dominated": [int(i) for i in np.flatnonzero(front_mask)],
        "spearman": rho,
        "num_samples": int(next(iter(result.scores.values())).shape[1]),
    }


def _nan_to_none(x: float):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def front_metadata(summary: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compact `front` stored in the file's metadata (what the nodes plot)."""
    front = {k: summary[k] for k in ("omega", "scores", "std", "scorers", "hypervolume", "reference")}
    if summary.get("base"):
        front["base"] = {n: v["mean"] for n, v in summary["base"].items()}
    front.update(extra or {})
    return front


# ----------------------------------------------------------------------------------- pictures

def _omega_colours(omega: np.ndarray, end: int = 1):
    import matplotlib
    if omega.shape[1] == 3:      # ω itself as RGB: the simplex's corners are red, green, blue
        return np.clip(omega, 0, 1), None
    cmap = matplotlib.colormaps["viridis"]
    t = omega[:, min(end, omega.shape[1] - 1)]
    return cmap(t), cmap


def plot_front(summary: dict[str, Any], path: str | Path, title: str = "", end: int = 1) -> Path:
    """The measured front: one panel per pair of scorers (the first three pairs), or score vs ω
    for a single scorer (with ±std over prompts). Points coloured by ω and annotated;
    ★ non-dominated (one pair only); × base model; + the hypervolume reference."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = summary["scorers"]
    omega = np.asarray(summary["omega"], dtype=np.float64)
    mean = {n: np.asarray(summary["scores"][n]) for n in names}
    std = {n: np.asarray(summary["std"][n]) for n in names}
    colours, cmap = _omega_colours(omega, end)
    labels = [omega_label(w) for w in omega]
    front = set(summary.get("non_dominated", []))
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]][:3]
    panels = max(1, len(pairs))
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.6), squeeze=False)
    if not pairs:                       # one scorer: score against ω_end
        ax, n = axes[0, 0], names[0]
        x = omega[:, min(end, omega.shape[1] - 1)]
        ax.errorbar(x, mean[n], yerr=std[n], fmt="-", color="0.6", zorder=1)
        ax.scatter(x, mean[n], c=colours, s=50, zorder=2, edgecolors="k", linewidths=0.5)
        ax.set_xlabel(f"ω[{summary['objectives'][min(end, omega.shape[1] - 1)]}]")
        ax.set_ylabel(n)
    for ax, (a, b) in zip(axes[0], pairs):
        x, y = mean[a], mean[b]
        if omega.shape[1] == 2:
            ax.plot(x, y, "-", color="0.75", zorder=1)           # the sweep order along the edge
        # no error bars: the spread over prompts (std, in eval.json) is not the uncertainty of the
        # ω effect and would hide the front's shape behind the prompt-to-prompt variation
        ax.scatter(x, y, c=colours, s=55, zorder=2, edgecolors="k", linewidths=0.5)
        fi = sorted(front, key=lambda i: x[i])
        if len(pairs) == 1 and fi:
            ax.scatter(x[fi], y[fi], marker="*", s=160, facecolors="none", edgecolors="crimson",
                       zorder=3, label="non-dominated")
        step = 1 if len(labels) <= 6 else 2          # every other label on dense sweeps
        for i, lab in enumerate(labels):
            if i % step and i != len(labels) - 1:
                continue
            ax.annotate(lab, (x[i], y[i]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if summary.get("base"):
            ax.scatter([summary["base"][a]["mean"]], [summary["base"][b]["mean"]], marker="x", s=80,
                       color="k", zorder=4, label="base model")
        if len(pairs) == 1:
            ref = summary["reference"]
            ax.scatter([ref[0]], [ref[1]], marker="+", s=80, color="0.4", label="HV reference")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.locator_params(nbins=5)
        ax.grid(alpha=0.3)
    if cmap is not None:
        sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, 1))
        fig.colorbar(sm, ax=axes[0, -1], label=f"ω[{summary['objectives'][min(end, omega.shape[1] - 1)]}]")
    hv = summary.get("hypervolume")
    fig.suptitle((title + "  " if title else "") + (f"hypervolume {hv:.4g}" if hv is not None else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_fronts(fronts: dict[str, dict[str, Any]], path: str | Path, x: str, y: str, title: str = "",
                reference: Sequence[float] | None = None) -> Path:
    """Overlay several fronts on the (x, y) scorer plane, e.g. the ω-conditioned model against
    fixed-weight runs. Each value is a summary / `front` dict ({"scores": {name: [...]},
    optional "omega", "hypervolume"}); a one-point entry is drawn as a labelled marker."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.2, 5))
    markers = "os^Dv<>pPX*h"
    for i, (label, f) in enumerate(fronts.items()):
        xs, ys = np.asarray(f["scores"][x], dtype=float), np.asarray(f["scores"][y], dtype=float)
        hv = f.get("hypervolume")
        name = label + (f" (HV {hv:.3g})" if isinstance(hv, (int, float)) else "")
        if len(xs) == 1:
            ax.scatter(xs, ys, marker=markers[i % len(markers)], s=70, label=name, zorder=3)
            continue
        line, = ax.plot(xs, ys, "-", marker=markers[i % len(markers)], ms=5, label=name, zorder=2)
        omega = f.get("omega")
        if omega is not None:
            for j in (0, len(xs) - 1):
                ax.annotate(omega_label(omega[j]), (xs[j], ys[j]), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=line.get_color())
    if reference is not None:
        ax.scatter([reference[0]], [reference[1]], marker="+", s=80, color="0.4", label="HV reference")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _to_pil(img: torch.Tensor):
    from PIL import Image
    arr = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr)


def image_strip(images: torch.Tensor, labels: Sequence[str], title: str = "", tile: int = 128,
                base: torch.Tensor | None = None, max_columns: int = 12):
    """A PIL grid: images (N, 3, H, W) left to right, each with its label below, wrapping after
    `max_columns` (12 = base + an 11-point sweep); an optional base-model image first; `title`
    on top. Small images are upscaled (nearest) to about `tile` pixels."""
    from PIL import Image, ImageDraw
    tiles = list(images)
    labs = list(labels)
    if base is not None:
        tiles, labs = [base] + tiles, ["base"] + labs
    h, w = tiles[0].shape[-2:]
    s = max(1, round(tile / max(h, w))) if max(h, w) < tile else 1
    th, tw = h * s, w * s
    cols = min(len(tiles), max_columns)
    nrows = math.ceil(len(tiles) / cols)
    pad, label_h, title_h = 4, 14, 18 if title else 0
    canvas = Image.new("RGB", (cols * (tw + pad) + pad, title_h + nrows * (th + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    font = _font()
    if title:
        draw.text((pad, 3), title[:160], fill="black", font=font)
    resample = Image.NEAREST if s > 1 else Image.BICUBIC
    for i, (t, lab) in enumerate(zip(tiles, labs)):
        r, c = divmod(i, cols)
        x0 = pad + c * (tw + pad)
        y0 = title_h + pad + r * (th + label_h + pad)
        canvas.paste(_to_pil(t).resize((tw, th), resample), (x0, y0))
        draw.text((x0 + 2, y0 + th + 1), lab, fill="black", font=font)
    return canvas


def _font(size: int = 11):
    """DejaVu Sans from matplotlib (has ω); PIL's bitmap default otherwise."""
    from PIL import ImageFont
    try:
        from matplotlib import font_manager
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except Exception:
        return ImageFont.load_default()


# ----------------------------------------------------------------------------------- the file

def evaluate_file(path: str | Path, backbone: Backbone, samples: Sequence[Sample | str],
                  scorers: Sequence[Reward | dict | str], out_dir: str | Path, *, points: int = 11,
                  start: int = 0, end: int = 1, mode: str = "auto", divisions: int | None = None,
                  steps: int = 20, seed: int = 0, samples_per_prompt: int = 1, batch_size: int = 8,
                  reference: Sequence[float] | None = None, base: bool = True, write_front: bool = True,
                  max_strips: int = 8, lora_strength: float = 1.0, progress: bool = True) -> dict[str, Any]:
    """Load the ParetoSlider at `path` onto `backbone`, sweep ω, write eval.json / front.png /
    strips/, and (write_front) store the measured front in the file. Returns the summary."""
    t0 = time.time()
    path = Path(path)
    sl = load_paretoslider(path)
    meta = sl.metadata
    sl.check_compatible(backbone.architecture, backbone.width)
    rewards = [s if isinstance(s, Reward) else build_reward(s) for s in scorers]
    device = next(backbone.transformer.parameters()).device
    modules = sl.preference_modules(device=device)
    omegas = omega_grid(meta.num_objectives, points, start, end, mode, divisions)
    res_base = None
    rows = [s if isinstance(s, Sample) else Sample(prompt=s) for s in samples]
    if base:   # the base model: LoRA not merged yet, no ω hooks
        res_base = sweep(backbone, None, rows, omegas[:0], rewards, steps, seed, samples_per_prompt,
                         batch_size, base=True, keep_images=max_strips, progress=False)
    with merged_lora(backbone.transformer, sl.lora, lora_strength):
        result = sweep(backbone, modules, rows, omegas, rewards, steps, seed, samples_per_prompt,
                       batch_size, base=False, keep_images=max_strips, progress=progress)
    if res_base is not None:
        result.base_scores, result.base_images = res_base.base_scores, res_base.base_images
    summary = summarize(result, reference, [o.name for o in meta.objectives])
    settings = {"steps": steps, "seed": seed, "samples_per_prompt": samples_per_prompt,
                "prompts": len(rows), "lora_strength": lora_strength}
    summary.update({
        "file": str(path), "architecture": meta.architecture, "variant": meta.variant,
        "labels": meta.labels, "scorer_specs": [_spec_of(s) for s in scorers],
        "prompts": [s.prompt for s in rows], **{k: v for k, v in settings.items() if k != "prompts"},
        "seconds": round(time.time() - t0, 3),
    })
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = [omega_label(w) for w in omegas.tolist()]
    plot_front(summary, out / "front.png", title=path.stem, end=end)
    strips = out / "strips"
    strips.mkdir(exist_ok=True)
    for j, (sample, imgs) in enumerate(zip(result.samples[:max_strips], result.images)):
        b = result.base_images[j] if result.base_images else None
        image_strip(imgs, labels, title=f"{sample.prompt}   (ω = {'/'.join(o.label for o in meta.objectives)})",
                    base=b).save(strips / f"{j:02d}.png")
    summary["outputs"] = {"json": str(out / "eval.json"), "plot": str(out / "front.png"), "strips": str(strips)}
    if write_front:
        meta.front = front_metadata(summary, settings)
        save_paretoslider(path, meta, sl.lora, sl.preference_state)
        summary["front_written_to"] = str(path)
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    return summary


def _spec_of(s) -> Any:
    if isinstance(s, Reward):
        return {"id": s.id, "name": s.name}
    return s


# ----------------------------------------------------------------------------------- held-out data

def load_eval_samples(prompts: str | Path | Sequence[str] | None = None,
                      edits: str | Path | None = None) -> list[Sample]:
    """Held-out prompts (.txt, one per line, '#' comments, or a list) or edit pairs (.jsonl of
    {"image": path, "instruction": text}, or a folder of images with same-name .txt files), read
    exactly as the trainer reads its data (trainer.data)."""
    from .data import read_edits, read_prompts
    if edits:
        rows = read_edits(str(edits))
        if not rows:
            raise ValueError(f"no (image, instruction) pairs in {edits}")
        return rows
    if prompts is None:
        raise ValueError("give held-out prompts (--prompts FILE.txt) or edit pairs (--edits FILE.jsonl)")
    out = [Sample(prompt=p, key=p) for p in read_prompts(prompts if isinstance(prompts, (list, tuple))
                                                         else str(prompts))]
    if not out:
        raise ValueError(f"no prompts in {prompts}")
    return out


# ----------------------------------------------------------------------------------- CLI

def _parse_scorer(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            import yaml
            return yaml.safe_load(text)
    return text


def add_eval_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("file", help="the ParetoSlider .safetensors to evaluate (its metadata gets the front)")
    p.add_argument("--config", help="the training YAML (for the backbone and, by default, the scorers)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set model.path=/models/sd35m (repeatable)")
    p.add_argument("--prompts", help="held-out prompts: a .txt file, one per line")
    p.add_argument("--edits", help="held-out edit pairs: a .jsonl of {\"image\", \"instruction\"}")
    p.add_argument("--scorer", action="append", default=[], metavar="SPEC",
                   help="a scorer: an id (jpeg_compressibility), JSON ({\"id\": \"clip_score\", \"path\": "
                        "\"/models/clip\"}) or module:function; repeatable. Default: the config's objective "
                        "rewards (training rewards: prefer held-out ones)")
    p.add_argument("--points", type=int, default=11, help="ω points along the edge (2 objectives)")
    p.add_argument("--from", dest="start", type=int, default=0, help="edge start objective index")
    p.add_argument("--to", dest="end", type=int, default=1, help="edge end objective index")
    p.add_argument("--mode", choices=["auto", "edge", "grid"], default="auto",
                   help="auto: edge for 2 objectives, simplex grid for 3+")
    p.add_argument("--divisions", type=int, default=None, help="simplex grid divisions (3 objectives: 5 → 21 ω)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the config's sample_steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples-per-prompt", type=int, default=1, help="noise seeds per prompt")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--reference", default=None,
                   help="hypervolume reference point, one value per scorer, comma-separated (fixed to "
                        "compare runs); default: the per-scorer minimum of the measured points")
    p.add_argument("--out", default=None, help="output folder (default: <file>_eval next to the file)")
    p.add_argument("--max-strips", type=int, default=8, help="image strips for the first N prompts")
    p.add_argument("--lora-strength", type=float, default=1.0)
    p.add_argument("--no-base", action="store_true", help="skip the base-model reference samples")
    p.add_argument("--no-write-front", action="store_true", help="do not store the front in the file")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    return p


def add_eval_subcommand(subparsers) -> argparse.ArgumentParser:
    """For `python -m trainer eval`: `add_eval_subcommand(sub)`; the parser's `func` is run_eval."""
    p = subparsers.add_parser("eval", help="sweep ω on held-out prompts, plot the front, store it in the file",
                              description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_eval_arguments(p)
    p.set_defaults(func=run_eval)
    return p


def _build_backbone(cfg, device: str | None = None) -> Backbone:
    """The trainer's backbone factory, on the GPU when there is one (dtype as in training)."""
    from .backbones import build_backbone
    from .train import resolve_dtype
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return build_backbone(cfg.model, device=dev, dtype=resolve_dtype(cfg.model.dtype, dev))


def run_eval(args: argparse.Namespace, backbone: Backbone | None = None) -> dict[str, Any]:
    from pareto_core import read_metadata
    read_metadata(args.file)          # fail on a bad file before loading a large model
    cfg = None
    if args.config or backbone is None:
        from .config import load_config
        if not args.config:
            raise SystemExit("eval: give --config (the training YAML: it says which backbone to load)")
        cfg = load_config(args.config, overrides=args.overrides)
    if backbone is None:
        import os
        os.environ.setdefault("HF_HUB_OFFLINE", "1")        # local weights only
        backbone = _build_backbone(cfg, args.device)
    scorers: list[Any] = [_parse_scorer(s) for s in args.scorer]
    if not scorers and cfg is not None:
        scorers = [{"id": o.reward, "name": o.name, **(o.kwargs or {})} for o in cfg.objectives]
        print("eval: no --scorer given; scoring with the training rewards "
              f"({', '.join(o.name for o in cfg.objectives)}); held-out scorers tell a real front from a "
              "reward hack", file=sys.stderr)
    if not scorers:
        raise SystemExit("eval: give at least one --scorer")
    prompts = args.prompts
    if prompts is None and args.edits is None and cfg is not None:
        prompts = cfg.data.prompts
        if cfg.data.edits and not prompts:
            args.edits = cfg.data.edits
        print("eval: no --prompts/--edits given; using the training data (give held-out prompts for a "
              "fair evaluation)", file=sys.stderr)
    samples = load_eval_samples(prompts, args.edits)
    steps = args.steps or (cfg.train.sample_steps if cfg is not None else 20)
    reference = [float(v) for v in args.reference.split(",")] if args.reference else None
    out = args.out or str(Path(args.file).with_suffix("")) + "_eval"
    summary = evaluate_file(args.file, backbone, samples, scorers, out, points=args.points, start=args.start,
                            end=args.end, mode=args.mode, divisions=args.divisions, steps=steps, seed=args.seed,
                            samples_per_prompt=args.samples_per_prompt, batch_size=args.batch_size,
                            reference=reference, base=not args.no_base, write_front=not args.no_write_front,
                            max_strips=args.max_strips, lora_strength=args.lora_strength,
                            progress=not args.no_progress)
    print(f"eval: hypervolume {summary['hypervolume']:.6g} (reference {summary['reference']}); "
          f"wrote {summary['outputs']['json']}, {summary['outputs']['plot']}, {summary['outputs']['strips']}/"
          + (f"; front stored in {args.file}" if summary.get("front_written_to") else ""))
    return summary


def evaluate_main(argv: Sequence[str] | None = None, backbone: Backbone | None = None) -> int:
    """`python -m trainer eval ...` without the subcommand word: evaluate_main(["file", ...])."""
    p = add_eval_arguments(argparse.ArgumentParser(prog="python -m trainer eval", description=__doc__.split("\n\n")[0]))
    args = p.parse_args(list(argv) if argv is not None else None)
    from .config import ConfigError
    from .rewards import RewardError
    try:
        run_eval(args, backbone=backbone)
    except (ConfigError, RewardError, ParetoSliderFileError, ParetoSliderMismatchError, FileNotFoundError,
            ValueError) as err:
        print(f"eval error: {err}", file=sys.stderr)
        return 2
    return 0


main = evaluate_main      # what trainer/cli.py calls for `python -m trainer eval ...`


if __name__ == "__main__":
    raise SystemExit(evaluate_main())
