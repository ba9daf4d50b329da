"""The numbers of a sweep: per-ω means and spreads, the hypervolume, the non-dominated ω, Spearman.

    summary = summarize(sweep_result, reference=[0.0, 0.0], objective_names=["bright", "sat"])
    meta.front = front_metadata(summary)            # the compact front a ParetoSlider file carries

Everything here is JSON-ready (eval.json is `summary` as it is). The maths is trainer.evaluation.pareto's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UserError
from .pareto import hypervolume, non_dominated, spearman
from .sweep import SweepResult

__all__ = ["front_metadata", "summarize"]


def _reference(pts: np.ndarray, names: Sequence[str], reference: Sequence[float] | None,
               base_mean: dict[str, float] | None) -> tuple[np.ndarray, str]:
    """The hypervolume reference point and where it came from."""
    if reference is not None:
        ref = np.asarray([float(v) for v in reference], dtype=np.float64)
        if ref.shape[0] != len(names):
            raise UserError(f"the reference point has {ref.shape[0]} values for {len(names)} scorers "
                            f"({', '.join(names)})")
        return ref, "given"
    allp = pts if base_mean is None else np.vstack([pts, [[base_mean[n] for n in names]]])
    return allp.min(0), ("per-scorer minimum over the measured points" + (" and the base model" if base_mean else "")
                         + "; pass --reference to compare runs on a fixed point")


def _nan_to_none(x: float):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def summarize(result: SweepResult, reference: Sequence[float] | None = None,
              objective_names: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON-ready numbers: per-ω mean/std, hypervolume of the per-ω means, front membership.

    No `reference`: the per-scorer minimum of the measured points (and of the base model), which
    makes the hypervolume of two runs incomparable; give a fixed point to compare runs."""
    names = list(result.scores)
    omega = result.omega
    k = omega.shape[1]
    objective_names = list(objective_names or [f"objective_{j}" for j in range(k)])
    mean = {n: result.scores[n].mean(1) for n in names}
    std = {n: result.scores[n].std(1, unbiased=False) for n in names}
    pts = np.stack([mean[n].numpy() for n in names], 1).astype(np.float64)     # (N, M)
    base_mean = ({n: float(result.base_scores[n].mean()) for n in names}
                 if result.base_scores is not None else None)
    ref, ref_source = _reference(pts, names, reference, base_mean)
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


def front_metadata(summary: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compact `front` stored in the file's metadata (what the nodes plot)."""
    front = {k: summary[k] for k in ("omega", "scores", "std", "scorers", "hypervolume", "reference")}
    if summary.get("base"):
        front["base"] = {n: v["mean"] for n, v in summary["base"].items()}
    front.update(extra or {})
    return front
