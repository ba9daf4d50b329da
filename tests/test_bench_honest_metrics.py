"""Honest benchmark metrics (issue 26, item 5) on small hand-made inputs: the flat-image check beside the
fidelity floor, and hypervolumes compared only at the ω both methods were scored at."""
from __future__ import annotations

import pytest
import torch

from bench import front3, matched_hv
from bench.toytask import flatness
from tests.test_bench_front3 import _evals


def test_flat_fields_are_flagged_and_shapes_are_not():
    grey = torch.full((1, 3, 16, 16), 0.4)
    square = grey.clone()
    square[:, 0, 4:12, 4:12], square[:, 1:, 4:12, 4:12] = 0.9, 0.1          # a red square on grey
    half = torch.zeros(1, 3, 16, 16)
    half[..., 8:] = 1.0                                                       # black | white
    noisy = grey + 0.004 * torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    faint = square * 0.05                                                     # the square, darkened 20×
    images = torch.cat([grey, square, half, noisy, faint])
    c = flatness.contrast(images)
    # half black (L* 0) and half white (L* 100), a* = b* = 0: the RMS distance from the mean is 50 ΔE
    assert c[2].item() == pytest.approx(50.0, abs=0.05)
    assert c[0].item() == pytest.approx(0.0, abs=1e-3)
    assert flatness.flat(images).tolist() == [1.0, 0.0, 0.0, 1.0, 1.0]


def test_a_washed_out_vertex_cannot_count_even_above_the_fidelity_floor():
    vertex = list(front3.sixths((0, 0, 1)))
    clean = _evals(0.3, 0.2)
    washed = _evals(0.3, 0.2)
    for e in (clean, washed):
        for m in e[0]["methods"].values():
            for p in m["points"]:
                p["flat"] = 0.0
    ps = washed[0]["methods"]["paretoslider"]
    ps["points"][ps["w"].index(vertex)]["flat"] = 0.5            # half its images flat, fidelity fine
    a, b = front3.metrics(clean), front3.metrics(washed)
    assert b["fidelity"]["paretoslider"]["points_below_floor"] == 0
    assert b["fidelity"]["paretoslider"]["points_too_flat"] == 1
    assert b["points_counted"]["paretoslider"] == a["points_counted"]["paretoslider"] - 1 == 27
    assert b["hypervolume"]["heldout"]["paretoslider"]["mean"] < a["hypervolume"]["heldout"]["paretoslider"]["mean"]
    assert a["flat_measured"] and not front3.metrics(_evals(0.3, 0.2))["flat_measured"]
    assert matched_hv.counts({"fidelity": 0.9, "flat": 0.1}, 0.5)              # at most 10%: counts
    assert not matched_hv.counts({"fidelity": 0.9, "flat": 0.11}, 0.5)
    assert not matched_hv.counts({"fidelity": 0.4, "flat": 0.0}, 0.5)


def _pt(x, y, fidelity=1.0):
    return {"x": x, "y": y, "fidelity": fidelity}


def test_hypervolumes_are_compared_at_the_omegas_both_were_scored_at_by_hand():
    # B (fixed runs) at ω 0, .25, .5, 1; A (a slider) on a grid without .25, with .25 as an extra point
    b = {"w": [0.0, 0.25, 0.5, 1.0], "points": [_pt(2, 1), _pt(1.8, 1.2), _pt(1.5, 1.5), _pt(1, 2)]}
    a = {"w": [0.0, 0.1, 0.5, 0.7, 1.0], "points": [_pt(2, 1), _pt(2.5, 2.5), _pt(1.6, 1.6), _pt(1.2, 2.2), _pt(1, 2)],
         "extra": {"w": [0.25], "points": [_pt(1.8, 1.2)]}}
    evals = [{"seed": 0, "methods": {"a": a, "b": b}}]
    m = matched_hv.matched(evals, "a", "b", ["x", "y"], [0.0, 0.0], floor=0.5)
    assert sorted(m["omegas"]) == [0.0, 0.25, 0.5, 1.0]
    # staircases from the reference (0, 0), x descending:
    # B: 2·1 + 1.8·(1.2 − 1) + 1.5·(1.5 − 1.2) + 1·(2 − 1.5) = 3.31
    # A at the same ω: 2·1 + 1.8·0.2 + 1.6·(1.6 − 1.2) + 1·(2 − 1.6) = 3.40 (its 2.5, 2.5 at ω .1 is not B's ω)
    assert m["b"] == [pytest.approx(3.31)]
    assert m["a"] == [pytest.approx(3.40)]
    assert m["ratio"] == [pytest.approx(3.40 / 3.31)]
    unmatched = matched_hv.hypervolume_of(a["points"], ["x", "y"], [0.0, 0.0], 0.5)
    assert unmatched == pytest.approx(2.5 * 2.5)                     # (2.5, 2.5) dominates all of them
    b["points"][2]["fidelity"] = 0.1                                 # B's ω .5 below the floor: not counted
    low = matched_hv.matched(evals, "a", "b", ["x", "y"], [0.0, 0.0], floor=0.5)
    assert low["b"] == [pytest.approx(2 + 1.8 * 0.2 + 1 * 0.8)]
    evals[0]["methods"]["c"] = {"w": [0.3], "points": [_pt(1, 1)]}
    with pytest.raises(ValueError, match="no common ω"):
        matched_hv.matched(evals, "c", "b", ["x", "y"], [0.0, 0.0], 0.5)


def test_three_objective_metrics_report_the_ratio_at_the_fixed_runs_omegas():
    m = front3.metrics(_evals(ps_gain=0.3, fixed_gain=0.2))
    mt = m["matched"]["heldout"]["paretoslider_vs_fixed"]
    assert len(mt["omegas"]) == 7
    assert sorted(map(tuple, mt["omegas"])) == sorted(tuple(round(w, 6) for w in front3.sixths(o))
                                                      for o in front3.FIXED_OMEGAS)
    # the slider's 28 points cover more than its own 7: the matched ratio is the smaller one
    assert 1.0 < mt["ratio"]["mean"] < m["ratios"]["heldout_paretoslider_vs_fixed"]["of_means"]


def test_paired_ratio_statistics_count_seeds_and_give_a_t_interval_of_the_log_ratio():
    import math
    from bench.matched_hv import paired
    p = paired([1.1, 0.9, 1.0, None])
    assert p["seeds"] == 3 and p["seeds_at_least_1"] == 2
    logs = [math.log(1.1), math.log(0.9), 0.0]
    m = sum(logs) / 3
    sd = math.sqrt(sum((v - m) ** 2 for v in logs) / 2)
    half = 4.303 * sd / math.sqrt(3)                     # t(0.975, 2 df)
    assert p["geometric_mean"] == pytest.approx(math.exp(m))
    assert p["ci95"] == pytest.approx([math.exp(m - half), math.exp(m + half)])
    assert paired([1.2])["ci95"] is None                  # one seed: no interval
