"""bench/front3: the simplex grid, the 7 fixed ω, and its metrics on hand-made fronts (no training)."""
from __future__ import annotations

import pytest

from bench import front3
from bench.toytask import evaluators


def test_the_grid_holds_every_fixed_run_omega_and_sums_to_one():
    grid = front3.simplex_grid()
    assert len(grid) == 28
    assert all(abs(sum(o) - 1) < 1e-12 and min(o) >= 0 for o in grid)
    for o in front3.FIXED_OMEGAS:
        assert front3.sixths(o) in grid
    assert front3.sixths((2, 2, 2)) == (1 / 3, 1 / 3, 1 / 3)


def _point(omega, base, gain, fidelity=0.7):
    """Scores that move each objective's two scores by gain × its own weight."""
    p = {"fidelity": fidelity, "accuracy": 1.0}
    for j, (h, t) in enumerate(zip(front3.HELDOUT, front3.TRAINING)):
        p[h] = base[h] + gain * omega[j]
        p[t] = base[t] + gain * omega[j]
    return p


def _evals(ps_gain, fixed_gain, low_fidelity_at=None):
    base = {k: 0.4 for k in front3.HELDOUT + front3.TRAINING}
    base["fidelity"] = 0.7
    grid = [list(o) for o in front3.simplex_grid()]
    fixed = [list(front3.sixths(o)) for o in front3.FIXED_OMEGAS]
    ps_pts = [_point(o, base, ps_gain, 0.1 if o == low_fidelity_at else 0.7) for o in grid]
    return [{"seed": 0, "base": base, "methods": {
        "paretoslider": {"w": grid, "points": ps_pts},
        "fixed": {"w": fixed, "points": [_point(o, base, fixed_gain) for o in fixed]}}}]


def test_metrics_coverage_spearman_and_ratio_on_a_known_front():
    m = front3.metrics(_evals(ps_gain=0.3, fixed_gain=0.2))
    for c in m["corner_coverage"]["paretoslider"].values():
        assert c["mean"] == pytest.approx(1.5)          # 0.3 / 0.2 at every vertex
    for k in front3.HELDOUT + front3.TRAINING:
        assert m["spearman"]["paretoslider"][k]["mean"] == pytest.approx(1.0)
    assert m["ratios"]["heldout_paretoslider_vs_fixed"]["of_means"] > 1.0
    assert m["fidelity"]["paretoslider"]["points_below_floor"] == 0


def test_points_below_the_floor_do_not_count_in_the_hypervolume():
    vertex = list(front3.sixths((1, 0, 0)))
    full = front3.metrics(_evals(0.3, 0.2))
    cut = front3.metrics(_evals(0.3, 0.2, low_fidelity_at=vertex))
    assert cut["fidelity"]["paretoslider"]["points_below_floor"] == 1
    assert cut["hypervolume"]["heldout"]["paretoslider"]["mean"] < full["hypervolume"]["heldout"]["paretoslider"]["mean"]


def test_the_third_heldout_evaluator_is_not_the_training_reward():
    import torch
    # a dark pixel with a slight colour cast: fully saturated in HSV (muted ≈ 0.9 · 0 = 0),
    # nearly achromatic in CIELAB (mutedness high)
    img = torch.zeros(1, 3, 2, 2)
    img[:, 0] = 0.06
    img[:, 1] = 0.05
    muted = evaluators.training_rewards(evaluators.OBJECTIVES3)["muted"](img, [""])
    assert float(muted) < 0.05
    assert float(evaluators.mutedness(img)) > 0.8
