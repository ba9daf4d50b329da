"""Sampling preference vectors ω on the simplex for training.

2 objectives: with probability `corner_prob` a corner ((1,0) or (0,1)), else Dirichlet(1, 1)
(= uniform on the segment). ≥3 objectives: a vertex (one-hot) with `vertex_prob`, an edge point
(two random objectives, uniform mix) with `edge_prob`, else an interior point from Dirichlet(1,…,1)
(defaults 50% / 35% / 15%, as the reference ParetoSlider).
All randomness comes from the given torch.Generator (bit-identical resume).
"""
from __future__ import annotations

from typing import Sequence

import torch


def _dirichlet_ones(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    # Dirichlet(1,…,1) = normalised Exp(1) draws; written with the generator (torch's
    # Dirichlet sampler takes no generator).
    u = torch.rand(n, k, generator=generator, dtype=torch.float64).clamp(min=1e-12)
    e = -torch.log(u)
    return (e / e.sum(1, keepdim=True)).float()


def sample_omegas(n: int, num_objectives: int, generator: torch.Generator, corner_prob: float = 0.1,
                  vertex_prob: float = 0.5, edge_prob: float = 0.35,
                  fixed: Sequence[float] | None = None) -> torch.Tensor:
    """n preference vectors (n, K), rows on the simplex."""
    k = num_objectives
    if fixed is not None:
        w = torch.tensor(fixed, dtype=torch.float32)
        return (w / w.sum()).expand(n, k).clone()
    kind = torch.rand(n, generator=generator)
    interior = _dirichlet_ones(n, k, generator)
    pick = torch.randint(0, k, (n,), generator=generator)
    other = (pick + torch.randint(1, k, (n,), generator=generator)) % k
    mix = torch.rand(n, generator=generator)
    vertex = torch.nn.functional.one_hot(pick, k).float()
    if k == 2:
        return torch.where((kind < corner_prob)[:, None], vertex, interior)
    edge = torch.zeros(n, k)
    edge[torch.arange(n), pick] = mix
    edge[torch.arange(n), other] = 1 - mix
    out = torch.where((kind < vertex_prob)[:, None], vertex, interior)
    return torch.where(((kind >= vertex_prob) & (kind < vertex_prob + edge_prob))[:, None], edge, out)
