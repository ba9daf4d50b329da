"""Re-tuning check for the toy task, with no method comparison: do the two end runs still learn?

    python -m bench.tune --tag new                                   # the current settings
    python -m bench.tune --tag old --set train.ema_schedule=constant train.ema_decay=0.9 ...

Trains the two single-objective end runs of bench/front.py (ω = (1, 0) all brightness and (0, 1)
all saturation, seed 0, S steps each) and scores each at its own ω on the benchmark's fixed
evaluation set: its gain over the base on the reward it optimises, and its fidelity against the
floor. Only these absolute numbers decide kl / lr / steps (docs/BENCHMARK.md); no ParetoSlider run
is trained and no method is compared with another.
"""
from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path


from bench import front

ENDS = ((0.0, "brightness"), (1.0, "saturation"))   # scalar ω of the run, the reward it optimises


def job_score(path: str, w: float) -> dict:
    """The base and one run at ω = w on the benchmark's evaluation set (same noise, same steps)."""
    from bench.toytask import sampling
    scored = front.ScoredSampler(front.TRAINING, front.HELDOUT, ())

    def score(parts):
        return scored([(1.0, scored.bb, parts)], front.omega_vec(w))[0]
    return {"base": score([]), "run": score([(1.0, sampling.load_piece(path))])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag", required=True, help="name of this setting (runs/tune/<tag>)")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="section.field=value")
    ap.add_argument("--work", default=str(front.ROOT / "runs" / "tune"))
    args = ap.parse_args(argv)
    overrides = front.parse_overrides(args.set)
    work = Path(args.work) / args.tag
    t0 = time.time()
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=front._init_worker,
                             initargs=(1,)) as pool:
        done = [front._reusable(work / f"seed{args.seed}" / f"fixed_{w:.2f}", args.steps, overrides) for w, _ in ENDS]
        if all(done):       # already trained with these settings (e.g. re-scoring)
            runs = done
        else:
            runs = list(pool.map(front.job_fixed, [str(work)] * 2, [args.seed] * 2, [w for w, _ in ENDS],
                                 [args.steps] * 2, [overrides] * 2))
        scores = list(pool.map(job_score, [r["path"] for r in runs], [w for w, _ in ENDS]))
    base = scores[0]["base"]
    floor = front.FLOOR_FRACTION * base["fidelity"]
    out = {"tag": args.tag, "overrides": overrides, "steps": args.steps, "seed": args.seed,
           "seconds": time.time() - t0, "floor": floor, "ends": {}}
    for (w, reward), s, r in zip(ENDS, scores, runs):
        run = s["run"]
        out["ends"][reward] = {"w": w, "gain": run[reward] - base[reward], "value": run[reward],
                               "base": base[reward], "fidelity": run["fidelity"],
                               "above_floor": run["fidelity"] >= floor, "train_cpu": r["cpu"]}
        print(f"{args.tag}: ω={w:.0f} {reward} {base[reward]:.3f} -> {run[reward]:.3f} "
              f"(gain {run[reward] - base[reward]:+.3f}), fidelity {run['fidelity']:.3f} (floor {floor:.3f}), "
              f"train {r['cpu']:.0f}s cpu")
    (work / "tune.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
