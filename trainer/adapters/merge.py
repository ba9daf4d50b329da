"""The one LoRA merge: a file's LoRA as weight deltas, and merging deltas into a diffusers
transformer for the duration of a block (used by the evaluation and the front benchmark).

    deltas = lora_deltas(file.lora, strength=0.5)          # {module: strength · alpha/rank · B @ A}
    with merged_deltas(transformer, deltas):               # W += ΔW, restored on exit
        ...

Rewarded soups merge Σ_i c_i ΔW_i: `sum_deltas([(c_i, deltas_i), ...])` (pareto_core.combine).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from pareto_core import ParetoSliderFileError, ParetoSliderMismatchError
from pareto_core.combine import sum_deltas  # noqa: F401  (rewarded soups: the one implementation)

from .inject import unwrap

LORA_PREFIX = "transformer."


def lora_deltas(lora: Mapping[str, torch.Tensor], strength: float = 1.0) -> dict[str, torch.Tensor]:
    """`transformer.<module>.lora_A/B.weight` (+ `.alpha`) → {<module>: strength · alpha/rank · B @ A}
    in float64 (merged into the weights' dtype only when applied). No alpha tensor: scale 1,
    as ComfyUI's loader does."""
    names = sorted({k[len(LORA_PREFIX):].rsplit(".lora_", 1)[0] for k in lora if ".lora_" in k})
    out = {}
    for name in names:
        a = lora.get(f"{LORA_PREFIX}{name}.lora_A.weight")
        b = lora.get(f"{LORA_PREFIX}{name}.lora_B.weight")
        if a is None or b is None:
            raise ParetoSliderFileError(f"LoRA for {name!r} lacks lora_A or lora_B")
        alpha = lora.get(f"{LORA_PREFIX}{name}.alpha")
        scale = float(alpha) / a.shape[0] if alpha is not None else 1.0
        out[name] = (b.double() @ a.double()) * (scale * strength)
    return out


def _base_weight(root: nn.Module, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    try:
        mod = root.get_submodule(name)
    except AttributeError:
        raise ParetoSliderMismatchError(
            f"the ParetoSlider LoRA targets {name!r}, which {type(root).__name__} does not have; "
            "this file was trained for another model") from None
    mod = getattr(mod, "base_layer", mod)     # a peft-wrapped layer: merge into its base
    weight = getattr(mod, "weight", None)
    if weight is None or tuple(weight.shape) != shape:
        raise ParetoSliderMismatchError(
            f"the ParetoSlider LoRA for {name!r} has shape {shape} but the model's weight is "
            f"{tuple(weight.shape) if weight is not None else 'missing'}")
    return weight


@contextmanager
def merged_deltas(transformer: nn.Module, deltas: Mapping[str, torch.Tensor]) -> Iterator[None]:
    """W += ΔW for every module in `deltas` inside the block; the original weights come back on
    exit (also when the body raises). A live peft adapter on the transformer (the training LoRA)
    is switched off meanwhile, or both would add up. Works with or without peft."""
    root = unwrap(transformer)
    saved: list[tuple[torch.Tensor, torch.Tensor]] = []
    live = [m for m in root.modules() if hasattr(m, "enable_adapters") and hasattr(m, "base_layer")
            and not getattr(m, "disable_adapters", True)]
    grads = [(p, p.requires_grad) for m in live for p in m.parameters()]
    try:
        for m in live:
            m.enable_adapters(False)
        weights = [(_base_weight(root, name, tuple(d.shape)), d) for name, d in deltas.items()]
        for weight, d in weights:
            saved.append((weight, weight.detach().clone()))
            with torch.no_grad():
                weight.add_(d.to(weight.device, weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for weight, orig in saved:
                weight.copy_(orig)
        for m in live:
            m.enable_adapters(True)
        for p, flag in grads:          # peft's enable_adapters(True) also flips requires_grad
            p.requires_grad_(flag)


def merged_lora(transformer: nn.Module, lora: Mapping[str, torch.Tensor], strength: float = 1.0):
    """W += strength · alpha/rank · B @ A for the file's LoRA inside the block (restored on exit)."""
    return merged_deltas(transformer, lora_deltas(lora, strength))
