"""Writing the ParetoSlider file of a run: its typed metadata and the LoRA in the file's key form."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pareto_core import Objective, ParetoSliderMetadata, TrainingMetadata, save_paretoslider

from ..adapters.lora import lora_state_for_file

if TYPE_CHECKING:
    from .train import Trainer


def training_metadata(tr: "Trainer", final_rewards: dict[str, float] | None = None) -> TrainingMetadata:
    cfg = tr.cfg
    t = cfg.train
    return TrainingMetadata(
        algorithm=t.algorithm, steps=tr.step_index, fixed_preference=cfg.preference.fixed,
        processes=tr.acc.num_processes, backbone=cfg.model.backbone, final_rewards=dict(final_rewards or {}),
        resolution=cfg.model.resolution, sample_steps=t.sample_steps, cfg=1.0,      # rollouts are CFG-free
        guidance=float(cfg.model.guidance) if tr.backbone.architecture == "flux" else None,
        settings={"seed": t.seed, "lr": t.lr, "beta": t.beta, "kl": t.kl, "group_size": t.group_size,
                  "prompts_per_step": t.prompts_per_step, "omegas_per_prompt": cfg.preference.omegas_per_prompt})


def slider_metadata(tr: "Trainer", final_rewards: dict[str, float] | None = None) -> ParetoSliderMetadata:
    cfg = tr.cfg
    return ParetoSliderMetadata(
        architecture=tr.backbone.architecture, width=int(tr.backbone.width),
        objectives=[Objective(name=o.name, label=o.label, reward=o.reward or o.name) for o in cfg.objectives],
        embedding=tr.embedding, variant=tr.backbone.variant or cfg.model.variant,
        lora={"rank": cfg.lora.rank, "alpha": cfg.lora.alpha, "targets": tr.lora_targets,
              "modules": len(tr.lora_modules)},
        training=training_metadata(tr, final_rewards))


def export(tr: "Trainer", path: str | Path, final_rewards: dict[str, float] | None = None) -> Path:
    lora = lora_state_for_file(tr.backbone.transformer, tr.cfg.lora.alpha, tr.cfg.lora.rank)
    return save_paretoslider(path, slider_metadata(tr, final_rewards), lora, tr.modules)
