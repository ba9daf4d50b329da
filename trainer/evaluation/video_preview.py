"""Pictures of a video evaluation (PIL only): per-ω frame strips and an animated preview.

    frame_strip(videos, ["1/0", "0.5/0.5", "0/1"], title="waves").save("strip.png")
    animated_preview(videos, labels, "preview.gif", fps=8)

videos: (N, F, 3, H, W) in [0, 1], one row per ω. A frame strip has one row per ω (the base model's
video first when given) and up to `max_frames` evenly spaced frames left to right; the animated
preview (GIF, Pillow) plays all videos side by side, each labelled with its ω.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from pareto_core.atomic_file import atomic_path
from pareto_core.fonts import font

__all__ = ["animated_preview", "frame_strip", "shrink_videos"]


def shrink_videos(videos: torch.Tensor, max_side: int = 128) -> torch.Tensor:
    """(N, F, 3, H, W) → the same at most `max_side` pixels a side, float16 on the CPU (what the
    sweep keeps for the pictures: a real LTX-2 sweep would otherwise hold gigabytes of frames)."""
    n, f, c, h, w = videos.shape
    s = max_side / max(h, w)
    x = videos.float().flatten(0, 1)
    if s < 1:
        x = F.interpolate(x, size=(max(1, round(h * s)), max(1, round(w * s))), mode="bilinear",
                          antialias=True, align_corners=False)
    return x.clamp(0, 1).reshape(n, f, c, *x.shape[-2:]).half().cpu()


def _frame_indices(frames: int, max_frames: int) -> list[int]:
    if frames <= max_frames:
        return list(range(frames))
    return sorted({round(i * (frames - 1) / (max_frames - 1)) for i in range(max_frames)})


def _pil(img: torch.Tensor, size: tuple[int, int]):
    from PIL import Image
    arr = (img.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(arr)
    return im.resize(size, Image.NEAREST if size[0] > arr.shape[1] else Image.BICUBIC)


def _tile_size(h: int, w: int, tile: int) -> tuple[int, int]:
    s = max(1, round(tile / max(h, w))) if max(h, w) < tile else 1
    return w * s, h * s


def frame_strip(videos: torch.Tensor, labels: Sequence[str], title: str = "", base: torch.Tensor | None = None,
                max_frames: int = 8, tile: int = 96):
    """A PIL grid: one row per ω (label on the left), frames left to right (frame numbers on top)."""
    from PIL import Image, ImageDraw
    rows, labs = list(videos), list(labels)
    if base is not None:
        rows, labs = [base] + rows, ["base"] + labs
    frames = _frame_indices(rows[0].shape[0], max_frames)
    tw, th = _tile_size(*rows[0].shape[-2:], tile)
    pad, label_w, head_h, title_h = 4, 64, 14, 18 if title else 0
    canvas = Image.new("RGB", (label_w + len(frames) * (tw + pad) + pad, title_h + head_h + len(rows) * (th + pad) + pad),
                       "white")
    draw = ImageDraw.Draw(canvas)
    f = font(11)
    if title:
        draw.text((pad, 3), title[:160], fill="black", font=f)
    for c, t in enumerate(frames):
        draw.text((label_w + pad + c * (tw + pad) + 2, title_h + 1), f"frame {t}", fill="black", font=f)
    for r, (video, lab) in enumerate(zip(rows, labs)):
        y0 = title_h + head_h + pad + r * (th + pad)
        draw.text((pad, y0 + th // 2 - 6), lab, fill="black", font=f)
        for c, t in enumerate(frames):
            canvas.paste(_pil(video[t], (tw, th)), (label_w + pad + c * (tw + pad), y0))
    return canvas


def animated_preview(videos: torch.Tensor, labels: Sequence[str], path: str | Path, fps: float = 8.0,
                     title: str = "", base: torch.Tensor | None = None, tile: int = 96) -> Path:
    """An animated GIF at `path`: every ω's video side by side, looping; written atomically."""
    from PIL import Image, ImageDraw
    rows, labs = list(videos), list(labels)
    if base is not None:
        rows, labs = [base] + rows, ["base"] + labs
    tw, th = _tile_size(*rows[0].shape[-2:], tile)
    pad, label_h, title_h = 4, 14, 18 if title else 0
    f = font(11)
    pictures = []
    for t in range(rows[0].shape[0]):
        canvas = Image.new("RGB", (pad + len(rows) * (tw + pad), title_h + th + label_h + 2 * pad), "white")
        draw = ImageDraw.Draw(canvas)
        if title:
            draw.text((pad, 3), f"{title[:120]}   frame {t}", fill="black", font=f)
        for i, (video, lab) in enumerate(zip(rows, labs)):
            x0 = pad + i * (tw + pad)
            canvas.paste(_pil(video[t], (tw, th)), (x0, title_h + pad))
            draw.text((x0 + 2, title_h + pad + th + 1), lab, fill="black", font=f)
        pictures.append(canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pictures[0].save(tmp, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                         duration=max(20, round(1000 / max(fps, 1e-3))), disposal=1)
    return path
