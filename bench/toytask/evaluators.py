"""Held-out evaluators and the training rewards of the toy benchmark, in one place.

Training rewards (from the product's registry, trainer/rewards/image.py):
    brightness  = mean BT.601 luma                      (objective 0)
    saturation  = mean HSV saturation                   (objective 1)
Held-out evaluators (never seen by training; frozen here so a registry change cannot move them):
    lightness      = mean CIELAB L* / 100 (sRGB -> linear -> Y -> L*), a different colour space
    colourfulness  = Hasler-Suesstrunk colourfulness / 100 (opponent rg/yb statistics):
                     dark images that game HSV saturation score low here, flat fields score 0.
"""
from __future__ import annotations

import torch

OBJECTIVES = ("brightness", "saturation")          # training rewards, ω index order
HELDOUT = ("lightness", "colourfulness")            # held-out evaluator i pairs with objective i


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def lightness(images: torch.Tensor) -> torch.Tensor:
    """Mean CIELAB L* / 100 per image (D65)."""
    lin = srgb_to_linear(images.clamp(0, 1).double())
    y = 0.2126 * lin[:, 0] + 0.7152 * lin[:, 1] + 0.0722 * lin[:, 2]
    eps = (6 / 29) ** 3
    f = torch.where(y > eps, y.clamp_min(eps) ** (1 / 3), y / (3 * (6 / 29) ** 2) + 4 / 29)
    return ((116 * f - 16) / 100).flatten(1).mean(1).float()


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) M on the 0-255 scale, divided by 100."""
    x = images.clamp(0, 1).double() * 255
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    m = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False)) \
        + 0.3 * torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return (m / 100).float()


def training_rewards() -> dict:
    """The two training rewards from the product's registry, keyed by objective name."""
    import trainer.rewards.image  # noqa: F401  (registers brightness / saturation)
    from trainer.rewards.registry import build_reward
    return {"brightness": build_reward({"id": "brightness", "mode": "luma"}),
            "saturation": build_reward("saturation")}


def heldout_scores(images: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"lightness": lightness(images), "colourfulness": colourfulness(images)}
