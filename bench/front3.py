"""Three objectives: does ONE ParetoSlider run cover the simplex that seven fixed-weight runs cover?

    python -m bench.front3                      # the full benchmark (3 seeds)
    python -m bench.front3 --seeds 0 --steps 4  # a quick check of the pipeline

Protocol (fixed before the full run; docs/BENCHMARK.md, "Three objectives"):
- task: bench/toytask with a third training reward, muted = mean (1 − luma)(1 − HSV saturation),
  which conflicts with both brightness (white) and saturation (pure hues); its held-out evaluator
  mutedness is computed in CIELAB (L*, chroma C*ab), not from luma and HSV.
- ω = (brightness, saturation, muted) on the simplex.
- methods, per seed, all trained by the product's trainer with bench/front.py's settings:
    fixed        7 runs: the 3 vertices, the 3 edge midpoints, the centroid; S steps each (7S)
    paretoslider 1 ω-conditioned run of 3S steps (3/7 of the fixed runs' compute)
- evaluation: ω on the simplex grid of step 1/6 (28 points, which include the 7 fixed ω); the
  same 96 noise tensors as bench/front.py; 10 Euler steps; per point the mean over the 96 images.
- metrics as bench/front.py, in 3-D: hypervolume (held-out and training; reference 0.5 × base,
  fidelity floor 0.8 × base, at most 10% flat images per point), the ratio at MATCHED ω (ParetoSlider
  at the fixed runs' 7 ω only: bench/matched_hv.py), corner coverage at each vertex (ParetoSlider's gain over the base
  on that vertex's score / the vertex fixed run's gain), Spearman of each score against its own
  weight.
Writes bench/results/front3.json (the keys of front.json), front3.png (the simplex coloured by
each evaluator), grid3.png (images over the simplex); prints the ratios last. `--matched` prints the
matched-ω ratios of a recorded front3.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

from bench import front
from bench.front import _log, _stats, fmt_stats
from bench.toytask.flatness import MAX_FLAT

SEEDS = (0, 1, 2)
STEPS = 30                                     # S: steps of each fixed run; ParetoSlider gets 3S
GRID_DIV = 6                                   # simplex grid step 1/6: 28 points incl. the 7 fixed ω
TRAINING = ("brightness", "saturation", "muted")
HELDOUT = ("lightness", "colourfulness", "mutedness")
VERTICES = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
FIXED_OMEGAS = VERTICES + ((3, 3, 0), (3, 0, 3), (0, 3, 3), (2, 2, 2))   # in sixths
GRID_PROMPTS = ("red circle", "blue triangle")


def sixths(o) -> tuple[float, ...]:
    """An ω given in sixths (or a vertex given as 0/1) as floats on the simplex."""
    total = sum(o)
    return tuple(float(Fraction(x, total)) for x in o)


def simplex_grid(div: int = GRID_DIV) -> list[tuple[float, ...]]:
    return [sixths((i, j, div - i - j)) for i in range(div, -1, -1) for j in range(div - i, -1, -1)]


def key(omega) -> str:
    return "_".join(f"{w:.3f}" for w in omega)


# ----------------------------------------------------------------------------- training jobs

def _overrides(overrides: dict | None) -> dict:
    from bench.toytask import task
    return {**(overrides or {}), "objectives": task.OBJECTIVES3}


def job_fixed(work: str, seed: int, omega: tuple, steps: int, overrides: dict | None) -> dict:
    out = Path(work) / f"seed{seed}" / f"fixed_{key(omega)}"
    r = front._timed_train(out, steps, seed, list(omega), "fixed.safetensors", overrides=_overrides(overrides))
    r = {"kind": "fixed", "seed": seed, "omega": list(omega), "steps": steps, "overrides": overrides or {}, **r}
    (out / "timing.json").write_text(json.dumps(r))
    return r


def job_paretoslider(work: str, seed: int, steps: int, overrides: dict | None) -> dict:
    out = Path(work) / f"seed{seed}" / "paretoslider"
    r = front._timed_train(out, steps, seed, None, "ps.safetensors", overrides=_overrides(overrides))
    r = {"kind": "paretoslider", "seed": seed, "steps": steps, "overrides": overrides or {}, **r}
    (out / "timing.json").write_text(json.dumps(r))
    return r


# ----------------------------------------------------------------------------- evaluation

def job_eval(seed: int, runs: dict, keep_images: bool) -> dict:
    """ParetoSlider on the simplex grid, each fixed run at its own ω, and the base; same noise."""
    from bench.toytask import sampling
    t0 = time.time()
    scored = front.ScoredSampler(TRAINING, HELDOUT, GRID_PROMPTS)

    def run(parts, omega) -> tuple[dict, torch.Tensor]:
        return scored([(1.0, scored.bb, parts)], omega)

    result = {"seed": seed, "methods": {}, "images": {}, "eval_seconds": {}}
    result["base"], _ = run([], (1 / 3, 1 / 3, 1 / 3))
    ps = sampling.load_piece(runs["paretoslider"])
    fixed = {k: sampling.load_piece(p) for k, p in runs["fixed"].items()}
    for name, points in (("paretoslider", [(o, ps) for o in simplex_grid()]),
                         ("fixed", [(sixths(o), fixed[key(sixths(o))]) for o in FIXED_OMEGAS])):
        t = time.time()
        pts, imgs = zip(*[run([(1.0, piece)], o) for o, piece in points])
        result["methods"][name] = {"w": [list(o) for o, _ in points], "points": list(pts)}
        result["images"][name] = torch.stack(imgs)
        result["eval_seconds"][name] = time.time() - t
    result["seconds"] = time.time() - t0
    if keep_images:
        result["image_prompts"] = scored.kept_prompts
    else:
        result.pop("images")
    return result


# ----------------------------------------------------------------------------- metrics

def metrics(evals: list[dict]) -> dict:
    from trainer.evaluation.pareto import spearman
    base = evals[0]["base"]
    floor = front.FLOOR_FRACTION * base["fidelity"]
    ref = {"heldout": [front.REF_FRACTION * base[k] for k in HELDOUT],
           "training": [front.REF_FRACTION * base[k] for k in TRAINING]}
    hv, fid, rho, counted = {"heldout": {}, "training": {}}, {}, {}, {}
    for m in ("paretoslider", "fixed"):
        for space, keys in (("heldout", HELDOUT), ("training", TRAINING)):
            hv[space][m] = front.hypervolume_over_seeds(evals, m, keys, ref[space], floor)
        fid[m], counted[m] = front.fidelity_over_seeds(evals, m, floor)
        rho[m] = {}
        for j, names in enumerate(zip(HELDOUT, TRAINING)):
            for k in names:
                rho[m][k] = _stats([spearman([w[j] for w in e["methods"][m]["w"]],
                                             [p[k] for p in e["methods"][m]["points"]]) for e in evals])

    def corner(keyset) -> dict:
        out = {}
        for j, v in enumerate(VERTICES):
            k = keyset[j]
            vals = []
            for e in evals:
                ps, fx = e["methods"]["paretoslider"], e["methods"]["fixed"]
                p = ps["points"][ps["w"].index(list(sixths(v)))]
                f = fx["points"][fx["w"].index(list(sixths(v)))]
                gain_f = f[k] - e["base"][k]
                vals.append((p[k] - e["base"][k]) / gain_f if abs(gain_f) > 1e-9 else None)
            out[f"vertex_{j}"] = {"score": k, **_stats(vals)}
        return out

    def ratio(space) -> dict:
        a, b = hv[space]["paretoslider"], hv[space]["fixed"]
        per = [x / y if y > 0 else None for x, y in zip(a["per_seed"], b["per_seed"])]
        from bench.matched_hv import paired
        return {"of_means": a["mean"] / b["mean"] if b["mean"] else None, **_stats(per), "paired": paired(per)}

    from bench.matched_hv import flat_measured
    return {"floor": floor, "reference": ref, "hypervolume": hv, "fidelity": fid, "spearman": rho,
            "corner_coverage": {"paretoslider": corner(TRAINING), "paretoslider_heldout": corner(HELDOUT)},
            "ratios": {f"{space}_paretoslider_vs_fixed": ratio(space) for space in ("heldout", "training")},
            "matched": front.matched_over_seeds(evals, [("paretoslider", "fixed")],
                                                {"heldout": HELDOUT, "training": TRAINING}, ref, floor),
            "flat_measured": flat_measured(evals), "points_counted": counted}


# ----------------------------------------------------------------------------- figures

def _xy(omega) -> tuple[float, float]:
    """Barycentric ω → the plane: vertex 0 bottom-left, 1 bottom-right, 2 top."""
    return omega[1] + 0.5 * omega[2], omega[2] * np.sqrt(3) / 2


def plot(evals: list[dict], m: dict, path: Path) -> None:
    """One triangle per held-out evaluator (and fidelity): ParetoSlider's grid (mean over seeds) as
    a coloured surface, the fixed runs as squares in the same colours."""
    import matplotlib.tri as mtri

    from trainer.evaluation.plots import pyplot, save_figure
    plt = pyplot()
    panels = list(HELDOUT) + ["fidelity"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4))
    ps_w = evals[0]["methods"]["paretoslider"]["w"]
    fx_w = evals[0]["methods"]["fixed"]["w"]
    x, y = np.array([_xy(o) for o in ps_w]).T
    tri = mtri.Triangulation(x, y)
    for ax, k in zip(axes, panels):
        ps = np.mean([[p[k] for p in e["methods"]["paretoslider"]["points"]] for e in evals], 0)
        fx = np.mean([[p[k] for p in e["methods"]["fixed"]["points"]] for e in evals], 0)
        lo, hi = min(ps.min(), fx.min()), max(ps.max(), fx.max())
        surf = ax.tripcolor(tri, ps, shading="gouraud", cmap="viridis", vmin=lo, vmax=hi)
        ax.scatter(x, y, c=ps, cmap="viridis", vmin=lo, vmax=hi, s=14, edgecolors="white", linewidths=0.4)
        fxy = np.array([_xy(o) for o in fx_w])
        ax.scatter(fxy[:, 0], fxy[:, 1], c=fx, cmap="viridis", vmin=lo, vmax=hi, s=110, marker="s",
                   edgecolors="red", linewidths=1.4, label="fixed runs (7)")
        if k == "fidelity":
            below = ps < m["floor"]
            ax.scatter(x[below], y[below], marker="x", color="red", s=40, label="below floor")
            flat = np.mean([[p.get("flat", 0.0) for p in e["methods"]["paretoslider"]["points"]] for e in evals], 0)
            if (flat > MAX_FLAT).any():
                ax.scatter(x[flat > MAX_FLAT], y[flat > MAX_FLAT], marker="+", color="black", s=60,
                           label=f"> {MAX_FLAT:.0%} flat images")
        for (vx, vy), name, dx in zip([_xy(v) for v in VERTICES], TRAINING, (-0.08, 0.08, 0)):
            ax.annotate(name, (vx, vy), xytext=(vx + dx, vy + (0.05 if vy > 0 else -0.08)), ha="center", fontsize=9)
        ax.set_title(f"{k} (base {evals[0]['base'][k]:.3f})", fontsize=10)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.15, 1.0)
        ax.set_aspect("equal")
        ax.axis("off")
        fig.colorbar(surf, ax=ax, shrink=0.7)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Three objectives, {len(evals)} seeds: ParetoSlider over ω (surface, mean over seeds) "
                 "and the 7 fixed-weight runs (squares)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def image_grid(e: dict, path: Path) -> None:
    """Images over the simplex, one triangle per prompt (seed 0): ParetoSlider at every grid point,
    same noise everywhere; vertex labels name the objective that corner optimises."""
    from PIL import Image, ImageDraw

    from pareto_core.fonts import font
    from trainer.evaluation.plots import to_pil
    tile, pad, margin = 40, 2, 30
    side = (GRID_DIV + 1) * (tile + pad)
    w_one = side + 2 * margin
    h_one = (GRID_DIV + 1) * (tile + pad) + 2 * margin + 16
    prompts = e["image_prompts"]
    canvas = Image.new("RGB", (w_one * len(prompts), h_one), "white")
    d = ImageDraw.Draw(canvas)
    f = font(11)
    grid = e["methods"]["paretoslider"]["w"]
    imgs = e["images"]["paretoslider"]
    for pi, prompt in enumerate(prompts):
        ox = pi * w_one + margin
        d.text((ox, 4), f"{prompt} — ParetoSlider, seed {e['seed']}", fill="black", font=f)
        for gi, o in enumerate(grid):
            row = round(o[2] * GRID_DIV)          # rows by the muted weight, one tile apart
            px = ox + round((o[1] + 0.5 * o[2]) * GRID_DIV * (tile + pad))
            py = h_one - margin - tile - row * (tile + pad)
            canvas.paste(to_pil(imgs[gi][pi]).resize((tile, tile), Image.NEAREST), (px, py))
        d.text((ox, h_one - margin + 4), TRAINING[0], fill="black", font=f)
        d.text((ox + GRID_DIV * (tile + pad) - 20, h_one - margin + 4), TRAINING[1], fill="black", font=f)
        d.text((ox + GRID_DIV * (tile + pad) // 2 + tile + 4, h_one - margin - tile - GRID_DIV * (tile + pad) + 12),
               TRAINING[2], fill="black", font=f)
    canvas.save(path)


# ----------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--steps", type=int, default=STEPS, help="steps of each fixed run (S); ParetoSlider: 3S")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default=str(front.ROOT / "runs" / "bench_front3"))
    ap.add_argument("--out", default=str(front.RESULTS))
    ap.add_argument("--set", nargs="*", default=[], metavar="section.field=value")
    ap.add_argument("--set-slider", nargs="*", default=[], metavar="section.field=value",
                    help="overrides for the ParetoSlider run only, on top of --set")
    ap.add_argument("--reuse", action="store_true", help="reuse finished runs in --work with the same settings")
    ap.add_argument("--matched", action="store_true",
                    help="print the matched-ω hypervolume ratios of --out/front3.json (recomputed from its fronts)")
    return ap.parse_args(argv)


def train_all(pool, args, overrides: dict, slider_ov: dict) -> tuple[dict, list[dict]]:
    work = Path(args.work)
    runs = {s: {"fixed": {}} for s in args.seeds}
    info, futs = [], []

    def record(r: dict) -> None:
        if r["kind"] == "fixed":
            runs[r["seed"]]["fixed"][key(r["omega"])] = r["path"]
        else:
            runs[r["seed"]]["paretoslider"] = r["path"]

    jobs = [("paretoslider", s, None) for s in args.seeds] + \
           [("fixed", s, sixths(o)) for s in args.seeds for o in FIXED_OMEGAS]
    for kind, s, o in jobs:
        folder = work / f"seed{s}" / ("paretoslider" if kind == "paretoslider" else f"fixed_{key(o)}")
        steps = 3 * args.steps if kind == "paretoslider" else args.steps
        ov = slider_ov if kind == "paretoslider" else overrides
        r = front._reusable(folder, steps, ov) if args.reuse else None
        if r is not None:
            record(r)
            info.append({**r, "reused": True})
            continue
        futs.append(pool.submit(job_paretoslider, str(work), s, steps, slider_ov) if kind == "paretoslider"
                    else pool.submit(job_fixed, str(work), s, o, steps, overrides))
    for f in as_completed(futs):
        r = f.result()
        info.append(r)
        record(r)
        _log(f"seed {r['seed']}: {r['kind']} {r.get('omega', '')} done in {r['wall']:.0f}s wall / {r['cpu']:.0f}s cpu")
    return runs, info


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.matched:
        r = json.loads((Path(args.out) / "front3.json").read_text())
        print(front.matched_table(front.recorded_evals(r), r, {"heldout": HELDOUT, "training": TRAINING},
                                  [("paretoslider", "fixed")]))
        return 0
    t0 = time.time()
    overrides = front.parse_overrides(args.set)
    slider_ov = front.merge_overrides(overrides, front.parse_overrides(args.set_slider))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _log(f"front3 bench: seeds {args.seeds}, S = {args.steps} per fixed run (7 runs), ParetoSlider 3S = "
         f"{3 * args.steps}, {args.workers} workers, overrides {overrides or 'none'}, ParetoSlider's {slider_ov or 'none'}")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"), initializer=front._init_worker,
                             initargs=(args.threads,)) as pool:
        runs, info = train_all(pool, args, overrides, slider_ov)
        t_train = time.time() - t0
        _log(f"training finished after {t_train:.0f}s; evaluating")
        evals = [f.result() for f in [pool.submit(job_eval, s, runs[s], i == 0) for i, s in enumerate(args.seeds)]]
    m = metrics(evals)
    total = time.time() - t0
    from bench.toytask import task
    cpu = {k: sum(r["cpu"] for r in info if r["kind"] == k) / len(args.seeds) for k in ("paretoslider", "fixed")}
    report = {
        "task": "bench/toytask with three objectives (brightness, saturation, muted)",
        "protocol": {"seeds": args.seeds, "fixed_steps_S": args.steps, "paretoslider_steps": 3 * args.steps,
                     "fixed_omegas": [list(sixths(o)) for o in FIXED_OMEGAS],
                     "omega": "ω = (brightness, saturation, muted) on the simplex",
                     "eval_points": len(simplex_grid()), "eval_images_per_point": 12 * front.EVAL_PER_PROMPT,
                     "eval_noise_seed": front.EVAL_NOISE_SEED, "sample_steps": front.SAMPLE_STEPS,
                     "floor": f"fidelity >= {front.FLOOR_FRACTION} x base fidelity",
                     "reference": f"{front.REF_FRACTION} x base mean on each axis",
                     "training_rewards": list(TRAINING), "heldout": list(HELDOUT),
                     "trainer": {"train": {**task.TRAIN, **overrides.get("train", {})},
                                 "lora": {**task.LORA, **overrides.get("lora", {})},
                                 "preference": {**task.PREFERENCE, **overrides.get("preference", {})}},
                     "slider_overrides": slider_ov,
                     "workers": args.workers, "threads_per_worker": args.threads},
        "seeds": args.seeds, "base": evals[0]["base"], **m,
        "seconds": {"paretoslider": {"train_cpu_per_seed": cpu["paretoslider"],
                                     "eval_per_seed": float(np.mean([e["eval_seconds"]["paretoslider"] for e in evals]))},
                    "fixed": {"train_cpu_per_seed": cpu["fixed"],
                              "eval_per_seed": float(np.mean([e["eval_seconds"]["fixed"] for e in evals]))},
                    "compute_ratio_paretoslider_vs_fixed": cpu["paretoslider"] / cpu["fixed"] if cpu["fixed"] else None,
                    "all_runs_train_cpu": sum(r["cpu"] for r in info), "eval_wall_sum": sum(e["seconds"] for e in evals),
                    "reused_runs": sum(1 for r in info if r.get("reused")),
                    "estimated_wall_on_2_free_cores": (sum(r["cpu"] for r in info) + sum(e["seconds"] for e in evals)) / 2,
                    "training_phase_this_invocation": t_train, "this_invocation": total},
        "fronts": {str(e["seed"]): e["methods"] for e in evals},
    }
    (out / "front3.json").write_text(json.dumps(report, indent=1))
    plot(evals, m, out / "front3.png")
    image_grid(evals[0], out / "grid3.png")
    _log(f"wrote {out / 'front3.json'}, front3.png, grid3.png (total {total:.0f}s)")
    print_ratios(report)
    return 0


def print_ratios(r: dict) -> None:
    print("\n=== three objectives (mean [min, max] over seeds) ===")
    for space in ("heldout", "training"):
        print(f"hypervolume {space}: " + "; ".join(f"{k} {fmt_stats(v, 4)}" for k, v in r["hypervolume"][space].items()))
    for k, v in r["ratios"].items():
        om = "n/a" if v["of_means"] is None else f"{v['of_means']:.3f}"
        print(f"HV ratio {k}: ratio of means {om} | per seed {fmt_stats(v)}{front.fmt_paired(v.get('paired'))}")
    for k, v in r["corner_coverage"].items():
        print(f"corner coverage {k}: " + "; ".join(f"{c['score']} {fmt_stats(c)}" for c in v.values()))
    for meth, s in r["spearman"].items():
        print(f"spearman {meth}: " + "; ".join(f"{k} {fmt_stats(v, 2)}" for k, v in s.items()))
    f = r["fidelity"]["paretoslider"]
    print(f"fidelity floor {r['floor']:.3f}; ParetoSlider lowest {f['lowest']:.3f}, "
          f"points below floor {f['points_below_floor']}/{f['points']}, with > 10% flat images "
          f"{f.get('points_too_flat', 'n/a')}")
    for space, pairs in r.get("matched", {}).items():
        for k, v in pairs.items():
            print(f"HV ratio at matched ω ({len(v['omegas'])} points) {space} {k}: {fmt_stats(v['ratio'])}"
                  f"{front.fmt_paired(v.get('paired'))}")
    s = r["seconds"]
    print(f"train cpu per seed: ParetoSlider {s['paretoslider']['train_cpu_per_seed']:.0f}s, fixed (7 runs) "
          f"{s['fixed']['train_cpu_per_seed']:.0f}s (ratio {s['compute_ratio_paretoslider_vs_fixed']:.2f}); "
          f"this invocation {s['this_invocation']:.0f}s; estimated on 2 free cores "
          f"{s['estimated_wall_on_2_free_cores'] / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())
