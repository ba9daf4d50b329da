"""The CPU-scale toy task used to show that the ParetoSlider trainer learns a Pareto front.

- `data`        procedural 16x16 RGB images: 3 shapes x 4 colours = 12 prompts;
- `pretrain`    flow-matching pretraining of the small SD3 transformer (the committed base);
- `classifier`  the fidelity measure (a small CNN that recognises shape + colour);
- `evaluators`  held-out scorers, different from the training rewards;
- `sampling`    policies from trained files (soups, blends) sampled with fixed noise on the
                trainer's sampler and LoRA merge.
"""
