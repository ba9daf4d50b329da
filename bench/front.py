"""Does ONE ParetoSlider run learn the front that five fixed-weight runs cover? (CPU toy task)

    python -m bench.front                      # the full benchmark (3 seeds; ~40 min on 2 cores)
    python -m bench.front --seeds 0 --steps 6  # a quick check of the pipeline

Protocol (fixed before the full run; docs/BENCHMARK.md explains every choice):
- task: bench/toytask (16x16 RGB coloured shapes, 12 prompts, a 1.3 M-parameter SD3 transformer
  pretrained by flow matching); training rewards brightness (BT.601 luma) vs saturation (HSV);
  held-out evaluators lightness (CIELAB L*) vs colourfulness (Hasler-Suesstrunk); fidelity = the
  shape+colour classifier's probability of the prompt's class.
- scalar ω = the weight on saturation: ω = 0 is (brightness 1, saturation 0), ω = 1 the reverse.
- methods, per seed, all trained by the product's trainer (`trainer.run.train.run`), same settings:
    fixed        5 runs at ω in {0, .25, .5, .75, 1}, S steps each          (compute 5S)
    paretoslider 1 ω-conditioned run, 2S steps                               (2/5 of the fixed runs)
    paretoslider_1of5  the same run at step S (its checkpoint; resumed to 2S) (1/5)
    soups        LoRA deltas + preference vectors of the two end runs interpolated with ω
    blend        velocities of the two end runs blended with ω at every sampling step
    msdda        the two end runs' Gaussian SDE steps combined in closed form at every step (MSDDA)
- evaluation: 11 ω points, the same 96 noise tensors (8 per prompt, seed 1234) for every method
  and seed, 10 Euler steps (MSDDA: 10 SDE steps with fixed step noise); per point the mean of every score over the 96 images.
- hypervolume with a fixed reference point (half the base model's mean on each axis), counting
  only points whose fidelity is >= 80% of the base model's and with at most 10% flat-field images
  (bench/toytask/flatness.py); compared at MATCHED ω too (bench/matched_hv.py: ParetoSlider is also
  scored at the fixed runs' 0.25 / 0.75, kept out of its plotted front); Spearman of each score against its
  own weight; corner coverage = ParetoSlider's gain over the base at ω = 0 / ω = 1 as a fraction of
  the matching fixed run's gain (on the reward that corner optimises; held-out gains reported too).
Writes bench/results/front.json, front.png, strip.png (and runs/ under --work); prints ratios last.
`--matched` prints the matched-ω ratios of a recorded front.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

SEEDS = (0, 1, 2)
FIXED_W = (0.0, 0.25, 0.5, 0.75, 1.0)          # scalar ω (weight on saturation) of the fixed runs
EVAL_POINTS = 11
EVAL_NOISE_SEED = 1234
EVAL_PER_PROMPT = 8
SAMPLE_STEPS = 10
FLOOR_FRACTION = 0.8
REF_FRACTION = 0.5
STRIP_PROMPTS = ("red circle", "blue triangle", "green square")
TRAINING = ("brightness", "saturation")
HELDOUT = ("lightness", "colourfulness")
OBJECTIVE_SPECS: list[dict] | None = None     # the trainer's objectives (None: bench.toytask.task's default)
TASK = "brightness_saturation"
# the tasks: (training rewards, held-out evaluators, the trainer's objectives by name in bench.toytask.task)
TASKS = {"brightness_saturation": (("brightness", "saturation"), ("lightness", "colourfulness"), None),
         "red_blue": (("red", "blue"), ("lab_red", "lab_blue"), "OBJECTIVES_HUES")}


def use_task(name: str) -> None:
    """Point the module at a task (the main process and every worker call it before any work): its
    training rewards, held-out evaluators and trainer objectives. Objective 0 is the ω = 0 end."""
    global TASK, TRAINING, HELDOUT, OBJECTIVE_SPECS
    from bench.toytask import task
    training, heldout, specs = TASKS[name]
    TASK, TRAINING, HELDOUT = name, training, heldout
    OBJECTIVE_SPECS = getattr(task, specs) if specs else None


def weights_name() -> str:
    """"brightness/saturation": how ω is written on the plots (the weights of objectives 0 / 1)."""
    return "/".join(TRAINING)
METHODS = ("paretoslider", "paretoslider_1of5", "fixed", "soups", "blend", "msdda")
BASELINES = ("fixed", "soups", "blend", "msdda")      # what ParetoSlider is compared with
END_RUN_METHODS = ("soups", "blend", "msdda")       # built from the two end fixed runs, no training
SLIDERS = ("paretoslider", "paretoslider_1of5")    # scored at the fixed runs' ω too, for matched comparisons


def omega_vec(w: float) -> list[float]:
    return [1.0 - w, w]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _init_worker(threads: int, task: str = "brightness_saturation") -> None:
    torch.set_num_threads(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    use_task(task)


# ----------------------------------------------------------------------------- training jobs

def _timed_train(out_dir: Path, steps: int, seed: int, fixed, name: str, resume=None, checkpoint_every=0,
                 overrides: dict | None = None) -> dict:
    from bench.toytask import task
    w0, c0 = time.time(), time.process_time()
    kw = {**({"objectives": OBJECTIVE_SPECS} if OBJECTIVE_SPECS else {}), **(overrides or {})}
    path = task.train(out_dir, steps, seed, fixed, name=name, resume=resume, checkpoint_every=checkpoint_every, **kw)
    return {"path": str(path), "wall": time.time() - w0, "cpu": time.process_time() - c0}


def job_fixed(work: str, seed: int, w: float, steps: int, overrides: dict | None) -> dict:
    out = Path(work) / f"seed{seed}" / f"fixed_{w:.2f}"
    r = _timed_train(out, steps, seed, omega_vec(w), "fixed.safetensors", overrides=overrides)
    r = {"kind": "fixed", "seed": seed, "w": w, "steps": steps, "overrides": overrides or {}, **r}
    (out / "timing.json").write_text(json.dumps(r))
    return r


def job_paretoslider(work: str, seed: int, steps: int, overrides: dict | None) -> dict:
    """S steps -> export (the 1/5 budget), checkpoint, resume -> 2S steps -> export (2/5)."""
    out = Path(work) / f"seed{seed}" / "paretoslider"
    first = _timed_train(out, steps, seed, None, "ps_1of5.safetensors", checkpoint_every=steps,
                         overrides=overrides)
    second = _timed_train(out, 2 * steps, seed, None, "ps.safetensors", resume="latest",
                          checkpoint_every=2 * steps, overrides=overrides)
    r = {"kind": "paretoslider", "seed": seed, "path_1of5": first["path"], "path": second["path"],
         "wall_1of5": first["wall"], "cpu_1of5": first["cpu"], "steps": 2 * steps, "overrides": overrides or {},
         "wall": first["wall"] + second["wall"], "cpu": first["cpu"] + second["cpu"]}
    (out / "timing.json").write_text(json.dumps(r))
    return r


# ----------------------------------------------------------------------------- evaluation

class Scorer:
    """Every score of a batch: the training rewards, the held-out evaluators, the fidelity."""

    def __init__(self, training: tuple[str, ...] = TRAINING, heldout: tuple[str, ...] = HELDOUT):
        from bench.toytask import classifier, evaluators, flatness
        self.flatness = flatness
        self.rewards = evaluators.training_rewards(training)
        self.heldout = heldout
        self.evaluators = evaluators
        self.net = classifier.load()
        self.classifier = classifier

    def __call__(self, images: torch.Tensor, prompts: list[str], labels: torch.Tensor) -> dict[str, np.ndarray]:
        out = {name: fn(images, prompts).numpy() for name, fn in self.rewards.items()}
        out.update({k: v.numpy() for k, v in self.evaluators.heldout_scores(images, self.heldout).items()})
        prob, acc = self.classifier.fidelity(self.net, images, labels)
        out["fidelity"], out["accuracy"] = prob.numpy(), acc.numpy()
        out["flat"] = self.flatness.flat(images).numpy()        # its mean: the point's flat-image fraction
        return out


def _summ(scores: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.mean(v)) for k, v in scores.items()}


def _methods(bb, runs: dict) -> dict:
    """Every method of one seed as (its ω points, w → what is sampled at w, how the terms combine): a
    list of (weight, backbone, policy parts) terms for bench.toytask.sampling.sample."""
    from bench.toytask import sampling, task
    grid = [i / (EVAL_POINTS - 1) for i in range(EVAL_POINTS)]
    fixed = {w: sampling.load_piece(p) for w, p in runs["fixed"].items()}
    ps, ps5 = sampling.load_piece(runs["paretoslider"]), sampling.load_piece(runs["paretoslider_1of5"])
    end0, end1 = fixed[0.0], fixed[1.0]
    bb1 = task.backbone()    # blend / MSDDA: a second backbone holds the other end run (no swapping per step)

    def two(w):    # the two end runs, each on its own backbone (blend and MSDDA)
        return [(1 - w, bb, [(1.0, end0)]), (w, bb1, [(1.0, end1)])]
    return {
        "paretoslider": (grid, lambda w: [(1.0, bb, [(1.0, ps)])], "blend"),
        "paretoslider_1of5": (grid, lambda w: [(1.0, bb, [(1.0, ps5)])], "blend"),
        "fixed": (list(FIXED_W), lambda w: [(1.0, bb, [(1.0, fixed[w])])], "blend"),
        "soups": (grid, lambda w: [(1.0, bb, [(1 - w, end0), (w, end1)])], "blend"),
        "blend": (grid, two, "blend"),
        "msdda": (grid, two, "msdda"),
    }


class ScoredSampler:
    """The benchmark's evaluation set-up, shared by bench/front.py and bench/front3.py: one backbone,
    the fixed eval set and schedule, the scorer; `self(terms, omega)` → (mean scores, the images of
    the first sample of each prompt in `keep_prompts`)."""

    def __init__(self, training: tuple[str, ...], heldout: tuple[str, ...], keep_prompts: tuple[str, ...]):
        from bench.toytask import sampling, task
        self.sampling = sampling
        self.scorer = Scorer(training, heldout)
        self.bb = task.backbone()
        self.es = sampling.make_eval_set(self.bb, EVAL_PER_PROMPT, EVAL_NOISE_SEED)
        self.sigmas = self.bb.sigmas(SAMPLE_STEPS)
        self.rows = [i for i, p in enumerate(self.es.prompts) if p in keep_prompts and i % EVAL_PER_PROMPT == 0]

    def __call__(self, terms, omega, combine: str = "blend") -> tuple[dict, torch.Tensor]:
        x = self.sampling.sample(terms, self.es, torch.tensor(omega, dtype=torch.float32), self.sigmas, combine)
        images = self.bb.decode(x)
        return _summ(self.scorer(images, self.es.prompts, self.es.labels)), images[self.rows]

    @property
    def kept_prompts(self) -> list[str]:
        return [self.es.prompts[i] for i in self.rows]


def job_eval(work: str, seed: int, runs: dict, keep_strip: bool) -> dict:
    """Every method of one seed on the same ω grid and the same noise."""
    t0 = time.time()
    scored = ScoredSampler(TRAINING, HELDOUT, STRIP_PROMPTS)
    bb = scored.bb

    def run(terms, w, combine="blend") -> tuple[dict, torch.Tensor]:
        return scored(terms, omega_vec(w), combine)

    result = {"seed": seed, "methods": {}, "strip": {}, "eval_seconds": {}}
    result["base"], result["strip"]["base"] = run([(1.0, bb, [])], 0.5)    # the base model (ω off, no LoRA)
    for name, (ws, terms, combine) in _methods(bb, runs).items():
        t = time.time()
        pts, imgs = zip(*[run(terms(w), w, combine) for w in ws])
        result["methods"][name] = {"w": list(ws), "points": list(pts)}
        result["strip"][name] = torch.stack(imgs)
        extra = [w for w in FIXED_W if name in SLIDERS and w not in ws]     # matched-ω points (not plotted)
        if extra:
            result["methods"][name]["extra"] = {"w": extra, "points": [run(terms(w), w, combine)[0] for w in extra]}
        result["eval_seconds"][name] = time.time() - t
    result["seconds"] = time.time() - t0
    if keep_strip:
        result["strip_prompts"] = scored.kept_prompts
    else:
        result.pop("strip")
    return result


# ----------------------------------------------------------------------------- metrics

def _stats(values) -> dict:
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return {"mean": None, "min": None, "max": None, "per_seed": list(values)}
    return {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "per_seed": list(values)}


def hypervolume_over_seeds(evals: list[dict], method: str, keys, ref, floor: float) -> dict:
    """_stats of the method's hypervolume per seed on `keys`, over the points that count (the floor,
    and few flat images: bench.matched_hv.counts)."""
    from bench.matched_hv import hypervolume_of
    return _stats([hypervolume_of(e["methods"][method]["points"], keys, ref, floor) for e in evals])


def matched_over_seeds(evals: list[dict], pairs, spaces: dict, ref: dict, floor: float) -> dict:
    """{space: {"a_vs_b": {omegas, a, b (stats), ratio (stats, per seed)}}}: each pair at the ω both were
    scored at (bench.matched_hv.matched)."""
    from bench.matched_hv import matched, paired
    out = {}
    for space, keys in spaces.items():
        out[space] = {}
        for a, b in pairs:
            m = matched(evals, a, b, keys, ref[space], floor)
            out[space][f"{a}_vs_{b}"] = {"omegas": m["omegas"], "a": _stats(m["a"]), "b": _stats(m["b"]),
                                         "ratio": _stats(m["ratio"]), "paired": paired(m["ratio"])}
    return out


def fidelity_over_seeds(evals: list[dict], method: str, floor: float) -> tuple[dict, int]:
    """(fidelity per ω point over seeds with the lowest and the points below the floor, points counted)."""
    per_w = np.array([[p["fidelity"] for p in e["methods"][method]["points"]] for e in evals])   # seeds x points
    from bench.matched_hv import counts
    flat = np.array([[p.get("flat", 0.0) for p in e["methods"][method]["points"]] for e in evals])
    fid = {"w": evals[0]["methods"][method]["w"], "mean": per_w.mean(0).tolist(), "min": per_w.min(0).tolist(),
           "max": per_w.max(0).tolist(), "lowest": float(per_w.min()),
           "points_below_floor": int((per_w < floor).sum()), "points": int(per_w.size),
           "flat_mean": flat.mean(0).tolist(), "flat_max": float(flat.max()),
           "points_too_flat": int(sum(not counts({"fidelity": 1.0, "flat": f}, 0.0) for f in flat.ravel()))}
    n_counted = sum(counts(p, floor) for e in evals for p in e["methods"][method]["points"])
    return fid, int(n_counted)


def metrics(evals: list[dict]) -> dict:
    from trainer.evaluation.pareto import spearman
    base = evals[0]["base"]
    floor = FLOOR_FRACTION * base["fidelity"]
    ref = {"heldout": [REF_FRACTION * base[k] for k in HELDOUT],
           "training": [REF_FRACTION * base[k] for k in TRAINING]}
    hv = {"heldout": {}, "training": {}}
    fid, rho, counted = {}, {}, {}
    for m in METHODS:
        for space, keys in (("heldout", HELDOUT), ("training", TRAINING)):
            hv[space][m] = hypervolume_over_seeds(evals, m, keys, ref[space], floor)
        fid[m], counted[m] = fidelity_over_seeds(evals, m, floor)
        rho[m] = {}
        for k, j in zip(HELDOUT + TRAINING, (0, 1, 0, 1)):
            vals = []
            for e in evals:
                w = np.array(e["methods"][m]["w"])
                own = 1 - w if j == 0 else w           # the weight of the objective this score belongs to
                vals.append(spearman(own, [p[k] for p in e["methods"][m]["points"]]))
            rho[m][k] = _stats(vals)

    def corner(method: str, keyset) -> dict:
        out = {}
        for label, w, j in (("omega_0", 0.0, 0), ("omega_1", 1.0, 1)):
            k = keyset[j]
            vals = []
            for e in evals:
                pm = e["methods"][method]
                p = pm["points"][pm["w"].index(w)]
                f = e["methods"]["fixed"]["points"][list(FIXED_W).index(w)]
                gain_f = f[k] - e["base"][k]
                vals.append((p[k] - e["base"][k]) / gain_f if abs(gain_f) > 1e-9 else None)
            out[label] = {"score": k, **_stats(vals)}
        return out

    cc = {"paretoslider": corner("paretoslider", TRAINING),
          "paretoslider_heldout": corner("paretoslider", HELDOUT),
          "paretoslider_1of5": corner("paretoslider_1of5", TRAINING),
          "paretoslider_1of5_heldout": corner("paretoslider_1of5", HELDOUT)}

    def ratio(space, a, b) -> dict:
        per = [x / y if y > 0 else None for x, y in zip(hv[space][a]["per_seed"], hv[space][b]["per_seed"])]
        mean_b = hv[space][b]["mean"]
        from bench.matched_hv import paired
        return {"of_means": hv[space][a]["mean"] / mean_b if mean_b else None, **_stats(per), "paired": paired(per)}

    ratios = {f"{space}_{a}_vs_{b}": ratio(space, a, b) for space in ("heldout", "training")
              for a in ("paretoslider", "paretoslider_1of5") for b in BASELINES}
    from bench.matched_hv import flat_measured
    matched = matched_over_seeds(evals, [(a, b) for a in SLIDERS for b in BASELINES],
                                 {"heldout": HELDOUT, "training": TRAINING}, ref, floor)
    return {"floor": floor, "reference": ref, "hypervolume": hv, "fidelity": fid, "spearman": rho,
            "corner_coverage": cc, "ratios": ratios, "matched": matched, "flat_measured": flat_measured(evals),
            "points_counted": counted}


# ----------------------------------------------------------------------------- figures

COLOURS = {"paretoslider": "#d62728", "paretoslider_1of5": "#ff9896", "fixed": "#1f77b4",
           "soups": "#2ca02c", "blend": "#9467bd", "msdda": "#8c564b"}
LABELS = {"paretoslider": "ParetoSlider (2/5 compute)", "paretoslider_1of5": "ParetoSlider (1/5 compute)",
          "fixed": "fixed weights (5 runs)", "soups": "rewarded soups", "blend": "Diffusion Blend", "msdda": "MSDDA"}


def plot(evals: list[dict], m: dict, path: Path) -> None:
    from bench.matched_hv import counts
    from trainer.evaluation.plots import pyplot, save_figure
    from trainer.evaluation.sweep import omega_label
    fig, axes = pyplot().subplots(1, 3, figsize=(17, 5.2))
    floor = m["floor"]
    for ax, keys, space in ((axes[0], HELDOUT, "heldout"), (axes[1], TRAINING, "training")):
        for meth in METHODS:
            for si, e in enumerate(evals):
                pts = e["methods"][meth]["points"]
                xs = np.array([p[keys[0]] for p in pts])
                ys = np.array([p[keys[1]] for p in pts])
                ok = np.array([counts(p, floor) for p in pts])      # the floor and the flat-image check
                ls = "-" if meth != "fixed" else "--"
                ax.plot(xs, ys, ls, color=COLOURS[meth], alpha=0.85 if si == 0 else 0.35, lw=1.6 if si == 0 else 1,
                        label=LABELS[meth] if si == 0 else None)
                ax.scatter(xs[ok], ys[ok], color=COLOURS[meth], s=18 if si == 0 else 8,
                           alpha=0.9 if si == 0 else 0.4, zorder=3)
                ax.scatter(xs[~ok], ys[~ok], marker="x", color=COLOURS[meth], s=26, alpha=0.8, zorder=3)
        b = evals[0]["base"]
        ax.scatter([b[keys[0]]], [b[keys[1]]], marker="*", s=220, color="black", zorder=5, label="base model")
        r = m["reference"][space]
        ax.scatter([r[0]], [r[1]], marker="s", s=40, color="grey", zorder=5, label="HV reference")
        hv = m["hypervolume"][space]
        names = [f"{k.replace('paretoslider', 'PS').replace('_1of5', '1/5')} {hv[k]['mean']:.3g}" for k in METHODS]
        ax.set_title(f"{'held-out evaluators' if space == 'heldout' else 'training rewards'}  —  HV mean:\n"
                     + ", ".join(names), fontsize=8)
        ax.set_xlabel(f"{keys[0]} (↑)")
        ax.set_ylabel(f"{keys[1]} (↑)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    ax = axes[2]
    for meth in METHODS:
        f = m["fidelity"][meth]
        ax.plot(f["w"], f["mean"], "-o" if meth != "fixed" else "--s", color=COLOURS[meth], ms=4, label=LABELS[meth])
        ax.fill_between(f["w"], f["min"], f["max"], color=COLOURS[meth], alpha=0.12)
    ax.axhline(floor, color="black", ls=":", label=f"floor = {FLOOR_FRACTION:.0%} of base")
    ax.axhline(evals[0]["base"]["fidelity"], color="grey", ls="-", lw=0.8, label="base")
    ticks = [i / 5 for i in range(6)]        # ω as the evaluation writes it: the two objectives' weights
    ax.set_xticks(ticks, [omega_label([1 - w, w]) for w in ticks])
    ax.set_xlabel(f"ω = {weights_name()} weights")
    ax.set_ylabel("fidelity (classifier p(prompt's shape+colour))")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"CPU toy task{'' if TASK == 'brightness_saturation' else ' ' + TASK}, {len(evals)} seeds (faint lines: the seeds after the first; x = below the fidelity floor or "
                 "> 10% flat images, not counted in HV)\nHV = the area a front dominates above the ■ reference (half the base model's "
                 "mean on each axis)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def strip(e: dict, path: Path) -> None:
    """Rows: methods (per prompt); columns: ω = 1/0 … 0/1 (brightness/saturation weights, as the evaluation's
    strips write it; 11 points; fixed runs at their 5 points)."""
    from PIL import Image, ImageDraw

    from pareto_core.fonts import font
    from trainer.evaluation.plots import to_pil
    from trainer.evaluation.sweep import omega_label
    tile, pad, left, top = 48, 3, 205, 18
    grid = e["methods"]["paretoslider"]["w"]
    prompts = e["strip_prompts"]
    rows = []
    for pi, prompt in enumerate(prompts):
        rows.append((f"{prompt}: base", {0.5: e["strip"]["base"][pi]}))
        for meth in METHODS:
            imgs = e["strip"][meth]
            ws = e["methods"][meth]["w"]
            rows.append((f"  {LABELS[meth].split(' (')[0]}" + (" 1/5" if meth.endswith("1of5") else "")
                         + (" (.75/.25 → 0.8/0.2 ...)" if meth == "fixed" else ""),
                         {w: imgs[i][pi] for i, w in enumerate(ws)}))
    label_font = font(11)      # DejaVu: has ω
    left = max(left, int(max(label_font.getlength(r[0]) for r in rows)) + 10)    # no row label is cut off
    W = left + len(grid) * (tile + pad)
    H = top + len(rows) * (tile + pad) + 4
    canvas = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(canvas)
    for ci, w in enumerate(grid):      # ω as the evaluation writes it: the two objectives' weights
        d.text((left + ci * (tile + pad) + 4, 3), omega_label([1 - w, w]), fill="black", font=label_font)
    d.text((4, 3), f"ω = {weights_name()}", fill="black", font=label_font)
    for ri, (label, imgs) in enumerate(rows):
        y = top + ri * (tile + pad)
        d.text((4, y + tile // 2 - 6), label, fill="black", font=label_font)
        for w, img in imgs.items():
            ci = min(range(len(grid)), key=lambda i: abs(grid[i] - w))
            canvas.paste(to_pil(img).resize((tile, tile), Image.NEAREST), (left + ci * (tile + pad), y))
    canvas.save(path)


# ----------------------------------------------------------------------------- main: the steps

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--task", choices=sorted(TASKS), default="brightness_saturation",
                    help="brightness_saturation (the benchmark of record) or red_blue (the second task: red and "
                         "blue channel dominance, whose LoRAs interfere when added); its results go to "
                         "--out/<task>/ unless --out is given")
    ap.add_argument("--steps", type=int, default=40, help="steps of each fixed-weight run (S); ParetoSlider: 2S")
    ap.add_argument("--workers", type=int, default=2, help="parallel processes (1 torch thread each)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--work", default=str(ROOT / "runs" / "bench_front"), help="run folders (not committed)")
    ap.add_argument("--out", default=None, help="results folder (default bench/results, or bench/results/<task>)")
    ap.add_argument("--set", nargs="*", default=[], metavar="section.field=value",
                    help="trainer overrides for every run (for investigations; the full bench uses none)")
    ap.add_argument("--set-slider", nargs="*", default=[], metavar="section.field=value",
                    help="trainer overrides for the ParetoSlider run only, on top of --set (its own KL, "
                         "lora.per_objective, ω sampling; the fixed runs and so soups / blend / MSDDA keep --set)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse finished runs in --work trained with the same steps and overrides "
                         "(their recorded times are counted)")
    ap.add_argument("--fixed-from", default="",
                    help="reuse the fixed-weight runs of another --work folder (for an investigation that "
                         "only changes ParetoSlider's ω sampling: preference.* overrides do not touch fixed runs)")
    ap.add_argument("--table", action="store_true", help="print the markdown results table of --out/front.json")
    ap.add_argument("--plot", action="store_true", help="redraw --out/front.png from --out/front.json")
    ap.add_argument("--matched", action="store_true",
                    help="print the matched-ω hypervolume ratios of --out/front.json (recomputed from its fronts)")
    return ap.parse_args(argv)


def parse_overrides(items) -> dict:
    """`section.field=value` items as {section: {field: value}}, parsed as the trainer's --set is."""
    from trainer.config import apply_overrides
    return apply_overrides({}, list(items))


