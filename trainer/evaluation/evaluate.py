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
- strips/<prompt>.png: per prompt, the base image and the images across ω with ω labels (the first
  `max_strips` prompts: the summary's `strips` says how many of how many);
and stores the front in the file's metadata (`front`), rewriting the file atomically.

Programmatic: `evaluate_file(path, backbone, samples, scorers, out_dir)` or the lower-level
`sweep(...)` + `summarize(...)` (also usable during training with live modules).

The parts: `sweep` (ω grids, generating and scoring), `summary` (the numbers), `plots` (front plots,
image strips). This module ties them to a file and re-exports their public names; the command line
(`cli`, `python -m trainer eval`) imports this module, never the reverse.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pareto_core import ParetoSliderMetadata, load_paretoslider, save_paretoslider

from pareto_core.combine import sum_deltas

from ..adapters.merge import lora_deltas, merged_deltas, merged_lora
from ..backbones.base import Backbone, Sample
from ..errors import UserError
from ..rewards import Reward, build_reward
from .plots import image_strip, plot_front, plot_fronts
from .summary import front_metadata, summarize
from .sweep import SweepResult, as_samples, omega_grid, omega_label, sweep, sweep_per_omega

__all__ = ["SweepResult", "evaluate_file", "front_metadata", "image_strip", "load_eval_samples", "merged_lora",
           "omega_grid", "omega_label", "plot_front", "plot_fronts", "summarize", "sweep"]


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
    rows = as_samples(samples)
    res_base = None
    if base:   # the base model: LoRA not merged yet, no ω hooks
        res_base = sweep(backbone, None, rows, omegas[:0], rewards, steps, seed, samples_per_prompt,
                         batch_size, base=True, keep_images=max_strips, progress=False)
    with merged_lora(backbone.transformer, sl.lora, lora_strength):
        if sl.objective_loras:      # per-objective LoRAs: the soup at each ω, merged once per ω
            deltas = [lora_deltas(part, lora_strength) for part in sl.objective_loras]

            def soup_at(w):
                return merged_deltas(backbone.transformer, sum_deltas([(float(c), d) for c, d in zip(w, deltas)]))
            result = sweep_per_omega(backbone, modules, rows, omegas, rewards, soup_at, progress=progress,
                                     steps=steps, seed=seed, samples_per_prompt=samples_per_prompt,
                                     batch_size=batch_size, keep_images=max_strips)
        else:
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
    plot_front(summary, out / "front.png", title=path.stem, end=end)
    strips, names = _write_strips(result, meta, max_strips, out / "strips", getattr(backbone, "frame_rate", 8.0))
    summary["outputs"] = {"json": str(out / "eval.json"), "plot": str(out / "front.png"), "strips": str(strips)}
    summary["strips"] = {"written": len(names), "of": len(result.samples), "files": [f"{n}.png" for n in names]}
    if names and (strips / f"{names[0]}.gif").is_file():   # a video file: its first prompt's preview by the plot
        shutil.copyfile(strips / f"{names[0]}.gif", out / ".preview.gif.tmp")
        os.replace(out / ".preview.gif.tmp", out / "preview.gif")
        summary["outputs"]["preview"] = str(out / "preview.gif")
    if write_front:
        meta.front = front_metadata(summary, settings)
        save_paretoslider(path, meta, sl.lora, sl.preference_state, sl.objective_loras)
        summary["front_written_to"] = str(path)
    (out / "eval.json").write_text(json.dumps(summary, indent=2))
    return summary


def strip_names(prompts: Sequence[str]) -> list[str]:
    """File stems named by prompt ("red circle" → "red_circle"); a repeat (another seed, the same
    instruction on another image) gets _2, _3, ..."""
    names: list[str] = []
    for prompt in prompts:
        stem = re.sub(r"[^a-z0-9]+", "_", prompt.lower()).strip("_")[:60].rstrip("_") or "sample"
        name, k = stem, 1
        while name in names:
            k += 1
            name = f"{stem}_{k}"
        names.append(name)
    return names


def _write_strips(result: SweepResult, meta: ParetoSliderMetadata, max_strips: int, folder: Path,
                  fps: float = 8.0) -> tuple[Path, list[str]]:
    """strips/<prompt>.png: per (sample, seed) row, the base image (if sampled) and the images across
    ω; for videos a frame strip per ω and strips/<prompt>.gif, the videos playing side by side.
    Returns the folder and the file stems written (the first `max_strips` rows)."""
    folder.mkdir(exist_ok=True)
    labels = [omega_label(w) for w in result.omega.tolist()]
    objectives = "/".join(o.label for o in meta.objectives)
    rows = list(zip(result.samples[:max_strips], result.images))
    names = strip_names([sample.prompt for sample, _ in rows])
    for j, ((sample, imgs), name) in enumerate(zip(rows, names)):
        b = result.base_images[j] if result.base_images else None
        title = f"{sample.prompt}   (ω = {objectives})"
        if imgs.ndim == 5:      # videos: a frame strip per ω row and an animated preview
            from .video_preview import animated_preview, frame_strip
            frame_strip(imgs, labels, title=title, base=b).save(folder / f"{name}.png")
            animated_preview(imgs, labels, folder / f"{name}.gif", fps=fps, title=sample.prompt, base=b)
            continue
        image_strip(imgs, labels, title=title, base=b).save(folder / f"{name}.png")
    return folder, names


def _spec_of(s) -> Any:
    if isinstance(s, Reward):
        return getattr(s, "spec", None) or {"id": s.id, "name": s.name}
    return s


# ----------------------------------------------------------------------------------- held-out data

def load_eval_samples(prompts: str | Path | Sequence[str] | None = None,
                      edits: str | Path | None = None) -> list[Sample]:
    """Held-out prompts (.txt, one per line, '#' comments, or a list) or edit pairs (.jsonl of
    {"image": path, "instruction": text}, or a folder of images with same-name .txt files), read
    exactly as the trainer reads its data (trainer.data); a bare name is a shipped set, as in a
    config (`--prompts ltx2_heldout`; trainer.config.paths)."""
    from ..config.paths import resolve
    from ..data import read_edits, read_prompts
    if isinstance(edits, (str, Path)) and edits:
        edits = resolve(str(edits), ("data", "edits"))
    if isinstance(prompts, (str, Path)):
        prompts = resolve(str(prompts), ("data", "prompts"))
    if edits:
        rows = read_edits(str(edits))
        if not rows:
            raise UserError(f"no (image, instruction) pairs in {edits}")
        return rows
    if prompts is None:
        raise UserError("give held-out prompts (--prompts FILE.txt) or edit pairs (--edits FILE.jsonl)")
    out = [Sample(prompt=p, key=p) for p in read_prompts(prompts if isinstance(prompts, (list, tuple))
                                                         else str(prompts))]
    if not out:
        raise UserError(f"no prompts in {prompts}")
    return out
