"""Writing the ParetoSlider file of a run: its typed metadata and the LoRA in the file's key form."""
from __future__ import annotations

from pathlib import Path

from pareto_core import Objective, ParetoSliderMetadata, TrainingMetadata, save_paretoslider

from ..adapters.lora import lora_state_for_file, objective_adapter
from ..adapters.policy import Trainable
from ..backbones.base import Backbone
from ..config import TrainerConfig


def training_metadata(cfg: TrainerConfig, backbone: Backbone, step: int, processes: int,
                      final_rewards: dict[str, float] | None = None) -> TrainingMetadata:
    t = cfg.train
    return TrainingMetadata(
        algorithm=t.algorithm, steps=step, fixed_preference=cfg.preference.fixed,
        processes=processes, backbone=cfg.model.backbone, final_rewards=dict(final_rewards or {}),
        resolution=cfg.model.resolution, sample_steps=t.sample_steps, cfg=1.0,      # rollouts are CFG-free
        guidance=float(cfg.model.guidance) if backbone.architecture == "flux" else None,
        settings={"seed": t.seed, "lr": t.lr, "beta": t.beta, "kl": t.kl, "group_size": t.group_size,
                  "prompts_per_step": t.prompts_per_step, "omegas_per_prompt": cfg.preference.omegas_per_prompt,
                  "weights": t.export_weights, "optimizer_step": t.optimizer_step}
        | ({"kl_per_objective": list(t.kl_per_objective)} if t.kl_per_objective is not None else {}))


def slider_metadata(cfg: TrainerConfig, backbone: Backbone, trainable: Trainable, step: int, processes: int,
                    final_rewards: dict[str, float] | None = None) -> ParetoSliderMetadata:
    return ParetoSliderMetadata(
        architecture=backbone.architecture, width=int(backbone.width),
        objectives=[Objective(name=o.name, label=o.label, reward=o.reward or o.name) for o in cfg.objectives],
        embedding=trainable.embedding, variant=backbone.variant or cfg.model.variant,
        lora={"rank": cfg.lora.rank, "alpha": cfg.lora.alpha, "targets": trainable.lora_targets,
              "modules": len(trainable.lora_modules)} | ({"per_objective": True} if cfg.lora.per_objective else {}),
        training=training_metadata(cfg, backbone, step, processes, final_rewards))


def export(path: str | Path, cfg: TrainerConfig, backbone: Backbone, trainable: Trainable, step: int,
           processes: int, final_rewards: dict[str, float] | None = None) -> Path:
    """The run's ParetoSlider file at `path`: the LoRA (with `.alpha` tensors), the preference modules and
    the metadata of `step` steps on `processes` processes."""
    tr, alpha, rank = backbone.transformer, cfg.lora.alpha, cfg.lora.rank
    meta = slider_metadata(cfg, backbone, trainable, step, processes, final_rewards)
    if cfg.lora.per_objective:      # objective k's LoRA under objective<k>.; no shared one
        parts = [lora_state_for_file(tr, alpha, rank, adapter=objective_adapter(k)) for k in range(cfg.num_objectives)]
        return save_paretoslider(path, meta, {}, trainable.modules, parts)
    return save_paretoslider(path, meta, lora_state_for_file(tr, alpha, rank), trainable.modules)