def merge_overrides(base: dict, extra: dict) -> dict:
    """{section: {field: value}} of `base` with `extra`'s fields on top."""
    return {sec: {**base.get(sec, {}), **extra.get(sec, {})} for sec in {*base, *extra}}


def _fixed_overrides(overrides: dict) -> dict:
    """ω-sampling overrides cannot change a fixed-weight run (its ω is constant; no random draw)."""
    fixed_ov = {sec: {k: v for k, v in d.items() if not (sec == "preference" and k.endswith("_prob"))}
                for sec, d in overrides.items()}
    return {sec: d for sec, d in fixed_ov.items() if d}


def _reusable(folder: Path, steps: int, ov: dict) -> dict | None:
    """The timing record of a finished run in `folder` trained with these steps and overrides."""
    t = folder / "timing.json"
    if not t.is_file():
        return None
    r = json.loads(t.read_text())
    if r.get("steps") != steps or r.get("overrides", {}) != ov:
        _log(f"not reusing {folder}: it was trained with other settings")
        return None
    return r


def _record(runs: dict, r: dict) -> None:
    """Note a finished (or reused) run's file(s) under its seed."""
    if r["kind"] == "fixed":
        runs[r["seed"]]["fixed"][r["w"]] = r["path"]
    else:
        runs[r["seed"]]["paretoslider"], runs[r["seed"]]["paretoslider_1of5"] = r["path"], r["path_1of5"]


