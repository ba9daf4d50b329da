"""The flat-image check of the benchmark: a point whose images are flat fields cannot count, whatever
its fidelity (issue 26: the three-objective "muted" vertex kept a 0.34 fidelity with half its images
flat dark fields; a reward hacked by destroying the image must not widen the front).

An image is flat when its pixels' RMS CIELAB distance from the image's own mean colour is below
`FLAT_DELTA_E` (5 ΔE*ab, about two just-noticeable differences: no visible shape). Measured on the toy
base model (96 eval images, noise seed 1234): the lowest is 11.0 ΔE, the median 32; the same images
darkened ten-fold have a median of 2.7. A point counts in the hypervolume only if at most `MAX_FLAT`
of its images are flat (the base model: none).
"""
from __future__ import annotations

import torch

from .evaluators import cielab

FLAT_DELTA_E = 5.0          # RMS ΔE*ab from the image's mean colour below this: a flat field
MAX_FLAT = 0.10             # a point with more flat images than this does not count


def contrast(images: torch.Tensor) -> torch.Tensor:
    """RMS CIELAB distance (ΔE*ab, CIE76) of each image's pixels from its mean colour, (N,)."""
    L, a, b = cielab(images)
    var = sum(c.flatten(1).var(1, unbiased=False) for c in (L, a, b))
    return torch.sqrt(var).float()


def flat(images: torch.Tensor, threshold: float = FLAT_DELTA_E) -> torch.Tensor:
    """1.0 for each image that is a flat field, else 0.0 (N,): its mean over a point is the flat fraction."""
    return (contrast(images) < threshold).float()
