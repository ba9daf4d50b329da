"""Pareto-front utilities for evaluating ParetoSliders. Every objective is MAXIMISED.

- non_dominated(points) → mask of the points no other point dominates;
- hypervolume(points, reference) → the volume dominated by the points and bounded below by a
  FIXED reference point (exact: a sweep in 2-D, recursive slicing in n-D, fine for the tens of
  points an ω sweep gives). Compare runs only with the same reference point;
- spearman(x, y) → rank correlation (does a score move monotonically with ω?).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _as_points(points) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValueError(f"points must be (N, K), got shape {p.shape}")
    if p.size and not np.isfinite(p).all():
        raise ValueError("points contain NaN or infinity")
    return p


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a dominates b: at least as good everywhere and strictly better somewhere (maximisation)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(a >= b) and np.any(a > b))


def non_dominated(points) -> np.ndarray:
    """Boolean mask (N,) of the non-dominated points. Duplicates of a front point are all kept."""
    p = _as_points(points)
    ge = (p[:, None, :] >= p[None, :, :]).all(-1)      # ge[i, j]: i ≥ j everywhere
    gt = (p[:, None, :] > p[None, :, :]).any(-1)
    dominated_by = ge & gt                              # [i, j]: i dominates j
    return ~dominated_by.any(0)


def pareto_front(points) -> np.ndarray:
    """Indices of the non-dominated points, sorted by the first objective (descending)."""
    p = _as_points(points)
    idx = np.flatnonzero(non_dominated(p))
    return idx[np.argsort(-p[idx, 0], kind="stable")]


def _hv2d(p: np.ndarray, ref: np.ndarray) -> float:
    # sort by x descending; each point adds the strip between its y and the best y so far
    order = np.lexsort((-p[:, 1], -p[:, 0]))
    total, best_y = 0.0, ref[1]
    for x, y in p[order]:
        if y > best_y:
            total += (x - ref[0]) * (y - best_y)
            best_y = y
    return total


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    k = p.shape[1]
    if len(p) == 0:
        return 0.0
    if k == 1:
        return float(p[:, 0].max() - ref[0])
    if k == 2:
        return _hv2d(p, ref)
    # slice along the last objective: between consecutive levels, the dominated region is the
    # (k-1)-D hypervolume of the points that reach at least the upper level
    levels = np.unique(p[:, -1])[::-1]
    total = 0.0
    for i, top in enumerate(levels):
        below = levels[i + 1] if i + 1 < len(levels) else ref[-1]
        total += (top - below) * _hv(p[p[:, -1] >= top, :-1], ref[:-1])
    return total


def hypervolume(points, reference: Sequence[float]) -> float:
    """Volume of the region dominated by `points` and dominating `reference` (maximisation).

    Points that do not strictly beat the reference in every objective add nothing (they are
    dropped). Exact; cost grows like N^(K-1), fine for K ≤ 4 and a few hundred points."""
    p = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    if p.shape[0] and p.shape[1] != ref.shape[0]:
        raise ValueError(f"reference has {ref.shape[0]} values for {p.shape[1]} objectives")
    if not np.isfinite(ref).all():
        raise ValueError("reference point contains NaN or infinity")
    p = p[(p > ref).all(1)] if p.size else p
    if not len(p):
        return 0.0
    p = p[non_dominated(p)]
    return float(_hv(p, ref))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation in [-1, 1] (ties get average ranks); NaN when either input is
    constant or shorter than 2."""
    from scipy.stats import spearmanr
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"spearman needs two 1-D sequences of the same length, got {x.shape} and {y.shape}")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
