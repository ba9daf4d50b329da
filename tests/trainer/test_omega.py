"""Preference sampling for training."""
import torch

from trainer.rl.omega import sample_omegas


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_two_objectives_corners_and_dirichlet():
    w = sample_omegas(20000, 2, _gen(), corner_prob=0.1)
    assert torch.allclose(w.sum(1), torch.ones(len(w)))
    assert (w >= 0).all()
    corner = (w.max(1).values == 1.0)
    assert abs(corner.float().mean().item() - 0.1) < 0.01
    inner = w[~corner, 0]
    # Dirichlet(1, 1) = uniform on the segment: mean ½, variance 1/12
    assert abs(inner.mean().item() - 0.5) < 0.01
    assert abs(inner.var().item() - 1 / 12) < 0.005


def test_three_objectives_vertices_edges_interior_mix():
    w = sample_omegas(20000, 3, _gen(1), vertex_prob=0.1, edge_prob=0.3)
    assert torch.allclose(w.sum(1), torch.ones(len(w)), atol=1e-6)
    nonzero = (w > 0).sum(1)
    assert abs((nonzero == 1).float().mean().item() - 0.1) < 0.01
    assert abs((nonzero == 2).float().mean().item() - 0.3) < 0.015
    assert abs((nonzero == 3).float().mean().item() - 0.6) < 0.015
    # every objective gets its share of vertices
    vert = w[nonzero == 1].argmax(1)
    assert torch.bincount(vert, minlength=3).min() > 500


def test_fixed_preference_is_constant_and_normalised():
    w = sample_omegas(5, 2, _gen(), fixed=[1.0, 3.0])
    assert torch.allclose(w, torch.tensor([[0.25, 0.75]]).expand(5, 2))


def test_sampling_is_reproducible_from_the_generator():
    assert torch.equal(sample_omegas(64, 3, _gen(7)), sample_omegas(64, 3, _gen(7)))
    assert not torch.equal(sample_omegas(64, 3, _gen(7)), sample_omegas(64, 3, _gen(8)))
