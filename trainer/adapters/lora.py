"""The LoRA on a frozen diffusers transformer (peft).

- `attach_lora` injects a LoRA (rank/alpha/targets) with peft; the base stays frozen.
- `adapters_disabled` runs the base model (the KL reference v_ref).
- `lora_state_for_file` returns the LoRA in the file's key form, with `.alpha` tensors.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from ..errors import UserError

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
