"""Weight-free image statistics: JPEG (in)compressibility, saturation, colourfulness, brightness."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from .registry import Reward, register_reward


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] → (N, H, W, 3) uint8, rounding like torchvision's ToPILImage."""
    x = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def jpeg_size_kb(images: torch.Tensor, quality: int = 95) -> torch.Tensor:
    """Size in kB (1000 bytes) of each image saved as a baseline JPEG at `quality`."""
    sizes = []
    for arr in to_uint8(images):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        sizes.append(buf.tell() / 1000.0)
    return torch.tensor(sizes, dtype=torch.float32)


@register_reward
class JpegCompressibility(Reward):
    """Minus the JPEG size in kB: smaller files (simpler images) score higher (as in DDPO)."""

    id = "jpeg_compressibility"

    def __init__(self, quality: int = 95, name: str | None = None):
        super().__init__(name)
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"quality must be in 1..100, got {quality}")
        self.quality = int(quality)

    def score(self, images, prompts, sources):
        return -jpeg_size_kb(images, self.quality)


@register_reward
class JpegIncompressibility(JpegCompressibility):
    """The JPEG size in kB: busier, more detailed images score higher."""

    id = "jpeg_incompressibility"

    def score(self, images, prompts, sources):
        return jpeg_size_kb(images, self.quality)


def hsv_saturation(images: torch.Tensor) -> torch.Tensor:
    """Per-pixel HSV saturation (max − min) / max, 0 where max = 0. (N, 3, H, W) → (N, H, W)."""
    x = images.clamp(0, 1)
    mx = x.amax(1)
    mn = x.amin(1)
    return torch.where(mx > 0, (mx - mn) / mx.clamp_min(1e-12), torch.zeros_like(mx))


@register_reward
class Saturation(Reward):
    """Mean HSV saturation in [0, 1]. Note: dark pixels with a tiny colour cast count as
    fully saturated (max − min over a small max); pair it with a brightness or held-out check."""

    id = "saturation"

    def score(self, images, prompts, sources):
        return hsv_saturation(images).flatten(1).mean(1)


def colourfulness(images: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colourfulness on the 0–255 scale (their thresholds: 15 slightly,
    33 moderately, 45 averagely, 59 quite, 82 highly, 109 extremely colourful).
    M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²), rg = R − G, yb = ½(R + G) − B."""
    x = images.clamp(0, 1).double() * 255.0
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return (std + 0.3 * mean).float()


@register_reward
class Colourfulness(Reward):
    """Hasler–Süsstrunk colourfulness (0 for grey images, ~100+ for extremely colourful ones)."""

    id = "colourfulness"

    def score(self, images, prompts, sources):
        return colourfulness(images)


# the US spelling, for people who type it
@register_reward
class Colorfulness(Colourfulness):
    """Alias of colourfulness."""

    id = "colorfulness"


LUMA = (0.299, 0.587, 0.114)   # ITU-R BT.601, what PIL's convert("L") uses


@register_reward
class Brightness(Reward):
    """Mean brightness in [0, 1]: BT.601 luma (mode "luma"), HSV value ("value") or the plain
    channel mean ("mean")."""

    id = "brightness"

    def __init__(self, mode: str = "luma", name: str | None = None):
        super().__init__(name)
        if mode not in ("luma", "value", "mean"):
            raise ValueError(f"mode must be 'luma', 'value' or 'mean', got {mode!r}")
        self.mode = mode

    def score(self, images, prompts, sources):
        x = images.clamp(0, 1)
        if self.mode == "luma":
            w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            y = (x * w).sum(1)
        elif self.mode == "value":
            y = x.amax(1)
        else:
            y = x.mean(1)
        return y.flatten(1).mean(1)


@register_reward
class Muted(Reward):
    """Low-key, muted tones in [0, 1]: the per-pixel mean of (1 − BT.601 luma) · (1 − HSV saturation).
    Dark greys score highest; it conflicts with both brightness (white) and saturation (pure hues)."""

    id = "muted"

    def score(self, images, prompts, sources):
        x = images.clamp(0, 1)
        w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        luma = (x * w).sum(1)
        return ((1 - luma) * (1 - hsv_saturation(x))).flatten(1).mean(1)


CHANNELS = {"red": 0, "green": 1, "blue": 2}


@register_reward
class ChannelDominance(Reward):
    """How strongly one RGB channel leads, in [0, 1]: the per-pixel mean of clamp(c − max(other two), 0).
    red / blue dominance conflict in a way weight mixing cannot settle: a pixel that is both (magenta)
    scores 0 on each, so two such LoRAs interfere when added (the second task of docs/BENCHMARK.md)."""

    id = "channel_dominance"

    def __init__(self, channel: str = "red", name: str | None = None):
        super().__init__(name)
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {sorted(CHANNELS)}, got {channel!r}")
        self.channel = CHANNELS[channel]

    def score(self, images, prompts, sources):
        x = images.clamp(0, 1)
        others = [i for i in range(3) if i != self.channel]
        lead = x[:, self.channel] - torch.maximum(x[:, others[0]], x[:, others[1]])
        return lead.clamp(min=0).flatten(1).mean(1)
