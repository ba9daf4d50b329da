"""Honest hypervolume comparisons for the toy benchmarks (issue 26, item 5).

- Matched ω: a method scored at more ω points covers more of the front by construction (the
  three-objective record compared ParetoSlider's 28 points with the fixed runs' 7: 1.142 held-out; at
  the same 7 ω, about 1.015). `matched` compares two methods only on the ω both were scored at.
- Counting: a point counts only if its fidelity passes the floor AND at most `MAX_FLAT` of its images
  are flat fields (`bench/toytask/flatness.py`); a record made before the flat check has no "flat"
  score, and then only the floor applies (`flat_measured` says which).

A method's points are `{"w": [ω, ...], "points": [{score: mean, ...}, ...]}`, as bench/front.py and
bench/front3.py record them, optionally with `"extra"` of the same form (ω scored only for matching,
e.g. ParetoSlider at the fixed runs' 0.25 and 0.75, kept out of its plotted front).
"""
from __future__ import annotations

from collections.abc import Sequence

from bench.toytask.flatness import MAX_FLAT


def _key(w) -> tuple:
    """ω as a hashable key, rounded so that 0.25 from a grid and from a list meet."""
    ws = w if isinstance(w, (list, tuple)) else [w]
    return tuple(round(float(x), 6) for x in ws)


def points_by_omega(method: dict) -> dict[tuple, dict]:
    """{ω key: point} over the method's front and its extra matching points."""
    out = {}
    for part in (method, method.get("extra") or {}):
        for w, p in zip(part.get("w", []), part.get("points", [])):
            out.setdefault(_key(w), p)
    return out


def counts(point: dict, floor: float, max_flat: float = MAX_FLAT) -> bool:
    """A point counts when its fidelity passes the floor and few enough of its images are flat."""
    return point["fidelity"] >= floor and point.get("flat", 0.0) <= max_flat


# two-sided 95% quantiles of Student's t by degrees of freedom (beyond 20: 20's, slightly wide)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086}


def paired(ratios: Sequence[float | None]) -> dict:
    """Paired statistics of per-seed ratios a/b (same seed, same evaluation noise): how many seeds have
    a ≥ b, and the 95% t-interval of the mean log-ratio, as ratios (None with fewer than 2 seeds)."""
    import math
    r = [x for x in ratios if x is not None and x > 0]
    out = {"seeds": len(r), "seeds_at_least_1": sum(1 for x in r if x >= 1.0), "ci95": None}
    if len(r) >= 2:
        logs = [math.log(x) for x in r]
        mean = sum(logs) / len(logs)
        sd = math.sqrt(sum((v - mean) ** 2 for v in logs) / (len(logs) - 1))
        half = _T975[min(len(r) - 1, 20)] * sd / math.sqrt(len(r))
        out.update(geometric_mean=math.exp(mean), ci95=[math.exp(mean - half), math.exp(mean + half)])
    return out


def flat_measured(evals: Sequence[dict]) -> bool:
    return all("flat" in p for e in evals for m in e["methods"].values() for p in m["points"])


def hypervolume_of(points: Sequence[dict], keys: Sequence[str], ref: Sequence[float], floor: float,
                   max_flat: float = MAX_FLAT) -> float:
    from trainer.evaluation.pareto import hypervolume
    ok = [[p[k] for k in keys] for p in points if counts(p, floor, max_flat)]
    return hypervolume(ok, ref) if ok else 0.0


def matched(evals: Sequence[dict], a: str, b: str, keys: Sequence[str], ref: Sequence[float], floor: float,
            max_flat: float = MAX_FLAT) -> dict:
    """Per seed: a's and b's hypervolume over the ω they were both scored at, and a / b.

    {"omegas": the shared ω (of the first seed), "a": [hv per seed], "b": [...], "ratio": [a/b or None]}.
    Raises ValueError when two methods share no ω in some seed (nothing to compare)."""
    out = {"omegas": None, "a": [], "b": [], "ratio": []}
    for e in evals:
        pa, pb = points_by_omega(e["methods"][a]), points_by_omega(e["methods"][b])
        shared = [w for w in pb if w in pa]
        if not shared:
            raise ValueError(f"seed {e.get('seed')}: {a} and {b} were scored at no common ω")
        if out["omegas"] is None:
            out["omegas"] = [list(w) if len(w) > 1 else w[0] for w in shared]
        ha = hypervolume_of([pa[w] for w in shared], keys, ref, floor, max_flat)
        hb = hypervolume_of([pb[w] for w in shared], keys, ref, floor, max_flat)
        out["a"].append(ha)
        out["b"].append(hb)
        out["ratio"].append(ha / hb if hb > 0 else None)
    return out
