"""A minutes-scale CPU check of LTX-2 training: does ω move the motion ⟷ stability pair?

    python -m bench.ltx2_cpu_check                  # minutes on 2 cores → bench/results/ltx2_cpu_check.*

It uses the product end to end: the tiny random LTX-2 of testsupport.tiny (the diffusers classes of
the real model, 2 layers of width 16, video VAE 2× in space and time, audio sampled jointly),
`trainer.run.train.run` with the ready objectives of trainer/configs/ltx2_motion_vs_stability.yaml
(motion_magnitude, temporal_consistency), then `trainer.evaluation.evaluate.evaluate_file` on held-out prompts
with fixed noise per (prompt, seed) across ω. Expected directions: motion falls and stability rises
as ω goes from the motion corner to the stability corner (Spearman ρ over the ω grid), and the two
corners sit on either side of the base model. The numbers of record are whatever one run of this
committed script prints; the result says plainly which expectations held.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROMPTS = REPO / "trainer" / "configs" / "prompts"


def settings(model: Path, out: Path, steps: int, seed: int) -> dict:
    return {
        "model": {"backbone": "ltx2", "path": str(model), "resolution": 16, "num_frames": 5, "frame_rate": 25.0,
                  "max_sequence_length": 8},
        "lora": {"rank": 4, "alpha": 8},
        "preference": {"hidden": 32, "omegas_per_prompt": 2},
        "objectives": [{"name": "motion", "label": "More motion", "reward": "motion_magnitude"},
                       {"name": "stability", "label": "Steady shot", "reward": "temporal_consistency"}],
        "data": {"prompts": str(PROMPTS / "ltx2_motion.txt")},
        "train": {"steps": steps, "prompts_per_step": 2, "group_size": 4, "sample_steps": 6, "train_timesteps": 2,
                  "minibatch": 8, "lr": 3e-3, "kl": 0.1, "seed": seed,
                  # as its recorded results were measured (the defaults moved to the references' in issue 26)
                  "optimizer_step": "minibatch", "ema_count": "step", "export_weights": "theta",
                  "timestep_pool": "leading"},
        "output": {"dir": str(out), "checkpoint_every": 0, "progress": False, "tensorboard": False},
    }


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps (3-15 s each on 2 shared cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--points", type=int, default=5, help="ω points on the edge for the evaluation")
    ap.add_argument("--samples-per-prompt", type=int, default=4)
    ap.add_argument("--results", default=str(REPO / "bench" / "results"), help="where ltx2_cpu_check.* go")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(2)
    from trainer.config import config_from_dict
    from trainer.evaluation.evaluate import evaluate_file, load_eval_samples
    from testsupport.tiny import make_tiny_ltx2
    from trainer.run.train import run
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ltx2_cpu_check_"))
    try:
        t0 = time.time()
        model = make_tiny_ltx2(work / "tiny_ltx2", seed=args.seed)
        cfg = config_from_dict(settings(model, work / "run", args.steps, args.seed))
        path = run(cfg)
        t_train = time.time() - t0
        from trainer.backbones import build_backbone
        backbone = build_backbone(cfg.model)
        held_out = load_eval_samples(str(PROMPTS / "ltx2_heldout.txt"))
        scorers = [{"id": "motion_magnitude", "name": "motion"}, {"id": "temporal_consistency", "name": "stability"}]
        t1 = time.time()
        summary = evaluate_file(path, backbone, held_out, scorers, work / "eval", points=args.points,
                                steps=cfg.train.sample_steps, seed=1000 + args.seed,
                                samples_per_prompt=args.samples_per_prompt, max_strips=2, progress=False)
        t_eval = time.time() - t1
        motion, stability = summary["scores"]["motion"], summary["scores"]["stability"]
        base = summary["base"]
        rho = summary["spearman"] if "spearman" in summary else summary.get("rho")
        checks = {
            "motion falls from the motion corner to the stability corner": motion[0] > motion[-1],
            "stability rises from the motion corner to the stability corner": stability[-1] > stability[0],
            "motion corner has more motion than the base model": motion[0] > base["motion"]["mean"],
            "stability corner is steadier than the base model": stability[-1] > base["stability"]["mean"],
        }
        report = {
            "what": "tiny random LTX-2 (testsupport.tiny.make_tiny_ltx2), NFT with motion_magnitude vs "
                    "temporal_consistency, evaluated on held-out prompts with fixed noise across ω",
            "settings": settings(Path("<tiny_ltx2>"), Path("<run>"), args.steps, args.seed),
            "eval": {"points": args.points, "samples_per_prompt": args.samples_per_prompt,
                     "prompts": [s.prompt for s in held_out], "steps": cfg.train.sample_steps},
            "omega": summary["omega"], "motion": motion, "stability": stability,
            "std": summary["std"], "base": base, "spearman": rho, "hypervolume": summary["hypervolume"],
            "checks": checks, "all_expected_directions": all(checks.values()),
            "seconds": {"train": round(t_train, 1), "eval": round(t_eval, 1)},
        }
        (results / "ltx2_cpu_check.json").write_text(json.dumps(report, indent=1))
        shutil.copyfile(work / "eval" / "front.png", results / "ltx2_cpu_check.png")
        first = work / "eval" / "strips" / summary["strips"]["files"][0]
        if first.is_file():
            shutil.copyfile(first, results / "ltx2_cpu_check_strip.png")
        if (work / "eval" / "preview.gif").is_file():
            shutil.copyfile(work / "eval" / "preview.gif", results / "ltx2_cpu_check.gif")
        print(f"LTX-2 CPU check: train {t_train:.0f} s ({args.steps} steps), eval {t_eval:.0f} s")
        for w, m, s in zip(summary["omega"], motion, stability):
            print(f"  ω = {w}: motion {m:.4f}  stability {s:.4f}")
        print(f"  base: motion {base['motion']['mean']:.4f}  stability {base['stability']['mean']:.4f}")
        for name, ok in checks.items():
            print(f"  [{'ok' if ok else 'MISS'}] {name}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