def train_all(pool, args: argparse.Namespace, overrides: dict, slider_ov: dict) -> tuple[dict, list[dict]]:
    """Every run of every seed (reused where --reuse / --fixed-from allow): ({seed: files}, timing records).
    The ParetoSlider runs train with `slider_ov`, the fixed runs with `overrides`."""
    work = Path(args.work)
    runs = {s: {"fixed": {}} for s in args.seeds}
    jobs_info: list[dict] = []
    futs = []

    def reuse(r: dict, what: str) -> None:
        _record(runs, r)
        jobs_info.append({**r, "reused": True})
        _log(f"seed {r['seed']}: reusing {what} {r['path']}")

    for s in args.seeds:     # the long ParetoSlider chains first
        r = _reusable(work / f"seed{s}" / "paretoslider", 2 * args.steps, slider_ov) if args.reuse else None
        if r is not None:
            reuse(r, "ParetoSlider run")
            continue
        futs.append(pool.submit(job_paretoslider, str(work), s, args.steps, slider_ov))
    fixed_work = Path(args.fixed_from) if args.fixed_from else work
    fixed_ov = _fixed_overrides(overrides)
    for s in args.seeds:
        for w in sorted(FIXED_W, key=lambda w: (w not in (0.0, 1.0), w)):   # the end runs first
            r = (_reusable(fixed_work / f"seed{s}" / f"fixed_{w:.2f}", args.steps, fixed_ov)
                 if (args.reuse or args.fixed_from) else None)
            if r is not None:
                reuse(r, f"fixed run ω={w:.2f}")
                continue
            futs.append(pool.submit(job_fixed, str(work), s, w, args.steps, overrides))
    for f in as_completed(futs):
        r = f.result()
        jobs_info.append(r)
        _record(runs, r)
        if r["kind"] == "fixed":
            _log(f"seed {r['seed']}: fixed ω={r['w']:.2f} done in {r['wall']:.0f}s wall / {r['cpu']:.0f}s cpu")
        else:
            _log(f"seed {r['seed']}: ParetoSlider done in {r['wall']:.0f}s wall / {r['cpu']:.0f}s cpu "
                 f"(1/5 point after {r['wall_1of5']:.0f}s)")
    return runs, jobs_info


