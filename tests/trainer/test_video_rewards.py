"""Video rewards: the motion ⟷ stability pair and the wrapper that scores an image reward over frames."""
import pytest
import torch

from trainer.rewards import RewardError, build_reward, describe_rewards


def moving_square(frames: int = 6, step: int = 2, size: int = 24) -> torch.Tensor:
    """(1, F, 3, H, W): a white square on grey moving `step` pixels right per frame."""
    v = torch.full((1, frames, 3, size, size), 0.3)
    for t in range(frames):
        x = 2 + t * step
        v[0, t, :, 8:16, x:x + 8] = 1.0
    return v


def test_motion_grows_with_speed_and_is_zero_for_a_still_video():
    motion = build_reward("motion_magnitude")
    still, slow, fast = moving_square(step=0), moving_square(step=1), moving_square(step=2)
    scores = motion(torch.cat([still, slow, fast]))
    assert scores[0] == 0 and 0 < scores[1] < scores[2]


def test_temporal_consistency_is_one_for_a_still_video_and_lower_for_motion_and_flicker():
    steady = build_reward("temporal_consistency")
    flicker = torch.rand(1, 6, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    scores = steady(torch.cat([moving_square(step=0), moving_square(step=2), flicker]))
    assert scores[0] == pytest.approx(1.0, abs=1e-6)
    assert scores[2] < scores[1] < scores[0]


def test_the_pair_conflicts_more_motion_is_less_stable():
    motion, steady = build_reward("motion_magnitude"), build_reward("temporal_consistency")
    videos = torch.cat([moving_square(step=s) for s in (0, 1, 2, 3)])
    m, s = motion(videos), steady(videos)
    assert torch.all(m[1:] > m[:-1]) and torch.all(s[1:] < s[:-1])


def test_frames_wrapper_scores_an_image_reward_on_a_chosen_frame_or_the_frame_mean():
    video = torch.rand(2, 5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    bright = build_reward("brightness")
    first = build_reward({"id": "frames", "reward": "brightness", "frame": "first"})
    last = build_reward({"id": "frames", "reward": {"id": "brightness"}, "frame": -1})
    mean = build_reward({"id": "frames", "reward": "brightness"})
    assert torch.allclose(first(video), bright(video[:, 0]))
    assert torch.allclose(last(video), bright(video[:, 4]))
    assert torch.allclose(mean(video), bright(video))               # an image reward on video: the frame mean
    assert torch.allclose(mean(video), torch.stack([bright(video[:, t]) for t in range(5)], 1).mean(1))
    assert first.name == "brightness@first"


def test_video_rewards_refuse_images_single_frames_and_bad_frames_with_messages():
    with pytest.raises(RewardError, match="scores videos"):
        build_reward("motion_magnitude")(torch.rand(2, 3, 16, 16))
    with pytest.raises(RewardError, match="at least 2"):
        build_reward("temporal_consistency")(torch.rand(2, 1, 3, 16, 16))
    with pytest.raises(RewardError, match="does not exist"):
        build_reward({"id": "frames", "reward": "brightness", "frame": 9})(torch.rand(1, 5, 3, 16, 16))
    with pytest.raises(RewardError, match="frame must be"):
        build_reward({"id": "frames", "reward": "brightness", "frame": "best"})
    with pytest.raises(RewardError, match="already scores videos"):
        build_reward({"id": "frames", "reward": "motion_magnitude"})


def test_the_video_rewards_are_listed_with_their_options():
    d = describe_rewards()
    assert {"motion_magnitude", "temporal_consistency", "frames"} <= set(d)
    assert d["frames"]["options"]["frame"] == "mean"
