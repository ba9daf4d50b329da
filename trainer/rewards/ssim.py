"""SSIM and MS-SSIM (Wang et al. 2003/2004) in plain torch, and rewards for fidelity to the source.

Conventions follow the reference MATLAB code and pytorch_msssim: an 11-tap Gaussian window with
σ = 1.5, "valid" filtering (no padding), K1 = 0.01, K2 = 0.03, computed per RGB channel and
averaged; MS-SSIM over 5 scales with the weights from the paper, 2× average pooling between
scales, negative contrast terms clipped to 0 (so the fractional powers stay real).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import Reward, register_reward

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size: int, sigma: float, dtype=torch.float64, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, valid region only: a sum of shifted slices (exact
    and fast in float64 on CPU, where float64 convolutions are slow)."""
    k = win.to(x.dtype).tolist()
    n = len(k)
    w = x.shape[-1] - n + 1
    y = sum(k[i] * x[..., i:i + w] for i in range(n))
    h = x.shape[-2] - n + 1
    return sum(k[i] * y[..., i:i + h, :] for i in range(n))


def _fit_window(size: int, h: int, w: int) -> int:
    """The largest odd window ≤ size that fits the image (small images: smaller window)."""
    size = min(size, h, w)
    if size % 2 == 0:
        size -= 1
    if size < 1:
        raise ValueError(f"image of {h}x{w} pixels is too small for SSIM")
    return size


def _ssim_terms(x, y, win, data_range, k1, k2):
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_x, mu_y = _filter(x, win), _filter(y, win)
    sxx = _filter(x * x, win) - mu_x ** 2
    syy = _filter(y * y, win) - mu_y ** 2
    sxy = _filter(x * y, win) - mu_x * mu_y
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    lum_map = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    ssim_pc = (lum_map * cs_map).flatten(2).mean(-1)    # (N, C)
    cs_pc = cs_map.flatten(2).mean(-1)
    return ssim_pc, cs_pc


def _check(x, y):
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"SSIM needs two (N, C, H, W) tensors of the same shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image, (N,). Identical images give exactly 1. Computed in float64 (the
    variances are differences of means: float32 loses ~1e-4 on flat regions)."""
    _check(x, y)
    x, y = x.double(), y.double()
    win = gaussian_window(_fit_window(win_size, *x.shape[-2:]), sigma, device=x.device)
    return _ssim_terms(x, y, win, data_range, k1, k2)[0].mean(1).float()


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11,
            sigma: float = 1.5, weights=MS_SSIM_WEIGHTS, k1: float = 0.01,
            k2: float = 0.03) -> torch.Tensor:
    """Multi-scale SSIM per image, (N,).

    The paper's 5 scales need a shorter side ≥ (win_size − 1)·16 + 1 (161 px). Smaller images use
    the first scales that still fit a full window (weights renormalised to sum to 1), so the
    measure stays defined for small previews; below one scale it falls back to SSIM with a smaller
    window.
    """
    _check(x, y)
    x, y = x.double(), y.double()
    h, w = x.shape[-2:]
    levels = 0
    while levels < len(weights) and min(h, w) // (2 ** levels) >= win_size:
        levels += 1
    if levels <= 1:
        return ssim(x, y, data_range, win_size, sigma, k1, k2)
    wts = torch.tensor(weights[:levels], dtype=x.dtype, device=x.device)
    wts = wts / wts.sum()
    win = gaussian_window(win_size, sigma, device=x.device)
    mcs = []
    for i in range(levels):
        ssim_pc, cs_pc = _ssim_terms(x, y, win, data_range, k1, k2)
        if i < levels - 1:
            mcs.append(cs_pc.clamp_min(0))
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=pad)
            y = F.avg_pool2d(y, kernel_size=2, padding=pad)
    terms = torch.stack(mcs + [ssim_pc.clamp_min(0)], 0)          # (levels, N, C)
    return torch.prod(terms ** wts.view(-1, 1, 1), 0).mean(1).float()


def _match_source(images: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Resize sources to the generated images' size (editing models may change resolution)."""
    if sources.shape[-2:] != images.shape[-2:]:
        sources = F.interpolate(sources, size=images.shape[-2:], mode="bilinear", align_corners=False,
                                antialias=True).clamp(0, 1)
    return sources


@register_reward
class SSIMReward(Reward):
    """SSIM between each image and its source (1 = identical): fidelity for editing."""

    id = "ssim"
    needs_source = True

    def __init__(self, win_size: int = 11, sigma: float = 1.5, grayscale: bool = False,
                 name: str | None = None):
        super().__init__(name)
        self.win_size, self.sigma, self.grayscale = int(win_size), float(sigma), bool(grayscale)

    def _inputs(self, images, sources):
        sources = _match_source(images, sources)
        if self.grayscale:
            w = torch.tensor((0.299, 0.587, 0.114), device=images.device).view(1, 3, 1, 1)
            images, sources = (images * w).sum(1, keepdim=True), (sources * w).sum(1, keepdim=True)
        return images.clamp(0, 1), sources

    def score(self, images, prompts, sources):
        x, y = self._inputs(images, sources)
        return ssim(x, y, 1.0, self.win_size, self.sigma)


@register_reward
class MSSSIMReward(SSIMReward):
    """MS-SSIM between each image and its source (1 = identical)."""

    id = "ms_ssim"

    def score(self, images, prompts, sources):
        x, y = self._inputs(images, sources)
        return ms_ssim(x, y, 1.0, self.win_size, self.sigma)