def evaluate_all(pool, args: argparse.Namespace, runs: dict) -> list[dict]:
    """job_eval per seed (the first keeps its images for the strip)."""
    efuts = [pool.submit(job_eval, args.work, s, runs[s], i == 0) for i, s in enumerate(args.seeds)]
    evals = [f.result() for f in efuts]
    for e in evals:
        _log(f"seed {e['seed']}: evaluation {e['seconds']:.0f}s")
    return evals


def seconds(jobs_info: list[dict], evals: list[dict], n_seeds: int, total: float, t_train: float) -> dict:
    """Training time per method and seed (soups/blend/msdda: their two end runs) and the invocation's totals."""
    secs = {}
    for meth in METHODS:
        tr_wall = tr_cpu = 0.0
        for r in jobs_info:
            fixed_all = meth == "fixed" and r["kind"] == "fixed"
            ends = meth in END_RUN_METHODS and r["kind"] == "fixed" and r["w"] in (0.0, 1.0)
            if fixed_all or ends or (meth == "paretoslider" and r["kind"] == "paretoslider"):
                tr_wall += r["wall"]
                tr_cpu += r["cpu"]
            elif meth == "paretoslider_1of5" and r["kind"] == "paretoslider":
                tr_wall += r["wall_1of5"]
                tr_cpu += r["cpu_1of5"]
        n = max(n_seeds, 1)
        secs[meth] = {"train_wall_per_seed": tr_wall / n, "train_cpu_per_seed": tr_cpu / n,
                      "eval_per_seed": float(np.mean([e["eval_seconds"][meth] for e in evals])),
                      "note": "soups/blend/msdda reuse the two end fixed runs (no training of their own)"
                      if meth in END_RUN_METHODS else ""}
    secs["this_invocation"] = total
    secs["training_phase_this_invocation"] = t_train
    cpu_all = sum(r["cpu"] for r in jobs_info)
    eval_all = sum(e["seconds"] for e in evals)
    secs["all_runs_train_cpu"] = cpu_all
    secs["all_runs_train_wall_sum"] = sum(r["wall"] for r in jobs_info)
    secs["eval_wall_sum"] = eval_all
    secs["reused_runs"] = sum(1 for r in jobs_info if r.get("reused"))
    # what the whole benchmark costs on 2 free cores with 2 one-thread workers (CPU-bound processes)
    secs["estimated_wall_on_2_free_cores"] = (cpu_all + eval_all) / 2
    secs["total_bench"] = total
    return secs


