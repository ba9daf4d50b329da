"""Quality against inference cost, on one chart (issue 26, item 6): which slider to use, and when.

    python -m bench.cost_chart          # bench/results/quality_vs_cost.png + the markdown table

Drawn only from numbers already recorded (nothing is trained or timed here):
- quality: held-out hypervolume of the two-objective CPU front bench, mean [min, max] over its seeds
  (bench/results/front.json, `hypervolume.heldout.<method>`; every method scored at the same 11 ω);
- cost per denoising step: model calls per step (ParetoSlider and soups 1; blend and MSDDA one per LoRA,
  m = 2 here) and the measured time per step / the base model's at SD3.5 Medium width
  (bench/results/runtime.json, `methods_per_step_ratio.real_width.<method>`);
- cost when ω moves: re-queue time at a new ω / at the same ω, same model
  (`methods_requeue_ratio.real_width.<method>`; soups re-patch the weights, the others re-patch nothing).
ParetoSlider's costs are those of the file kind its record trained: one shared LoRA (`paretoslider`: ω only
in the embedding, nothing re-patched) or per-objective LoRAs (`paretoslider_per_objective`: a soup of its
LoRAs, re-patched when ω moves). With `front_shared_lora.json` beside front.json (the shared-LoRA
ParetoSlider on the same seeds: `python -m bench.front --fixed-from ...`), both appear.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

METHODS = ("paretoslider", "soups", "blend", "msdda")
# a chart point: (the method in its front record, the file kind's method in runtime.json)
LABELS = {"paretoslider": "ParetoSlider, one LoRA (trained)",
          "paretoslider_per_objective": "ParetoSlider, per-objective LoRAs (trained)",
          "soups": "rewarded soups (2 LoRAs, weights mixed)", "blend": "Diffusion Blend (2 LoRAs)",
          "msdda": "MSDDA (2 LoRAs)"}
COLOURS = {"paretoslider": "#ff7f0e", "paretoslider_per_objective": "#d62728", "soups": "#2ca02c",
           "blend": "#9467bd", "msdda": "#8c564b"}
# model calls per denoising step with m objectives (m LoRAs for the training-free methods)
CALLS = {"paretoslider": lambda m: 1, "paretoslider_per_objective": lambda m: 1, "soups": lambda m: 1,
         "blend": lambda m: m, "msdda": lambda m: m}
RE_PATCH = ("soups", "paretoslider_per_objective")      # moving ω re-patches the weights


def slider_kind(front: dict) -> str:
    """The runtime method of the ParetoSlider file a front record trained."""
    per_objective = (front["protocol"].get("slider_overrides") or {}).get("lora", {}).get("per_objective")
    return "paretoslider_per_objective" if per_objective else "paretoslider"


def chart_points(front: dict, runtime: dict, width: str = "real_width", shared: dict | None = None,
                 names: tuple[str, str] = ("front.json", "front_shared_lora.json")) -> list[dict]:
    """One dict per point: held-out HV (mean, min, max over seeds), model calls per step, the per-step and
    re-queue time ratios, and where each number was read. `shared`: a record of the shared-LoRA ParetoSlider
    on the same seeds, drawn too."""
    m = len(front["protocol"]["training_rewards"])
    rows = [(front, names[0], meth, slider_kind(front) if meth == "paretoslider" else meth) for meth in METHODS]
    if shared is not None:
        rows.insert(1, (shared, names[1], "paretoslider", slider_kind(shared)))
    out = []
    for record, name, meth, kind in rows:
        hv = record["hypervolume"]["heldout"][meth]
        out.append({
            "method": kind, "hv": hv["mean"], "hv_min": hv["min"], "hv_max": hv["max"], "seeds": len(hv["per_seed"]),
            "calls_per_step": CALLS[kind](m),
            "step_ratio": runtime["methods_per_step_ratio"][width][kind],
            "requeue_ratio": runtime["methods_requeue_ratio"][width][kind],
            "requeue_extra_s": runtime["details"]["methods"][width]["methods"][kind]["requeue"]["extra_s"],
            "sources": {"hv": f"{name} hypervolume.heldout.{meth}",
                        "step_ratio": f"runtime.json methods_per_step_ratio.{width}.{kind}",
                        "requeue_ratio": f"runtime.json methods_requeue_ratio.{width}.{kind}",
                        "requeue_extra_s": f"runtime.json details.methods.{width}.methods.{kind}.requeue.extra_s"}})
    return out


def markdown(points: list[dict], model: str) -> str:
    lines = [f"| method | held-out HV, mean [min, max] over {points[0]['seeds']} seeds | model calls per step | "
             f"time per step / base ({model}) | re-queue at a new ω / same ω (extra s) |", "|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {LABELS[p['method']]} | {p['hv']:.4f} [{p['hv_min']:.4f}, {p['hv_max']:.4f}] | "
                     f"{p['calls_per_step']} | {p['step_ratio']:.2f} | {p['requeue_ratio']:.2f} "
                     f"({p['requeue_extra_s']:+.2f} s) |")
    return "\n".join(lines)


def plot(points: list[dict], path: Path, model: str) -> Path:
    """Two panels sharing the HV axis: per-step cost (time ratio; the label gives the calls per step) and
    re-queue cost when ω moves. Error bars: the seeds' range."""
    from trainer.evaluation.plots import pyplot, save_figure
    fig, axes = pyplot().subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, key, xlabel in ((axes[0], "step_ratio", f"time per denoising step / base model ({model})"),
                            (axes[1], "requeue_ratio", "re-queue time after moving ω / at the same ω")):
        for p in points:
            yerr = [[p["hv"] - p["hv_min"]], [p["hv_max"] - p["hv"]]]
            ax.errorbar([p[key]], [p["hv"]], yerr=yerr, fmt="o", ms=8, capsize=4, color=COLOURS[p["method"]],
                        label=LABELS[p["method"]])
            note = f"{p['calls_per_step']} call{'s' if p['calls_per_step'] > 1 else ''}/step" \
                if key == "step_ratio" else ("re-patch" if p["method"] in RE_PATCH else "no re-patch")
            dy = 6 if p["method"] == "msdda" else -4          # msdda and blend share an x: keep labels apart
            ax.annotate(note, (p[key], p["hv"]), textcoords="offset points", xytext=(8, dy), fontsize=8,
                        color=COLOURS[p["method"]])
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    for ax, key in zip(axes, ("step_ratio", "requeue_ratio")):
        xs = [p[key] for p in points]
        ax.set_xlim(min(0.95, min(xs) - 0.05), max(xs) + 0.25 * (max(xs) - min(0.95, min(xs))) + 0.05)
    axes[0].set_ylabel("held-out hypervolume (CPU toy front bench, ↑)")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Quality against inference cost (recorded: bench/results/front.json, runtime.json); "
                 "up and left is better", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=str(RESULTS), help="folder with front.json and runtime.json")
    ap.add_argument("--out", default=str(RESULTS / "quality_vs_cost.png"))
    args = ap.parse_args(argv)
    res = Path(args.results)
    front = json.loads((res / "front.json").read_text())
    runtime = json.loads((res / "runtime.json").read_text())
    shared_path = res / "front_shared_lora.json"
    shared = json.loads(shared_path.read_text()) if shared_path.is_file() else None
    model = "SD3.5 Medium width"
    points = chart_points(front, runtime, shared=shared)
    plot(points, Path(args.out), model)
    print(markdown(points, model))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
