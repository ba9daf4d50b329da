"""pareto_core.combine: the soups / blend / MSDDA math the nodes, the trainer and the bench share."""
from __future__ import annotations

import pytest
import torch

from pareto_core.combine import gaussian_product, msdda_step, sde_step, sum_deltas, weighted_sum


def test_soups_sum_the_weighted_deltas_over_the_union_of_modules():
    a = {"q": torch.ones(2, 2), "k": torch.full((2, 2), 2.0)}
    b = {"q": torch.full((2, 2), 4.0)}
    out = sum_deltas([(0.25, a), (0.75, b)])
    assert torch.equal(out["q"], torch.full((2, 2), 3.25)) and torch.equal(out["k"], torch.full((2, 2), 0.5))


def test_weighted_sum_with_one_weight_per_term_and_one_row_per_sample():
    t0, t1 = torch.zeros(3, 2, 4), torch.ones(3, 2, 4)
    assert torch.equal(weighted_sum([0.3, 0.7], [t0, t1]), torch.full((3, 2, 4), 0.7))
    rows = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    out = weighted_sum(rows, [t0, t1])
    assert [float(out[i].mean()) for i in range(3)] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="3 weights for 2 terms"):
        weighted_sum([0.2, 0.3, 0.5], [t0, t1])


def test_blending_denoised_outputs_blends_velocities():
    """x0_j = x − σ v_j and Σ w = 1: Σ w_j x0_j = x − σ Σ w_j v_j (why the nodes blend x0)."""
    g = torch.Generator().manual_seed(0)
    x, v0, v1 = (torch.randn(2, 4, generator=g) for _ in range(3))
    sigma = 0.6
    x0 = weighted_sum([0.3, 0.7], [x - sigma * v0, x - sigma * v1])
    assert torch.allclose(x0, x - sigma * weighted_sum([0.3, 0.7], [v0, v1]), atol=1e-6)


def test_msdda_step_is_the_sde_step_of_the_blended_velocity():
    """The derivation in docs/LORA_SLIDERS.md: equal step variances multiply to the weighted mean,
    and the SDE mean is linear in v."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 8, generator=g)
    vs = [torch.randn(3, 8, generator=g) for _ in range(3)]
    w = [0.2, 0.5, 0.3]
    s, sn = torch.full((3,), 0.7), torch.full((3,), 0.5)
    mean, std = msdda_step(x, list(zip(w, vs)), s, sn, 0.7, 0.9)
    want_mean, want_std = sde_step(x, weighted_sum(w, vs), s, sn, 0.7, 0.9)
    assert torch.allclose(mean, want_mean, atol=1e-6) and torch.allclose(std, want_std, atol=1e-7)
    general, _ = gaussian_product([(wi, *sde_step(x, v, s, sn, 0.7, 0.9)) for wi, v in zip(w, vs)])
    assert torch.allclose(mean, general)
    at_vertex, _ = msdda_step(x, [(1.0, vs[0]), (0.0, vs[1])], s, sn, 0.7, 0.9)
    assert torch.allclose(at_vertex, sde_step(x, vs[0], s, sn, 0.7, 0.9)[0], atol=1e-6)
    det, det_std = msdda_step(x, list(zip(w, vs)), s, sn, 0.0, 0.9)
    assert torch.allclose(det, x + (sn - s)[:, None] * weighted_sum(w, vs), atol=1e-6) and not det_std.any()