def build_report(args: argparse.Namespace, overrides: dict, evals: list[dict], m: dict, secs: dict,
                 slider_ov: dict | None = None) -> dict:
    """front.json: the protocol as run, the metrics, the timings and every seed's fronts."""
    from bench.toytask import task
    return {
        "task": "bench/toytask: 16x16 coloured shapes, 12 prompts, 1.3M-param SD3 transformer (pixel space)",
        "protocol": {"seeds": args.seeds, "fixed_steps_S": args.steps, "paretoslider_steps": 2 * args.steps,
                     "paretoslider_1of5_steps": args.steps, "fixed_omegas": list(FIXED_W),
                     "task": TASK,
                     "omega": f"scalar ω = weight on {TRAINING[1]}; ω vector = (1-ω, ω) over ({', '.join(TRAINING)})",
                     "eval_points": EVAL_POINTS, "eval_images_per_point": 12 * EVAL_PER_PROMPT,
                     "eval_noise_seed": EVAL_NOISE_SEED, "sample_steps": SAMPLE_STEPS,
                     "floor": f"fidelity >= {FLOOR_FRACTION} x base fidelity",
                     "reference": f"{REF_FRACTION} x base mean on each axis",
                     "training_rewards": list(TRAINING), "heldout": list(HELDOUT),
                     "trainer": {"train": {**task.TRAIN, **overrides.get("train", {})},
                                 "lora": {**task.LORA, **overrides.get("lora", {})},
                                 "preference": {**task.PREFERENCE, **overrides.get("preference", {})}},
                     "slider_overrides": slider_ov or overrides,
                     "workers": args.workers, "threads_per_worker": args.threads},
        "seeds": args.seeds,
        "base": evals[0]["base"],
        **m,
        "seconds": secs,
        "fronts": {str(e["seed"]): e["methods"] for e in evals},
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out is None:
        args.out = str(RESULTS if args.task == "brightness_saturation" else RESULTS / args.task)
    use_task(args.task)
    if args.table or args.matched or args.plot:       # a recorded report: its own task
        use_task(json.loads((Path(args.out) / "front.json").read_text())["protocol"].get("task", args.task))
    if args.table:
        print(markdown_table(json.loads((Path(args.out) / "front.json").read_text())))
        return 0
    if args.matched:
        r = json.loads((Path(args.out) / "front.json").read_text())
        print(matched_table(recorded_evals(r), r, {"heldout": HELDOUT, "training": TRAINING},
                            [(a, b) for a in SLIDERS for b in BASELINES]))
        return 0
    if args.plot:
        r = json.loads((Path(args.out) / "front.json").read_text())
        evals = recorded_evals(r)
        plot(evals, r, Path(args.out) / "front.png")
        return 0
    t_start = time.time()
    overrides = parse_overrides(args.set)
    slider_ov = merge_overrides(overrides, parse_overrides(args.set_slider))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _log(f"front bench: seeds {args.seeds}, S = {args.steps} steps per fixed run, ParetoSlider 2S = "
         f"{2 * args.steps}, {args.workers} workers x {args.threads} threads, overrides {overrides or 'none'}, "
         f"ParetoSlider's {slider_ov or 'none'}")
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(args.threads, args.task)) as pool:
        runs, jobs_info = train_all(pool, args, overrides, slider_ov)
        t_train = time.time() - t_start
        _log(f"training finished after {t_train:.0f}s; evaluating")
        evals = evaluate_all(pool, args, runs)
    m = metrics(evals)
    total = time.time() - t_start
    report = build_report(args, overrides, evals, m, seconds(jobs_info, evals, len(args.seeds), total, t_train),
                          slider_ov)
    (out / "front.json").write_text(json.dumps(report, indent=1))
    plot(evals, m, out / "front.png")
    strip(evals[0], out / "strip.png")
    _log(f"wrote {out / 'front.json'}, {out / 'front.png'}, {out / 'strip.png'} (total {total:.0f}s)")
    print_ratios(report)
    return 0


