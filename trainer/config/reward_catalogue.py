"""What the config check needs to know about each registered reward, without importing it.

The reward modules import torch (and some transformers); checking a config must not. So this
table repeats, for every id of trainer.rewards' registry, the options it cannot do without, the
options that are local paths (checked to exist), and whether it needs a source image (editing)
or whole videos (ltx2). tests/trainer/test_preflight.py keeps it equal to the registry: a reward
added there without a line here fails that test.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RewardInfo:
    required: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()          # options holding a local file or folder
    needs_source: bool = False           # compares with the edited image: editing backbones only
    video: bool = False                  # scores whole videos: the ltx2 backbone only
    nested: tuple[str, ...] = ()         # options holding other reward specs (checked too)


REWARDS: dict[str, RewardInfo] = {
    "aesthetic": RewardInfo(required=("path", "head"), paths=("path", "head", "processor_path")),
    "brightness": RewardInfo(),
    "channel_dominance": RewardInfo(),
    "clip_score": RewardInfo(required=("path",), paths=("path", "processor_path")),
    "colorfulness": RewardInfo(),
    "colourfulness": RewardInfo(),
    "composite": RewardInfo(required=("terms",), nested=("terms",)),
    "frames": RewardInfo(required=("reward",), video=True, nested=("reward",)),
    "jpeg_compressibility": RewardInfo(),
    "jpeg_incompressibility": RewardInfo(),
    "lpips": RewardInfo(required=("path",), paths=("path", "backbone"), needs_source=True),
    "motion_magnitude": RewardInfo(video=True),
    "ms_ssim": RewardInfo(needs_source=True),
    "muted": RewardInfo(),
    "pickscore": RewardInfo(required=("path",), paths=("path", "processor_path")),
    "python": RewardInfo(required=("target",)),
    "saturation": RewardInfo(),
    "ssim": RewardInfo(needs_source=True),
    "temporal_consistency": RewardInfo(video=True),
    "vlm_judge": RewardInfo(required=("base_url", "model")),
}
