"""ParetoSlider trainer: multi-objective DiffusionNFT / Flow-GRPO post-training (diffusers + peft).

Entry points: `python -m trainer train --config my.yaml` (console script `paretoslider-train`),
and the programmatic API `trainer.train.run(config, backbone=None, rewards=None) -> Path`.
"""
