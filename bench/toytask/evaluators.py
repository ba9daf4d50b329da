"""Held-out evaluators and the training rewards of the toy benchmark, in one place.

Training rewards (from the product's registry, trainer/rewards/image.py):
    brightness  = mean BT.601 luma                      (objective 0)
    saturation  = mean HSV saturation                   (objective 1)
    muted       = mean (1 - luma)(1 - HSV saturation)   (objective 2, the three-objective bench only)
Held-out evaluators (never seen by training; frozen here so a registry change cannot move them):
    lightness      = mean CIELAB L* / 100 (sRGB -> linear -> Y -> L*), a different colour space
    colourfulness  = Hasler-Suesstrunk colourfulness / 100 (opponent rg/yb statistics):
                     dark images that game HSV saturation score low here, flat fields score 0.
    mutedness      = mean over pixels of (1 - L*/100)(1 - min(C*ab/100, 1)): dark AND achromatic in
                     CIELAB (chroma, not HSV saturation: a dark pixel with a slight colour cast is
                     nearly achromatic here, fully saturated in HSV).
The second task (red vs blue; training rewards `channel_dominance` red / blue, the RGB channel's lead):
    lab_red, lab_blue = mean over pixels of min(C*ab/100, 1) · max(0, cos(h − h0))², h the CIELAB hue
                     angle, h0 that of pure red (40°) / pure blue (306°): chroma towards that hue in
                     another colour space (magenta, 328°, counts mostly as blue here; as neither in RGB).
"""
from __future__ import annotations

import torch

OBJECTIVES = ("brightness", "saturation")          # training rewards, ω index order
HELDOUT = ("lightness", "colourfulness")            # held-out evaluator i pairs with objective i
OBJECTIVES3 = OBJECTIVES + ("muted",)               # the three-objective bench (bench/front3.py)
HELDOUT3 = HELDOUT + ("mutedness",)
OBJECTIVES_HUES = ("red", "blue")                   # the second task (bench/front.py --task red_blue)
HELDOUT_HUES = ("lab_red", "lab_blue")
HUE_DEGREES = {"lab_red": 40.0, "lab_blue": 306.0}  # CIELAB hue angle of sRGB's pure red and pure blue


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    eps = (6 / 29) ** 3
    return torch.where(t > eps, t.clamp_min(eps) ** (1 / 3), t / (3 * (6 / 29) ** 2) + 4 / 29)


def cielab(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pixel CIELAB (L*, a*, b*) of sRGB images (D65 white), float64, each (N, H, W)."""
    lin = srgb_to_linear(images.clamp(0, 1).double())
    r, g, b = lin[:, 0], lin[:, 1], lin[:, 2]
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    fx, fy, fz = _lab_f(x), _lab_f(y), _lab_f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def lightness(images: torch.Tensor) -> torch.Tensor:
    """Mean CIELAB L* / 100 per image (D65)."""
    return (cielab(images)[0] / 100).flatten(1).mean(1).float()


def mutedness(images: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of (1 − L*/100)·(1 − min(C*ab/100, 1)), C*ab = sqrt(a*² + b*²)."""
    L, a, b = cielab(images)
    chroma = torch.sqrt(a ** 2 + b ** 2)
    return ((1 - L / 100).clamp(0, 1) * (1 - (chroma / 100).clamp(max=1))).flatten(1).mean(1).float()


def hue_share(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Mean over pixels of min(C*ab/100, 1) · max(0, cos(h − degrees))² (CIELAB chroma towards a hue)."""
    import math
    _, a, b = cielab(images)
    chroma = torch.sqrt(a ** 2 + b ** 2)
    towards = torch.cos(torch.atan2(b, a) - math.radians(degrees)).clamp(min=0) ** 2
    return ((chroma / 100).clamp(max=1) * towards).flatten(1).mean(1).float()


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) M on the 0-255 scale, divided by 100."""
    x = images.clamp(0, 1).double() * 255
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    m = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False)) \
        + 0.3 * torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return (m / 100).float()


def training_rewards(objectives: tuple[str, ...] = OBJECTIVES) -> dict:
    """The training rewards from the product's registry, keyed by objective name."""
    import trainer.rewards.image  # noqa: F401  (registers brightness / saturation / muted)
    from trainer.rewards.registry import build_reward
    every = {"brightness": lambda: build_reward({"id": "brightness", "mode": "luma"}),
             "saturation": lambda: build_reward("saturation"), "muted": lambda: build_reward("muted"),
             "red": lambda: build_reward({"id": "channel_dominance", "channel": "red", "name": "red"}),
             "blue": lambda: build_reward({"id": "channel_dominance", "channel": "blue", "name": "blue"})}
    return {name: every[name]() for name in objectives}


def heldout_scores(images: torch.Tensor, evaluators: tuple[str, ...] = HELDOUT) -> dict[str, torch.Tensor]:
    every = {"lightness": lightness, "colourfulness": colourfulness, "mutedness": mutedness,
             **{name: (lambda x, h=h: hue_share(x, h)) for name, h in HUE_DEGREES.items()}}
    return {name: every[name](images) for name in evaluators}