# ----------------------------------------------------------------------------- tables

def fmt_paired(p: dict | None) -> str:
    """" | ≥ 1 on 4/5 seeds, 95% CI [0.98, 1.06]" (paired over seeds), or "" for one seed / old records."""
    if not p or p["seeds"] < 2:
        return ""
    return f" | ≥ 1 on {p['seeds_at_least_1']}/{p['seeds']} seeds, 95% CI [{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}]"


def fmt_stats(s: dict, nd: int = 3) -> str:
    """mean [min, max] over seeds, or n/a."""
    return "n/a" if s.get("mean") is None else f"{s['mean']:.{nd}f} [{s['min']:.{nd}f}, {s['max']:.{nd}f}]"


def markdown_table(r: dict) -> str:
    """The results table of docs/BENCHMARK.md / README, from front.json."""
    lines = [(f"| method | training steps per seed | HV held-out | HV training | Spearman {HELDOUT[0]} / {HELDOUT[1]} "
              f"| fidelity: lowest point (floor {r['floor']:.3f}) | points below floor |"),
             "|---|---|---|---|---|---|---|"]
    S = r["protocol"]["fixed_steps_S"]
    steps = {"paretoslider": f"{2 * S} (2/5)", "paretoslider_1of5": f"{S} (1/5)", "fixed": f"5 × {S}",
             **{m: f"(the 2 end runs, 2 × {S})" for m in END_RUN_METHODS}}
    for m in METHODS:
        sp = r["spearman"][m]
        fd = r["fidelity"][m]
        lines.append(f"| {LABELS[m]} | {steps[m]} | {fmt_stats(r['hypervolume']['heldout'][m], 4)} | "
                     f"{fmt_stats(r['hypervolume']['training'][m], 4)} | {fmt_stats(sp[HELDOUT[0]], 2)} / {fmt_stats(sp[HELDOUT[1]], 2)} | "
                     f"{fd['lowest']:.3f} | {fd['points_below_floor']}/{fd['points']} |")
    b = r["base"]
    lines.append(f"| base model | 0 | — | — | — | {b['fidelity']:.3f} | — |")
    lines.append("")
    lines.append("| ratio (ParetoSlider 2/5 unless noted) | ratio of means | per seed mean [min, max] | target |")
    lines.append("|---|---|---|---|")
    targets = {**{f"heldout_paretoslider_vs_{b}": "≥ 1.0" for b in BASELINES},
               "training_paretoslider_vs_fixed": "≥ 0.9"}
    for k, v in r["ratios"].items():
        if not k.startswith(("heldout_paretoslider_vs", "training_paretoslider_vs", "heldout_paretoslider_1of5_vs_fixed",
                             "training_paretoslider_1of5_vs_fixed")):
            continue
        om = "n/a" if v["of_means"] is None else f"{v['of_means']:.3f}"
        lines.append(f"| HV {k.replace('_', ' ')} | {om} | {fmt_stats(v)} | {targets.get(k, '')} |")
    for k, v in r["corner_coverage"].items():
        for end in ("omega_0", "omega_1"):
            e = v[end]
            tgt = "≥ 0.8" if k == "paretoslider" else ""
            lines.append(f"| corner coverage {k.replace('_', ' ')} at ω = {end[-1]} ({e['score']}) | — | {fmt_stats(e)} | {tgt} |")
    return "\n".join(lines)


