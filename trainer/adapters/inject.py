"""Feeding ω into a diffusers transformer with forward hooks (the trainer's half of the injection).

    with preference_hooks(backbone.transformer, backbone, modules, omega):
        v = backbone.velocity(x_t, sigma, cond)

- temb: a forward hook on `backbone.temb_module` (SD3/Flux: `time_text_embed`) adds
  `modules.temb_delta(ω)` to its output, one ω row per batch row (pareto_core.rows_for_batch),
  so the same sum reaches every AdaLN as in ComfyUI (`t_embedder` / `time_in`).
- block modulation (optional, `EmbeddingConfig.block_modulation`): for every block of
  `backbone.joint_blocks`, the image-stream output gets `gate_mlp ⊙ m(ω)` added, where
  `gate_mlp` is that block's own AdaLN MLP gate (captured from `block.norm1`'s output) and
  m(ω) = `modules.block_vector(ω)` is shared by all blocks. See docs/FORMAT_INJECTION.md.

Hooks are removed on exit, also when the body raises. Module paths (and LoRA keys) stay intact.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from pareto_core import PreferenceModules, rows_for_batch


def unwrap(transformer: nn.Module) -> nn.Module:
    # accelerate/DDP or peft wrappers keep the diffusers model in .module / .base_model.model
    while True:
        if hasattr(transformer, "module") and isinstance(transformer.module, nn.Module):
            transformer = transformer.module
        elif type(transformer).__name__.startswith("Peft") and hasattr(transformer, "base_model"):
            transformer = transformer.base_model.model
        else:
            return transformer


@contextmanager
def preference_hooks(transformer: nn.Module, backbone, modules: PreferenceModules | None,
                     omega: torch.Tensor | None) -> Iterator[None]:
    """Add ω's conditioning to `transformer` for the duration of the block.

    omega: (K,) for every row, or (N, K) with the batch a multiple of N (row i uses ω[i % N]).
    `modules=None` or `omega=None` installs nothing (the base model / "preference off").
    """
    if modules is None or omega is None:
        yield
        return
    root = unwrap(transformer)
    handles = []
    cache: dict[str, torch.Tensor] = {}

    def rows(batch: int, ref: torch.Tensor) -> torch.Tensor:
        w = omega.to(device=ref.device, dtype=next(modules.parameters()).dtype)
        return rows_for_batch(w, batch)

    block_mod = modules.block_modulation is not None and bool(getattr(backbone, "joint_blocks", ""))

    def add_temb(_module, _inputs, output):
        w = rows(output.shape[0], output)
        if block_mod:
            # m(ω) is computed here, once per forward and outside the blocks, so that gradient
            # checkpointing recomputes a block without recomputing (or missing) m
            cache["vec"] = modules.block_vector(w)
        return output + modules.temb_delta(w).to(output.dtype)

    handles.append(root.get_submodule(backbone.temb_module).register_forward_hook(add_temb))

    if block_mod:
        blocks = root.get_submodule(backbone.joint_blocks)

        def capture_gate(_module, _inputs, output):
            # AdaLayerNormZero → (x, gate_msa, shift_mlp, scale_mlp, gate_mlp); SD3.5's
            # AdaLayerNormZeroX has the same first five, then two more
            cache["gate_mlp"] = output[4]

        def add_block(_module, _inputs, output):
            gate = cache.pop("gate_mlp")
            vec = cache["vec"]
            if vec.shape[0] != gate.shape[0]:
                vec = rows_for_batch(vec, gate.shape[0])
            enc, hid = output
            return enc, hid + (gate * vec.to(gate.dtype)).unsqueeze(1).to(hid.dtype)

        handles.append(root.register_forward_pre_hook(lambda *_: cache.clear()))
        for block in blocks:
            handles.append(block.norm1.register_forward_hook(capture_gate))
            handles.append(block.register_forward_hook(add_block))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        cache.clear()
