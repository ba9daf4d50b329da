"""Feeding ω into a diffusers transformer with forward hooks (the trainer's half of the injection).

    with preference_hooks(backbone.transformer, backbone, modules, omega):
        v = backbone.velocity(x_t, sigma, cond)

- temb: a forward hook on `backbone.temb_module` (SD3/Flux: `time_text_embed`) adds
  `modules.temb_delta(ω)` to its output, one ω row per batch row (pareto_core.rows_for_batch),
  so the same sum reaches every AdaLN as in ComfyUI (`t_embedder` / `time_in`).
- block modulation (optional, `EmbeddingConfig.block_modulation`), on the first
  `config.active_blocks(n)` blocks of `backbone.joint_blocks`, with m = `modules.block_vector(ω[, pooled])`
  shared by those blocks: `residual` adds `gate_mlp ⊙ m` to the block's image-stream output
  (`gate_mlp` is the block's own AdaLN MLP gate, captured from `block.norm1`'s output);
  `affine` / `scale_only` / `shift_only` add m to the image stream's `scale_mlp` / `shift_mlp`
  in `block.norm1`'s output. See docs/FORMAT_INJECTION.md.

Hooks are removed on exit, also when the body raises. Module paths (and LoRA keys) stay intact.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from pareto_core import PreferenceModules, rows_for_batch
from pareto_core.preference import modulate_block

from .lora import objective_gates


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
    `modules=None` or `omega=None` installs no preference module (the base model / "preference off").
    Per-objective LoRAs (lora.per_objective) are scaled by ω here too (`objective_gates`; off without ω).
    """
    with objective_gates(unwrap(transformer), omega):
        with _module_hooks(transformer, backbone, modules, omega):
            yield


@contextmanager
def _module_hooks(transformer: nn.Module, backbone, modules: PreferenceModules | None,
                  omega: torch.Tensor | None) -> Iterator[None]:
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
    config = modules.config

    def add_temb(_module, inputs, output):
        w = rows(output.shape[0], output)
        if block_mod:
            # m(ω) is computed here, once per forward and outside the blocks, so that gradient
            # checkpointing recomputes a block without recomputing (or missing) m. The pooled text
            # is the embedder's last input (SD3: time_text_embed(timestep, pooled_projections))
            pooled = inputs[-1] if modules.needs_pooled and len(inputs) > 1 else None
            cache["vec"] = modules.block_vector(w, pooled)
        return output + modules.temb_delta(w).to(output.dtype)

    handles.append(root.get_submodule(backbone.temb_module).register_forward_hook(add_temb))

    if block_mod:
        blocks = list(root.get_submodule(backbone.joint_blocks))
        form, width = config.block_form, config.width

        def vector(batch: int) -> torch.Tensor:
            vec = cache["vec"]
            return vec if vec.shape[0] == batch else rows_for_batch(vec, batch)

        def norm1_hook(_module, _inputs, output):
            # AdaLayerNormZero → (x, gate_msa, shift_mlp, scale_mlp, gate_mlp); SD3.5's
            # AdaLayerNormZeroX has the same first five, then two more
            if form == "residual":
                cache["gate_mlp"] = output[4]
                return None
            shift, scale = modulate_block(form, width, vector(output[2].shape[0]), output[2], output[3])
            return (*output[:2], shift, scale, *output[4:])

        def add_block(_module, _inputs, output):
            gate = cache.pop("gate_mlp")
            enc, hid = output
            return enc, hid + (gate * vector(gate.shape[0]).to(gate.dtype)).unsqueeze(1).to(hid.dtype)

        handles.append(root.register_forward_pre_hook(lambda *_: cache.clear()))
        for block in blocks[:config.active_blocks(len(blocks))]:
            handles.append(block.norm1.register_forward_hook(norm1_hook))
            if form == "residual":
                handles.append(block.register_forward_hook(add_block))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        cache.clear()
