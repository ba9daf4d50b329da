"""Rewards for ParetoSlider training and evaluation: one interface, built from config specs.

    from trainer.rewards import build_reward, list_rewards
    r = build_reward({"id": "clip_score", "path": "/models/clip-vit-large-patch14"})
    scores = r(images, prompts)          # images (B, 3, H, W) in [0, 1] → (B,), higher is better

Ids: jpeg_compressibility, jpeg_incompressibility, saturation, colourfulness (colorfulness),
brightness, muted, ssim, ms_ssim, lpips, clip_score, pickscore, aesthetic, python, vlm_judge (a VLM on an
OpenAI-compatible server), composite (a weighted sum of rewards); for videos: motion_magnitude,
temporal_consistency and frames (any image reward on a chosen frame or the frame mean).
Every option of every reward: describe_rewards(); the table is in docs/REWARDS_AND_EVAL.md.
"""
from . import clip, composite, custom, image, lpips, ssim, video, vlm_judge  # noqa: F401  (importing registers them)
from .composite import CompositeReward
from .registry import (
    FunctionReward,
    Reward,
    RewardError,
    build_reward,
    build_rewards,
    describe_rewards,
    list_rewards,
    register_reward,
)
from .ssim import ms_ssim as ms_ssim_fn
from .ssim import ssim as ssim_fn
from .vlm_judge import JudgeError, VLMJudge

__all__ = ["CompositeReward", "FunctionReward", "JudgeError", "Reward", "RewardError", "VLMJudge", "build_reward",
           "build_rewards", "describe_rewards", "list_rewards", "ms_ssim_fn", "register_reward", "ssim_fn"]