def recorded_evals(r: dict) -> list[dict]:
    """A recorded front.json / front3.json's fronts in the form `metrics` takes."""
    return [{"seed": int(k), "methods": v, "base": r["base"]} for k, v in r["fronts"].items()]


def matched_table(evals: list[dict], r: dict, spaces: dict, pairs) -> str:
    """Markdown: each pair's hypervolume ratio at matched ω, next to the recorded (unmatched) one."""
    m = matched_over_seeds(evals, pairs, spaces, r["reference"], r["floor"])
    from bench.matched_hv import flat_measured
    lines = [f"flat-image check: {'applied' if flat_measured(evals) else 'not in this record (floor only)'}", "",
             "| HV ratio | matched ω | matched: per seed mean [min, max] | per seed | recorded (all of each one's ω) |",
             "|---|---|---|---|---|"]
    for space in spaces:
        for k, v in m[space].items():
            rec = r.get("ratios", {}).get(f"{space}_{k}")
            per = ", ".join("n/a" if x is None else f"{x:.3f}" for x in v["ratio"]["per_seed"])
            lines.append(f"| {space} {k.replace('_', ' ')} | {len(v['omegas'])} | {fmt_stats(v['ratio'])} | {per} | "
                         f"{fmt_stats(rec) if rec else '—'} |")
    return "\n".join(lines)


