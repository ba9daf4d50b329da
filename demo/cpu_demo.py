"""Train a small ParetoSlider on the CPU toy task and look at its front (~5 minutes on 2 cores).

    python demo/cpu_demo.py                 # or: python -m demo.cpu_demo
    python demo/cpu_demo.py --steps 40      # quicker, less separated

What happens (all through the product's own trainer and evaluator, nothing downloaded):
1. loads the committed toy base model (bench/toytask/base/toy_base.safetensors: a 1.3 M-parameter
   SD3 transformer that draws 16x16 coloured shapes for 12 prompts like "red circle");
2. trains ONE ParetoSlider file with DiffusionNFT on two conflicting rewards, brightness and
   saturation, with ω sampled on the simplex (`trainer.run.train.run`);
3. sweeps ω over 11 points with fixed noise (`trainer.evaluation.evaluate.evaluate_file`) and writes the
   measured front, one image strip per prompt (all 12, named by prompt), and an overview strip of 6
   prompts with the base model in the first column;
4. says what the ends cost: the benchmark's fidelity classifier (still the prompt's shape and colour?)
   at ω=1/0 and ω=0/1 next to the base model's.
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
FIDELITY_FLOOR = 0.8        # as in the benchmark: a point keeps the content if its fidelity is >= 80% of the base's


def fidelity_scorer():
    """The benchmark's fidelity: the toy classifier's probability that an image is still its prompt's
    shape and colour (bench/toytask/classifier.py), as a scorer."""
    from bench.toytask import classifier, data
    from trainer.rewards import FunctionReward
    net = classifier.load()

    def score(images, prompts, sources=None):
        import torch
        labels = torch.tensor([data.PROMPTS.index(p) for p in prompts])
        return classifier.fidelity(net, images, labels)[0]
    return FunctionReward(score, name="fidelity")


def across_omega(path: Path, png: Path) -> dict:
    """Every prompt at every ω (and the base model) with the sweep's noise, scored by the fidelity
    classifier; writes the overview strip: 6 prompts (rows) x base + 11 ω (columns)."""
    import torch

    from bench.toytask import task
    from pareto_core import load_paretoslider
    from trainer.adapters.merge import merged_lora
    from trainer.backbones.toy import PROMPTS
    from trainer.evaluation.plots import image_grid
    from trainer.evaluation.sweep import omega_grid, omega_label, sweep
    bb, sl, omegas, scorers = task.backbone(), load_paretoslider(path), omega_grid(2, 11), [fidelity_scorer()]
    prompts = list(PROMPTS)          # the evaluation's order: the same noise per prompt as its strips
    base = sweep(bb, None, prompts, omegas[:0], scorers, steps=10, seed=0, batch_size=11, base=True, progress=False)
    with merged_lora(bb.transformer, sl.lora):
        res = sweep(bb, sl.preference_modules(), prompts, omegas, scorers, steps=10, seed=0, batch_size=11,
                    progress=False)
    rows = [torch.cat([base.base_images[prompts.index(p)][None], res.images[prompts.index(p)]])
            for p in OVERVIEW_PROMPTS]
    image_grid(rows, ["base"] + [omega_label(w) for w in omegas.tolist()], OVERVIEW_PROMPTS,
               title="ω = brightness/saturation weights (1/0: all brightness ... 0/1: all saturation); "
                     "the same noise along a row").save(png)
    per_omega = res.scores["fidelity"].mean(1).tolist()
    return {"base": float(base.base_scores["fidelity"].mean()), "per_omega": per_omega}


def fidelity_line(fid: dict) -> str:
    """The fidelity at each end next to the base's, and only the claim those numbers support."""
    base, ends = fid["base"], {"1/0": fid["per_omega"][0], "0/1": fid["per_omega"][-1]}
    text = (f"  fidelity (is it still the prompt's shape and colour? the classifier's probability): base {base:.2f}, "
            f"ω=1/0 {ends['1/0']:.2f}, ω=0/1 {ends['0/1']:.2f}")
    low = [w for w, f in ends.items() if f < FIDELITY_FLOOR * base]
    if not low:
        return text + f" -> both ends keep the shape and colour (>= {FIDELITY_FLOOR:.0%} of the base's)"
    ends_lose = "ends lose" if len(low) > 1 else "end loses"
    return text + (f" -> the ω={' and ω='.join(low)} {ends_lose} shape or colour (below {FIDELITY_FLOOR:.0%} of the "
                   "base's): the reward is bought with content there")


def print_where_to_look(summary: dict, out: Path, path: Path, seconds: float, fid: dict) -> None:
    """The outputs and the front's ends in a few lines."""
    b, s = summary["scores"]["brightness"], summary["scores"]["saturation"]
    base = summary.get("base") or {}
    strips = summary.get("strips", {})
    print()
    print(f"[demo] done in {seconds:.0f}s. Look at:")
    print(f"  {out / 'eval' / 'front.png'}   the measured front: each dot is one ω, from all-brightness (ω=1/0)")
    print("      to all-saturation (ω=0/1); one file covers the whole trade-off (× is the base model)")
    print(f"  {out / 'strip.png'}   6 prompts x (base + 11 ω), the same noise along a row: images get brighter")
    print("      toward the left (1/0) and more saturated toward the right (0/1); how much shape survives: below")
    print(f"  {out / 'eval' / 'strips'}/   one strip per prompt, named by it ({strips.get('written', '?')} of "
          f"{strips.get('of', '?')} prompts; first tile = base model)")
    print(f"  {path}   the ParetoSlider file (LoRA + preference MLP + the measured front in its metadata)")
    base_b = base.get("brightness", {}).get("mean", float("nan"))
    base_s = base.get("saturation", {}).get("mean", float("nan"))
    print(f"  brightness at ω=1/0 {b[0]:.3f} -> ω=0/1 {b[-1]:.3f} (base {base_b:.3f}); "
          f"saturation {s[0]:.3f} -> {s[-1]:.3f} (base {base_s:.3f}); "
          f"Spearman vs own weight: brightness {summary['spearman']['brightness']['brightness']:.2f}, "
          f"saturation {summary['spearman']['saturation']['saturation']:.2f}")
    print(fidelity_line(fid))


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
                            seed=0, batch_size=11, max_strips=len(PROMPTS), progress=False)

    fid = across_omega(path, out / "strip.png")

    print_where_to_look(summary, out, path, time.time() - t0, fid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
