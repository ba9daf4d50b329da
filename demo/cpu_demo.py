"""Train a small ParetoSlider on the CPU toy task and look at its front (~5 minutes on 2 cores).

    python demo/cpu_demo.py                 # or: python -m demo.cpu_demo
    python demo/cpu_demo.py --steps 40      # quicker, less separated

What happens (all through the product's own trainer and evaluator, nothing downloaded):
1. loads the committed toy base model (bench/toytask/base/toy_base.safetensors: a 1.3 M-parameter
   SD3 transformer that draws 16x16 coloured shapes for 12 prompts like "red circle");
2. trains ONE ParetoSlider file with DiffusionNFT on two conflicting rewards, brightness and
   saturation, with ω sampled on the simplex (`trainer.run.train.run`);
3. sweeps ω over 11 points with fixed noise (`trainer.evaluation.evaluate.evaluate_file`) and writes the
   measured front, one image strip per prompt, and an overview strip of 6 prompts.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]      # run as `python -m demo.cpu_demo` from the root
os.environ.setdefault("HF_HUB_OFFLINE", "1")


OVERVIEW_PROMPTS = ("red circle", "green square", "blue triangle", "yellow circle", "blue square", "red triangle")


def overview_strip(path: Path, scorers, png: Path) -> None:
    """6 prompts (rows) x 11 ω (columns), the same noise along each row (the sweep's noise)."""
    import torch

    from bench.toytask import task
    from pareto_core import load_paretoslider
    from trainer.adapters.merge import merged_lora
    from trainer.evaluation.plots import image_strip
    from trainer.evaluation.sweep import omega_grid, omega_label, sweep
    bb = task.backbone()
    sl = load_paretoslider(path)
    omegas = omega_grid(2, 11)
    with merged_lora(bb.transformer, sl.lora):
        res = sweep(bb, sl.preference_modules(), list(OVERVIEW_PROMPTS), omegas, scorers, steps=10, seed=0,
                    batch_size=11, progress=False)
    imgs = torch.cat(res.images)                       # (6*11, 3, 16, 16), row-major
    labels = [omega_label(w) for _ in OVERVIEW_PROMPTS for w in omegas.tolist()]
    image_strip(imgs, labels, title="ω = brightness/saturation weights; rows: " + ", ".join(OVERVIEW_PROMPTS),
                tile=64, max_columns=11).save(png)


def print_where_to_look(summary: dict, out: Path, path: Path, seconds: float) -> None:
    """The outputs and the front's ends in a few lines."""
    b, s = summary["scores"]["brightness"], summary["scores"]["saturation"]
    base = summary.get("base") or {}
    print()
    print(f"[demo] done in {seconds:.0f}s. Look at:")
    print(f"  {out / 'eval' / 'front.png'}   the measured front: each dot is one ω, from all-brightness (ω=1/0)")
    print("      to all-saturation (ω=0/1); one file covers the whole trade-off (× is the base model)")
    print(f"  {out / 'strip.png'}   6 prompts x 11 ω, same noise along a row: images get brighter toward the")
    print("      left and more saturated toward the right while keeping the prompt's shape and colour")
    print(f"  {out / 'eval' / 'strips'}/   one strip per prompt (first tile = base model)")
    print(f"  {path}   the ParetoSlider file (LoRA + preference MLP + the measured front in its metadata)")
    print(f"  brightness at ω=1/0 {b[0]:.3f} -> ω=0/1 {b[-1]:.3f} (base {base.get('brightness', {}).get('mean', float('nan')):.3f}); "
          f"saturation {s[0]:.3f} -> {s[-1]:.3f} (base {base.get('saturation', {}).get('mean', float('nan')):.3f}); "
          f"Spearman vs own weight: brightness {summary['spearman']['brightness']['brightness']:.2f}, "
          f"saturation {summary['spearman']['saturation']['saturation']:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=100, help="training steps (96 images each)")
    ap.add_argument("--out", default=str(ROOT / "outputs" / "cpu_demo"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--file", default="", help="skip training: evaluate this ParetoSlider file instead")
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from bench.toytask import task
    from trainer.backbones.toy import DEFAULT_BASE, PROMPTS
    from trainer.evaluation.evaluate import evaluate_file
    from trainer.rewards import build_reward

    if not DEFAULT_BASE.is_file():
        print(f"the toy base model {DEFAULT_BASE} is missing; make it with `python -m bench.toytask.pretrain` "
              "(~10-15 minutes), then run this demo again", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not args.file:
        print(f"[demo] training a ParetoSlider on the toy task: brightness <-> saturation, {args.steps} steps "
              f"x 96 images, {args.threads} CPU thread(s)", flush=True)
    path = Path(args.file) if args.file else task.train(out / "run", args.steps, args.seed, progress=True)
    t_train = time.time() - t0
    print(f"[demo] trained in {t_train:.0f}s -> {path}", flush=True)

    print("[demo] sweeping ω over 11 points with fixed noise ...", flush=True)
    scorers = [build_reward({"id": "brightness", "mode": "luma"}), build_reward("saturation")]
    summary = evaluate_file(path, task.backbone(), list(PROMPTS), scorers, out / "eval", points=11, steps=10,
                            seed=0, batch_size=11, progress=False)

    overview_strip(path, scorers, out / "strip.png")

    print_where_to_look(summary, out, path, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
