"""The trainable model: a frozen diffusers transformer + a peft LoRA + the core's PreferenceModules.

- `attach_lora` injects a LoRA (rank/alpha/targets) with peft; the base stays frozen.
- `adapters_disabled` runs the base model (the KL reference v_ref).
- `PolicyParams` lists the trainable tensors (LoRA, then preference modules) and keeps the EMA
  "old" policy that samples; `swapped_in` evaluates the model with the old values.
- `lora_state_for_file` returns the LoRA in the file's key form, with `.alpha` tensors.
- `make_trainable` builds all of it for a run (LoRA, preference modules, θ / θ_old, AdamW).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from pareto_core import EmbeddingConfig, PreferenceModules

from .errors import UserError

ADAPTER = "default"


def attach_lora(transformer: nn.Module, rank: int, alpha: float, targets: Sequence[str],
                dropout: float = 0.0) -> list[str]:
    """Freeze `transformer` and inject a LoRA into `targets`. Returns the adapted module names."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    transformer.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=dropout,
                        init_lora_weights=True)
    try:
        inject_adapter_in_model(config, transformer, adapter_name=ADAPTER)
    except ValueError as err:
        raise UserError(f"lora.targets {list(targets)} match no module of {type(transformer).__name__} "
                         f"({err}); use names like to_q, to_k, to_v, to_out.0") from None
    # peft stores adapters in the base weights' dtype; keep them (and so the optimiser state) in fp32
    # when the base is bf16/fp16 — the LoRA forward casts its input to the adapter dtype
    for _, p in lora_parameters(transformer):
        if p.is_floating_point() and p.dtype != torch.float32:
            p.data = p.data.float()
    names = [n for n, m in transformer.named_modules() if isinstance(m, BaseTunerLayer)]
    if not names:
        raise UserError(f"lora.targets {list(targets)} match no module of {type(transformer).__name__}")
    return names


def lora_parameters(transformer: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in transformer.named_parameters() if "lora_" in n]


@contextmanager
def adapters_disabled(transformer: nn.Module) -> Iterator[None]:
    """The base model: every LoRA layer bypassed (requires_grad is restored on exit)."""
    from peft.tuners.tuners_utils import BaseTunerLayer
    layers = [m for m in transformer.modules() if isinstance(m, BaseTunerLayer)]
    flags = [p.requires_grad for _, p in lora_parameters(transformer)]
    for m in layers:
        m.enable_adapters(False)
    try:
        yield
    finally:
        for m in layers:
            m.enable_adapters(True)
        for (_, p), f in zip(lora_parameters(transformer), flags):
            p.requires_grad_(f)


def lora_state_for_file(transformer: nn.Module, alpha: float, rank: int,
                        dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """`transformer.<module>.lora_A.weight` / `.lora_B.weight` / `.alpha` (ComfyUI reads alpha/rank
    only from such scalar tensors)."""
    out: dict[str, torch.Tensor] = {}
    modules = set()
    for name, p in lora_parameters(transformer):
        # peft names: <module>.lora_A.<adapter>.weight
        module, rest = name.split(".lora_", 1)
        kind, adapter, leaf = rest.split(".", 2)
        if adapter != ADAPTER:
            continue
        t = p.detach().to("cpu")
        out[f"transformer.{module}.lora_{kind}.{leaf}"] = t.to(dtype) if dtype else t.clone()
        modules.add(module)
    for module in sorted(modules):
        out[f"transformer.{module}.alpha"] = torch.tensor(float(alpha))
    return out


class PolicyParams:
    """The trainable tensors θ (LoRA + preference modules) and the EMA old policy θ_old."""

    def __init__(self, transformer: nn.Module, modules: PreferenceModules | None):
        self.named: list[tuple[str, nn.Parameter]] = [("transformer." + n, p)
                                                       for n, p in lora_parameters(transformer)]
        if modules is not None:
            self.named += [("paretoslider." + n, p) for n, p in modules.named_parameters()]
        for _, p in self.named:
            p.requires_grad_(True)
        self.old = [p.detach().clone() for _, p in self.named]

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for _, p in self.named]

    @torch.no_grad()
    def update_old(self, decay: float) -> None:
        for o, (_, p) in zip(self.old, self.named):
            o.mul_(decay).add_(p.detach(), alpha=1.0 - decay)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Evaluate with θ_old (no gradients flow to θ inside)."""
        saved = [p.detach().clone() for _, p in self.named]
        with torch.no_grad():
            for o, (_, p) in zip(self.old, self.named):
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
    lora_modules = attach_lora(tr, cfg.lora.rank, cfg.lora.alpha, targets, cfg.lora.dropout)
    if cfg.lora.dropout > 0:       # diffusers models load in eval mode; LoRA dropout needs train mode
        for name, m in tr.named_modules():
            if "lora_dropout" in name and isinstance(m, nn.Dropout):
                m.train()
    if cfg.model.gradient_checkpointing and hasattr(tr, "enable_gradient_checkpointing"):
        tr.enable_gradient_checkpointing()
    p = cfg.preference
    embedding = EmbeddingConfig(num_objectives=cfg.num_objectives, width=backbone.width, hidden=p.hidden,
                                block_modulation=p.block_modulation, num_frequencies=p.num_frequencies)
    torch.manual_seed(cfg.train.seed + 1)
    modules = PreferenceModules(embedding).to(device, torch.float32)
    policy = PolicyParams(tr, modules)
    n_lora = sum(1 for n, _ in policy.named if n.startswith("transformer."))
    groups = [{"params": policy.params[:n_lora], "lr": cfg.train.lr},
              {"params": policy.params[n_lora:], "lr": cfg.train.lr * p.lr_scale}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    return Trainable(targets, lora_modules, embedding, modules, policy, optimizer)
