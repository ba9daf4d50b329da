"""What a run trains: the LoRA + the core's PreferenceModules as θ, the EMA old policy θ_old, AdamW.

- `PolicyParams` lists the trainable tensors (LoRA, then preference modules) and keeps the EMA
  "old" policy that samples (`swapped_in` evaluates the model with it) and, when asked, the EMA of θ
  that is exported (`export_ema`, as the references save; `ema_swapped_in` for the export).
- `make_trainable` builds all of it for a run (LoRA, preference modules, θ / θ_old, AdamW).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from pareto_core import EmbeddingConfig, PreferenceModules

from .lora import ADAPTER, attach_lora, lora_parameters, objective_adapter


class PolicyParams:
    """The trainable tensors θ (LoRA + preference modules) and the EMA old policy θ_old."""

    def __init__(self, transformer: nn.Module, modules: PreferenceModules | None, export_ema: bool = False):
        self.named: list[tuple[str, nn.Parameter]] = [("transformer." + n, p)
                                                       for n, p in lora_parameters(transformer)]
        if modules is not None:
            self.named += [("paretoslider." + n, p) for n, p in modules.named_parameters()]
        for _, p in self.named:
            p.requires_grad_(True)
        self.old = [p.detach().clone() for _, p in self.named]
        # the exported EMA (train.export_weights ema): one more fp32 copy of the trainable part
        self.ema = [p.detach().clone() for _, p in self.named] if export_ema else None

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for _, p in self.named]

    @torch.no_grad()
    def update_old(self, decay: float) -> None:
        for o, (_, p) in zip(self.old, self.named):
            o.mul_(decay).add_(p.detach(), alpha=1.0 - decay)

    @torch.no_grad()
    def update_ema(self, optimizer_steps: int, max_decay: float) -> None:
        """After optimiser step n (1-based): ema ← ema + (1 − d)(θ − ema), d = min((1+n)/(10+n), max_decay),
        the references' EMAModuleWrapper (flow_grpo/ema.py), stepped with their global_step."""
        if self.ema is None:
            return
        d = min((1 + optimizer_steps) / (10 + optimizer_steps), max_decay)
        for e, (_, p) in zip(self.ema, self.named):
            e.add_(p.detach() - e, alpha=1.0 - d)

    def swapped_in(self) -> Iterator[None]:
        """Evaluate with θ_old (no gradients flow to θ inside)."""
        return self._values_swapped_in(self.old)

    def ema_swapped_in(self):
        """θ replaced by the exported EMA inside (θ itself when there is none)."""
        return self._values_swapped_in(self.ema) if self.ema is not None else nullcontext()

    @contextmanager
    def _values_swapped_in(self, values: list[torch.Tensor]) -> Iterator[None]:
        saved = [p.detach().clone() for _, p in self.named]
        with torch.no_grad():
            for o, (_, p) in zip(values, self.named):
                p.copy_(o)
        try:
            yield
        finally:
            with torch.no_grad():
                for s, (_, p) in zip(saved, self.named):
                    p.copy_(s)

    def old_state(self) -> dict[str, torch.Tensor]:
        return {n: o.clone() for (n, _), o in zip(self.named, self.old)}

    def load_old_state(self, state: dict[str, torch.Tensor]) -> None:
        for i, (n, _) in enumerate(self.named):
            self.old[i].copy_(state[n])

    def ema_state(self) -> dict[str, torch.Tensor] | None:
        return None if self.ema is None else {n: e.clone() for (n, _), e in zip(self.named, self.ema)}

    def load_ema_state(self, state: dict[str, torch.Tensor] | None) -> None:
        """A checkpoint without an EMA (written with export_weights theta) starts it from θ."""
        if self.ema is None:
            return
        for i, (n, p) in enumerate(self.named):
            self.ema[i].copy_(state[n] if state is not None else p.detach())

    def current_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in self.named}

    @torch.no_grad()
    def load_current_state(self, state: dict[str, torch.Tensor]) -> None:
        for n, p in self.named:
            p.copy_(state[n])


@dataclass
class Trainable:
    """What a run trains, built in one place: the LoRA on the transformer, the preference
    modules, θ / θ_old and the optimiser (LoRA at train.lr, modules at lr · preference.lr_scale)."""
    lora_targets: list[str]
    lora_modules: list[str]
    embedding: EmbeddingConfig
    modules: PreferenceModules
    policy: PolicyParams
    optimizer: torch.optim.Optimizer


def make_trainable(backbone, cfg, device: torch.device) -> Trainable:
    tr = backbone.transformer
    targets = list(cfg.lora.targets or backbone.default_lora_targets)
    adapters = ([objective_adapter(k) for k in range(cfg.num_objectives)] if cfg.lora.per_objective
                else [ADAPTER])
    lora_modules = attach_lora(tr, cfg.lora.rank, cfg.lora.alpha, targets, cfg.lora.dropout, adapters)
    if cfg.lora.dropout > 0:       # diffusers models load in eval mode; LoRA dropout needs train mode
        for name, m in tr.named_modules():
            if "lora_dropout" in name and isinstance(m, nn.Dropout):
                m.train()
    if cfg.model.gradient_checkpointing and hasattr(tr, "enable_gradient_checkpointing"):
        tr.enable_gradient_checkpointing()
    p = cfg.preference
    # block modulation where the config (or, left empty, the references for its backbone) asks for it, and
    # only on a backbone with joint blocks to modulate
    block = p.uses_block_modulation(cfg.model.backbone) and bool(getattr(backbone, "joint_blocks", ""))
    embedding = EmbeddingConfig(num_objectives=cfg.num_objectives, width=backbone.width, hidden=p.hidden,
                                block_modulation=block, num_frequencies=p.frequencies,
                                block_projector=p.block_projector, block_form=p.block_form,
                                block_fraction=p.block_fraction)
    torch.manual_seed(cfg.train.seed + 1)
    modules = PreferenceModules(embedding).to(device, torch.float32)
    policy = PolicyParams(tr, modules, export_ema=cfg.train.export_weights == "ema")
    n_lora = sum(1 for n, _ in policy.named if n.startswith("transformer."))
    groups = [{"params": policy.params[:n_lora], "lr": cfg.train.lr},
              {"params": policy.params[n_lora:], "lr": cfg.train.lr * p.lr_scale}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    return Trainable(targets, lora_modules, embedding, modules, policy, optimizer)
