"""Procedurally rendered 16x16 RGB images: one coloured shape on a grey background.

12 prompts = 3 shapes x 4 colours ("red circle", ..., "yellow triangle"). Everything is
generated from a torch.Generator, so a seed reproduces the data exactly; nothing is downloaded.
Images are in [0, 1], shape (B, 3, 16, 16). Shapes are rendered at 4x resolution and
average-pooled, so edges are anti-aliased.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
PROMPTS = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)   # index = shape * 4 + colour
SIZE = 16
_SUPER = 4

_RGB = torch.tensor([[0.90, 0.15, 0.15],    # red
                     [0.15, 0.75, 0.20],    # green
                     [0.15, 0.25, 0.90],    # blue
                     [0.90, 0.85, 0.15]])   # yellow


def prompt_index(prompt: str) -> int:
    try:
        return PROMPTS.index(prompt.strip().lower())
    except ValueError:
        raise ValueError(f"unknown toy prompt {prompt!r}; the toy task knows {', '.join(PROMPTS)}") from None


def shape_of(label: torch.Tensor) -> torch.Tensor:
    return label // len(COLOURS)


def colour_of(label: torch.Tensor) -> torch.Tensor:
    return label % len(COLOURS)


def render(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (B, 3, 16, 16) in [0, 1] for prompt indices `labels` (B,)."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    b = labels.shape[0]
    g = generator

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(b, *shape, generator=g)

    n = SIZE * _SUPER
    coords = (torch.arange(n, dtype=torch.float32) + 0.5) / _SUPER        # pixel units
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    r = u(4.0, 6.0)                                                       # "radius" in pixels
    cx = u(0, 1) * (SIZE - 2 * r - 1) + r + 0.5
    cy = u(0, 1) * (SIZE - 2 * r - 1) + r + 0.5
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    rr = r[:, None, None]
    circle = dx ** 2 + dy ** 2 <= rr ** 2
    square = (dx.abs() <= 0.82 * rr) & (dy.abs() <= 0.82 * rr)
    # isosceles triangle, apex up: height 2r, base 2r
    t = (dy + rr) / (2 * rr)                                              # 0 at apex, 1 at base
    triangle = (t >= 0) & (t <= 1) & (dx.abs() <= t * rr)
    shape = shape_of(labels)[:, None, None]
    mask = torch.where(shape == 0, circle, torch.where(shape == 1, square, triangle)).float()
    mask = F.avg_pool2d(mask[:, None], _SUPER)                            # (B, 1, 16, 16)

    colour = _RGB[colour_of(labels)] * u(0.8, 1.0, 1) + u(-0.06, 0.06, 3)
    grey = u(0.25, 0.55, 1) + u(-0.03, 0.03, 3)
    img = grey[:, :, None, None] * (1 - mask) + colour[:, :, None, None] * mask
    return img.clamp(0, 1)


def batch(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n random (image, label) pairs with balanced-in-expectation labels."""
    labels = torch.randint(0, len(PROMPTS), (n,), generator=generator)
    return render(labels, generator), labels
