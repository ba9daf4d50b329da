"""Video rewards (scores of whole videos (B, F, 3, H, W) in [0, 1]): a conflicting pair for
motion ⟷ stability, and one wrapper that scores any image reward over a video's frames.

- motion_magnitude: mean absolute frame-to-frame change (luma), in [0, 1] — more motion, higher;
- temporal_consistency: mean SSIM between consecutive frames, in [-1, 1] — steadier, higher;
- frames: {"id": "frames", "reward": <any image reward spec>, "frame": "mean" | "first" | "middle" |
  "last" | <index>} — the image reward on the frame mean (what every image reward does on video
  anyway) or on one chosen frame (e.g. aesthetics of the first frame).
"""
from __future__ import annotations

from typing import Any

import torch

from .registry import Reward, RewardError, build_reward, register_reward
from .ssim import ssim

LUMA = (0.299, 0.587, 0.114)


def _luma(videos: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(LUMA, dtype=videos.dtype, device=videos.device).view(1, 1, 3, 1, 1)
    return (videos * w).sum(2)


def _need_frames(reward: Reward, videos: torch.Tensor) -> None:
    if videos.shape[1] < 2:
        raise RewardError(f"reward {reward.name!r} ({reward.id}) compares consecutive frames; the videos have "
                          f"{videos.shape[1]} frame(s): use model.num_frames of at least 2")


def frame_difference(videos: torch.Tensor) -> torch.Tensor:
    """Mean |luma(t+1) − luma(t)| per video, (B,)."""
    y = _luma(videos.clamp(0, 1))
    return (y[:, 1:] - y[:, :-1]).abs().flatten(1).mean(1)


def consecutive_ssim(videos: torch.Tensor) -> torch.Tensor:
    """Mean SSIM between frames t and t+1 per video, (B,)."""
    b, f = videos.shape[:2]
    a = videos[:, :-1].flatten(0, 1)
    c = videos[:, 1:].flatten(0, 1)
    return ssim(a, c).view(b, f - 1).mean(1)


@register_reward
class MotionMagnitude(Reward):
    """Mean absolute frame-to-frame luma change: more motion scores higher (pairs with temporal_consistency)."""

    id = "motion_magnitude"
    video = True

    def score(self, images, prompts, sources):
        _need_frames(self, images)
        return frame_difference(images)


@register_reward
class TemporalConsistency(Reward):
    """Mean SSIM between consecutive frames: steadier videos score higher (pairs with motion_magnitude)."""

    id = "temporal_consistency"
    video = True

    def score(self, images, prompts, sources):
        _need_frames(self, images)
        return consecutive_ssim(images)


FRAME_NAMES = {"first": 0, "last": -1}


@register_reward
class FrameReward(Reward):
    """Any image reward over a video: on the mean of its per-frame scores, or on one chosen frame."""

    id = "frames"
    video = True

    def __init__(self, reward: Any, frame: str | int = "mean", name: str | None = None):
        self.inner = build_reward(reward)
        if self.inner.video:
            raise RewardError(f"reward 'frames' wraps an image reward; {self.inner.id!r} already scores videos")
        if not (frame in ("mean", "middle") or frame in FRAME_NAMES or isinstance(frame, int)):
            raise RewardError(f"reward 'frames': frame must be 'mean', 'first', 'middle', 'last' or a frame index, "
                              f"got {frame!r}")
        super().__init__(name or f"{self.inner.name}@{frame}")
        self.frame = frame
        self.needs_source = self.inner.needs_source

    def _index(self, frames: int) -> int:
        i = frames // 2 if self.frame == "middle" else FRAME_NAMES.get(self.frame, self.frame)
        if not -frames <= i < frames:
            raise RewardError(f"reward {self.name!r}: frame {self.frame} does not exist in videos of {frames} frames")
        return i

    def score(self, images, prompts, sources):
        if self.frame == "mean":
            return self.inner(images, prompts, sources)        # per-frame scores, averaged
        i = self._index(images.shape[1])
        if sources is not None and sources.ndim == 5:
            sources = sources[:, i]
        return self.inner(images[:, i], prompts, sources)

    def to(self, device):
        self.inner.to(device)
        return self
