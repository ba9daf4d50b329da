"""The LoRA on a frozen diffusers transformer (peft).

- `attach_lora` injects a LoRA (rank/alpha/targets) with peft; the base stays frozen.
- `adapters_disabled` runs the base model (the KL reference v_ref).
- `lora_state_for_file` returns the LoRA in the file's key form, with `.alpha` tensors.
- per-objective LoRAs (`lora.per_objective`): one adapter per objective (`objective_adapter(k)`), all
  active at once; `objective_gates` scales adapter k's output by ω_k row by row, so the model is
  W0 + Σ_k ω_k ΔW_k — the weights a soup of the objectives' LoRAs would merge at that ω.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from ..errors import UserError

ADAPTER = "default"
OBJECTIVE_ADAPTER = "objective"     # objective k's LoRA (lora.per_objective) is the adapter "objective<k>"
_GATED = "_paretoslider_objective_loras"   # attach_lora's list of (k, objective k's lora_A) on the transformer


def objective_adapter(k: int) -> str:
    """The peft adapter name of objective k's LoRA (lora.per_objective)."""
    return f"{OBJECTIVE_ADAPTER}{k}"


def attach_lora(transformer: nn.Module, rank: int, alpha: float, targets: Sequence[str],
                dropout: float = 0.0, adapters: Sequence[str] = (ADAPTER,)) -> list[str]:
    """Freeze `transformer` and inject a LoRA into `targets` under each adapter name (several: all
    active, their outputs summed). Returns the adapted module names."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    transformer.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(targets), lora_dropout=dropout,
                        init_lora_weights=True)
    try:
        for name in adapters:
            with warnings.catch_warnings():     # "multiple adapters in the model": intended here
                warnings.filterwarnings("ignore", message=".*multiple adapters.*")
                inject_adapter_in_model(config, transformer, adapter_name=name)
    except ValueError as err:
        raise UserError(f"lora.targets {list(targets)} match no module of {type(transformer).__name__} "
                         f"({err}); use names like to_q, to_k, to_v, to_out.0") from None
    if len(adapters) > 1:
        for m in transformer.modules():
            if isinstance(m, BaseTunerLayer):
                m.set_adapter(list(adapters))
    # the per-objective LoRAs' down projections, found once here: objective_gates runs on every forward
    transformer.__dict__[_GATED] = [(int(name[len(OBJECTIVE_ADAPTER):]), lora_a)
                                    for m in transformer.modules() if isinstance(m, BaseTunerLayer)
                                    for name, lora_a in getattr(m, "lora_A", {}).items()
                                    if name.startswith(OBJECTIVE_ADAPTER)]
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


@contextmanager
def objective_gates(transformer: nn.Module, omega: torch.Tensor | None) -> Iterator[None]:
    """Inside the block, objective k's LoRA output is scaled by ω_k (per row: ω is (K,) or (N, K) with the
    batch a multiple of N, as for the preference modules); ω None scales them all by 0. `transformer` is the
    module attach_lora adapted; without per-objective adapters nothing is installed."""
    handles = [lora_a.register_forward_hook(_gate(omega, k)) for k, lora_a in transformer.__dict__.get(_GATED, ())]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _gate(omega: torch.Tensor, k: int):
    from pareto_core import rows_for_batch

    def hook(_module, _inputs, out):
        if omega is None:       # no ω (the base model, "preference off"): every objective's LoRA is off
            return out * 0.0
        w = rows_for_batch(omega.to(device=out.device, dtype=out.dtype), out.shape[0])[:, k]
        return out * w.view(-1, *([1] * (out.dim() - 1)))
    return hook


def lora_state_for_file(transformer: nn.Module, alpha: float, rank: int,
                        dtype: torch.dtype | None = None, adapter: str = ADAPTER) -> dict[str, torch.Tensor]:
    """`transformer.<module>.lora_A.weight` / `.lora_B.weight` / `.alpha` of one adapter (ComfyUI reads
    alpha/rank only from such scalar tensors)."""
    out: dict[str, torch.Tensor] = {}
    modules = set()
    for name, p in lora_parameters(transformer):
        # peft names: <module>.lora_A.<adapter>.weight
        module, rest = name.split(".lora_", 1)
        kind, adapter_name, leaf = rest.split(".", 2)
        if adapter_name != adapter:
            continue
        t = p.detach().to("cpu")
        out[f"transformer.{module}.lora_{kind}.{leaf}"] = t.to(dtype) if dtype else t.clone()
        modules.add(module)
    for module in sorted(modules):
        out[f"transformer.{module}.alpha"] = torch.tensor(float(alpha))
    return out