def print_ratios(r: dict) -> None:
    print("\n=== results (mean [min, max] over seeds) ===")
    for space in ("heldout", "training"):
        print(f"hypervolume {space}: " + "; ".join(f"{k} {fmt_stats(v)}" for k, v in r["hypervolume"][space].items()))
    fp = r["fidelity"]["paretoslider"]
    print(f"fidelity floor {r['floor']:.3f} (base {r['base']['fidelity']:.3f}); ParetoSlider lowest point "
          f"{fp['lowest']:.3f}, points below floor: {fp['points_below_floor']}/{fp['points']}")
    for meth in METHODS:
        print(f"spearman {meth}: " + "; ".join(f"{k} {fmt_stats(v)}" for k, v in r["spearman"][meth].items()))
    secs = r["seconds"]
    print("seconds per seed (train cpu): " + "; ".join(
        f"{k} {v['train_cpu_per_seed']:.0f}" for k, v in secs.items() if isinstance(v, dict)))
    print(f"this invocation {secs['this_invocation']:.0f}s wall ({secs['reused_runs']} runs reused); all runs: "
          f"{secs['all_runs_train_cpu']:.0f}s training CPU, {secs['all_runs_train_wall_sum']:.0f}s summed wall; "
          f"estimated wall on 2 free cores {secs['estimated_wall_on_2_free_cores'] / 60:.1f} min")
    print("\n=== ratios (targets: HV held-out PS/fixed, PS/soups, PS/blend, PS/msdda >= 1.0; HV training PS/fixed >= 0.9; "
          "corner coverage >= 0.8; Spearman >= 0.95; no PS point below floor) ===")
    for k, v in r["ratios"].items():
        print(f"HV ratio {k}: ratio of means {v['of_means']:.3f}" if v["of_means"] is not None else f"HV ratio {k}: n/a",
              f"| per seed {fmt_stats(v)}{fmt_paired(v.get('paired'))}")
    for k, v in r["corner_coverage"].items():
        print(f"corner coverage {k}: ω=0 ({v['omega_0']['score']}) {fmt_stats(v['omega_0'])}; "
              f"ω=1 ({v['omega_1']['score']}) {fmt_stats(v['omega_1'])}")
    ps = r["spearman"]["paretoslider"]
    print(f"spearman ParetoSlider: {HELDOUT[0]} {fmt_stats(ps[HELDOUT[0]])}, {HELDOUT[1]} {fmt_stats(ps[HELDOUT[1]])}")
    f = r["fidelity"]["paretoslider"]
    print(f"ParetoSlider points below the fidelity floor: {f['points_below_floor']} of {f['points']}; "
          f"with > 10% flat images: {f.get('points_too_flat', 'n/a')}")
    for space, pairs in r.get("matched", {}).items():
        for k, v in pairs.items():
            print(f"HV ratio at matched ω ({len(v['omegas'])} points) {space} {k}: {fmt_stats(v['ratio'])}"
                  f"{fmt_paired(v.get('paired'))}")


if __name__ == "__main__":
    sys.exit(main())
