"""pareto_core.schedule: ω as a function of sampling progress or σ."""
from __future__ import annotations

import pytest
import torch

from pareto_core import PreferenceError
from pareto_core.schedule import OmegaSchedule, omega_now, parse_keypoints, progress, start_end_schedule

A, B = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def test_a_constant_schedule_is_its_omega_bit_for_bit():
    w = torch.tensor([0.3, 0.7])
    s = start_end_schedule(w, w.clone(), "smoothstep")
    assert s.is_constant
    for p in (0.0, 0.33, 0.5, 1.0):
        assert torch.equal(s.at(p), w)


@pytest.mark.parametrize("curve,mid", [("linear", 0.5), ("smoothstep", 0.5), ("ease_in", 0.25),
                                       ("ease_out", 0.75), ("step", 1.0)])
def test_start_end_curves(curve, mid):
    s = start_end_schedule(A, B, curve)
    assert torch.equal(s.at(0.0), A) and torch.equal(s.at(1.0), B)
    assert s.at(0.5)[1].item() == pytest.approx(mid)
    assert s.at(0.25)[1].item() <= s.at(0.75)[1].item()


def test_keypoints_are_linear_between_and_constant_outside():
    s = parse_keypoints("# a comment\n0.2: 1, 0\n\n0.6: 0, 1\n", "percent")
    assert s.positions == (0.2, 0.6)
    assert torch.equal(s.at(0.0), A) and torch.equal(s.at(1.0), B)
    assert s.at(0.4).tolist() == pytest.approx([0.5, 0.5])
    assert s.at(0.5).tolist() == pytest.approx([0.25, 0.75])


def test_progress_follows_the_samplers_sigmas():
    sig = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])    # 4 steps at σ 1, .75, .5, .25
    assert [progress(v, sig) for v in (1.0, 0.75, 0.5, 0.25)] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert progress(0.625, sig) == pytest.approx(0.5)  # a second-order sampler's midpoint
    assert progress(0.3, None) == pytest.approx(0.7)   # outside a sampler: 1 − σ


def test_omega_now_reads_the_calls_sigma():
    s = parse_keypoints("0.2: 0, 1\n0.8: 1, 0", "sigma")
    assert torch.equal(omega_now(s, torch.tensor([0.9, 0.9])), A)
    assert omega_now(s, torch.tensor([0.5])).tolist() == pytest.approx([0.5, 0.5])
    plain = torch.tensor([0.4, 0.6])
    assert omega_now(plain, torch.tensor([0.5])) is plain


def test_a_sweep_start_broadcasts_to_one_row_per_sample():
    starts = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    s = start_end_schedule(starts, torch.tensor([0.5, 0.5]))
    assert s.at(0.5).shape == (3, 2) and s.at(1.0).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("text,msg", [("0.5 1, 0", "has no ':'"), ("x: 1, 0", "'x' is not a number"),
                                      ("1.5: 1, 0", "outside 0..1"), ("", "keypoints are empty"),
                                      ("0: 1, 0\n0: 0, 1", "distinct and increasing"),
                                      ("0: 1, 0\n1: 0, 0, 1", "different numbers of weights")])
def test_bad_keypoints_say_what_is_wrong(text, msg):
    with pytest.raises(PreferenceError, match=msg):
        parse_keypoints(text, "percent")


def test_unknown_axis_or_curve():
    with pytest.raises(PreferenceError, match="axis"):
        OmegaSchedule((0.0,), (A,), "steps")
    with pytest.raises(PreferenceError, match="curve"):
        start_end_schedule(A, B, "cubic")
