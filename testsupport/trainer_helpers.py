"""Helpers shared by the trainer tests: two reward functions and a config small enough for CPU seconds a step."""

def brightness(images, prompts, sources):
    return images.mean(dim=(1, 2, 3))


def redness(images, prompts, sources):
    return images[:, 0].mean(dim=(1, 2)) - images[:, 1:].mean(dim=(1, 2, 3))


def tiny_config(model_path, out_dir, backbone="sd3", **train):
    """A config small enough for a few CPU seconds a step."""
    from trainer.config import config_from_dict
    t = {"steps": 2, "prompts_per_step": 1, "group_size": 2, "sample_steps": 2, "train_timesteps": 1,
         "minibatch": 4, "kl": 0.1}
    t.update(train)
    return config_from_dict({
        "model": {"backbone": backbone, "path": str(model_path), "resolution": 32, "max_sequence_length": 8},
        "lora": {"rank": 2, "alpha": 4},
        "preference": {"hidden": 16},
        "objectives": [{"name": "bright", "label": "Bright", "reward": "brightness"},
                       {"name": "red", "label": "Red", "reward": "testsupport.trainer_helpers:redness"}],
        "data": {"prompts": ["a red cat", "a blue dog"]},
        "train": t,
        "output": {"dir": str(out_dir), "checkpoint_every": 0, "progress": False, "tensorboard": False}})
