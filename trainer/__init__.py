"""ParetoSlider trainer: multi-objective DiffusionNFT / Flow-GRPO post-training (diffusers + peft).

Entry points: `python -m trainer train --config my.yaml` (console script `paretoslider-train`),
and the programmatic API `trainer.run.train.run(config, backbone=None, rewards=None) -> Path`.
The folders are the architecture (docs/ARCHITECTURE.md): config/, backbones/, adapters/, rl/, run/,
evaluation/, rewards/.
"""
from __future__ import annotations

import importlib.abc
import sys

# Modules of the old flat layout → where they live now. A user's script or a config's
# `module:function` reward that still names an old path gets an ImportError naming the new one
# instead of "No module named ..." (trainer.tiny: the tiny test pipelines are test support now).
MOVED = {
    "algorithms": "trainer.rl.algorithms", "losses": "trainer.rl.losses", "omega": "trainer.rl.omega",
    "scoring": "trainer.rl.scoring",
    "train": "trainer.run.train", "checkpoint": "trainer.run.checkpoint", "export": "trainer.run.export",
    "distributed": "trainer.run.distributed", "metrics_log": "trainer.run.metrics",
    "model": "trainer.adapters.lora (PolicyParams, make_trainable: trainer.adapters.policy)",
    "inject": "trainer.adapters.inject", "lora_merge": "trainer.adapters.merge",
    "quantize": "trainer.backbones.quantize", "text_cache": "trainer.backbones.text_cache",
    "evaluate": "trainer.evaluation.evaluate", "eval_cli": "trainer.evaluation.cli",
    "sweep": "trainer.evaluation.sweep", "summary": "trainer.evaluation.summary",
    "pareto": "trainer.evaluation.pareto", "plots": "trainer.evaluation.plots",
    "video_preview": "trainer.evaluation.video_preview",
    "tiny": "testsupport.tiny (test support in the repository; not installed with the package)",
}


class _MovedModules(importlib.abc.MetaPathFinder):
    """Consulted only after the normal finders found nothing (it is appended to sys.meta_path)."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        if head == __name__ and rest.split(".")[0] in MOVED:
            old = f"{__name__}.{rest.split('.')[0]}"
            # ImportError, not ModuleNotFoundError: `from trainer import train` would swallow the latter
            raise ImportError(f"{old} moved to {MOVED[rest.split('.')[0]]} (trainer/ is laid out by folder: "
                              "docs/ARCHITECTURE.md)", name=fullname)
        return None


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
