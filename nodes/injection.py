"""Injecting ω into a ComfyUI model at sampling time (see docs/FORMAT_INJECTION.md).

A keyed APPLY_MODEL wrapper registers forward hooks for the duration of one model call:
- on the timestep embedder (SD3 `t_embedder`, Flux `time_in`, LTX `adaln_single.emb`): adds
  PreferenceModules.temb_delta(ω) to each row, so the sum reaches every AdaLN like the trainer's
  `temb + delta`;
- with block modulation, on the first `active_blocks(n)` SD3 joint blocks / Flux double blocks:
  residual: after the block, image stream h += gate_mlp ⊙ m(ω), gate_mlp being that block's own
  image-stream AdaLN MLP gate; affine / scale_only / shift_only (SD3): m(ω) added to the image
  stream's scale_mlp / shift_mlp. m may read the pooled text (SD3's y), see BlockVector.
Hooks keep module paths intact (LoRA keys still map) and compose with other extensions.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from ..pareto_core import ParetoSliderMismatchError, PreferenceError, PreferenceModules, rows_for_batch
from ..pareto_core.preference import modulate_block
from ..pareto_core.schedule import OmegaSchedule, omega_now
from .errors import user_errors
from .model_info import ModelInfo

WRAPPER_KEY = "paretoslider"


def omega_rows(omega: torch.Tensor, batch: int, cond_or_uncond: list | None) -> torch.Tensor:
    """One ω row per batch row. ComfyUI concatenates chunks (cond, uncond, ...) of equal size;
    sample i of every chunk gets ω_i (same ω for cond and uncond)."""
    chunks = len(cond_or_uncond) if cond_or_uncond else 1
    if batch % chunks != 0:
        chunks = 1
    return rows_for_batch(omega, batch // chunks).repeat(chunks, 1)


def _expand(delta: torch.Tensor, rows_out: int, how: str) -> torch.Tensor:
    rows = delta.shape[0]
    if rows_out == rows:
        return delta
    if rows_out % rows != 0:
        raise PreferenceError(f"the model embedded {rows_out} timesteps for a batch of "
                              f"{rows}; cannot assign preferences to rows")
    k = rows_out // rows
    return delta.repeat(k, 1) if how == "tile" else delta.repeat_interleave(k, dim=0)


class OmegaInjector:
    """The APPLY_MODEL wrapper. Holds ω and the preference modules (fp32, moved per device)."""

    def __init__(self, modules: PreferenceModules, omega: torch.Tensor, info: ModelInfo):
        self.modules = modules.float().eval().requires_grad_(False)
        self.omega = omega if isinstance(omega, OmegaSchedule) else omega.float()   # ω or an ω schedule
        self.info = info
        self._on_device: dict[torch.device, PreferenceModules] = {}

    def _modules_on(self, device: torch.device) -> PreferenceModules:
        if device not in self._on_device:
            copy = PreferenceModules(self.modules.config)
            copy.load_state_dict(self.modules.state_dict())
            self._on_device[device] = copy.to(device).eval().requires_grad_(False)
        return self._on_device[device]

    @user_errors   # runs inside the sampler node: a user error there reads like one of ours
    def __call__(self, executor, x: torch.Tensor, t: torch.Tensor, *args, **kwargs) -> Any:
        transformer_options = args[3] if len(args) > 3 else kwargs.get("transformer_options", {})
        omega = omega_now(self.omega, t, transformer_options.get("sample_sigmas"))
        rows = omega_rows(omega.float(), x.shape[0], transformer_options.get("cond_or_uncond"))
        dm = executor.class_obj.diffusion_model
        modules = self._modules_on(x.device)
        with torch.no_grad():
            w = rows.to(x.device)
            temb_delta = modules.temb_delta(w)
        handles = [self.info.embedder(dm).register_forward_hook(self._temb_hook(temb_delta))]
        if modules.block_modulation is not None:
            handles += block_modulation_hooks(dm, self.info, BlockVector(modules, w))
        try:
            return executor(x, t, *args, **kwargs)
        finally:
            for h in handles:
                h.remove()

    def _temb_hook(self, delta: torch.Tensor) -> Callable:
        how = self.info.row_expand

        def hook(module, inputs, output):
            return output + _expand(delta, output.shape[0], how).to(output.dtype)
        return hook


class BlockVector:
    """m(ω) for one model call. Without the pooled text it is computed at once; with it (the
    reference's `use_pooled_text`), when the model embeds its pooled input: a pre-hook on SD3's
    `y_embedder` reads the raw y (B, 2048 on SD3.5), the same vector diffusers calls
    `pooled_projections`, one row per batch row like ω."""

    def __init__(self, modules: PreferenceModules, omega_rows: torch.Tensor):
        self.modules, self.omega_rows, self.config = modules, omega_rows, modules.config
        self.value: torch.Tensor | None = None
        if not modules.needs_pooled:
            with torch.no_grad():
                self.value = modules.block_vector(omega_rows)

    def pooled_hooks(self, dm: torch.nn.Module) -> list:
        if not self.modules.needs_pooled:
            return []

        def read_y(module, inputs):
            with torch.no_grad():
                self.value = self.modules.block_vector(self.omega_rows.to(inputs[0].device), inputs[0].float())
        return [dm.y_embedder.register_forward_pre_hook(read_y)]

    def get(self, rows: int) -> torch.Tensor:
        if self.value is None:
            raise PreferenceError("this ParetoSlider file's block vector reads the prompt's pooled text "
                                  "embedding, and the model was called without one; connect the SD3 text "
                                  "encoders' conditioning (it carries the pooled output) to the sampler")
        return _expand(self.value, rows, "tile")


def check_block_modulation(info: ModelInfo, file_name: str, config=None) -> None:
    """Refuse a block-modulation file on a model whose blocks ParetoSlider cannot hook, or a
    version-2 form (pre-FF forms, pooled text) on a family it is not implemented for."""
    if info.architecture not in _BLOCK_HOOKS:
        raise ParetoSliderMismatchError(
            f"{file_name} uses block modulation, which ParetoSlider supports on SD3 and Flux only")
    if config is not None and info.architecture != "sd3":
        if config.block_form != "residual" or config.pooled_width:
            what = (f"the '{config.block_form}' block form" if config.block_form != "residual"
                    else "a pooled-text block vector")
            raise ParetoSliderMismatchError(
                f"{file_name} uses {what}, which ParetoSlider supports on SD3 / SD3.5 only; "
                "load it on an SD3 model")


def block_modulation_hooks(dm: torch.nn.Module, info: ModelInfo, vector: BlockVector) -> list:
    check_block_modulation(info, "this ParetoSlider file", vector.config)
    return vector.pooled_hooks(dm) + _BLOCK_HOOKS[info.architecture](dm, vector)


def _sd3_block_hooks(dm: torch.nn.Module, vector: BlockVector) -> list:
    """x_block's adaLN_modulation(c) chunks: (shift_msa, scale_msa, gate_msa, shift_mlp,
    scale_mlp, gate_mlp[, 3 more for dual attention]); scale-only variants have gate_mlp at 3 of 4.
    Residual: h += gate_mlp ⊙ m after the block; affine / scale_only / shift_only: m is added to
    the shift_mlp / scale_mlp chunks of that output, before the block's FF reads them."""
    config = vector.config
    form, width = config.block_form, config.width
    blocks = list(dm.joint_blocks)
    handles = []
    for block in blocks[:config.active_blocks(len(blocks))]:
        xb = block.x_block
        n = 9 if xb.x_block_self_attn else (4 if xb.scale_mod_only else 6)
        if n == 4 and form != "residual":
            raise ParetoSliderMismatchError(f"the '{form}' block form needs an MMDiT block with shift and "
                                            "scale modulation; this model's blocks are scale-only")
        gate_idx = 3 if n == 4 else 5
        captured: dict[str, torch.Tensor] = {}

        def grab(module, inputs, output, captured=captured, n=n, gate_idx=gate_idx):
            captured["gate"] = output.chunk(n, dim=1)[gate_idx]

        def pre_ff(module, inputs, output, n=n):
            chunks = list(output.chunk(n, dim=1))
            chunks[3], chunks[4] = modulate_block(form, width, vector.get(output.shape[0]), chunks[3], chunks[4])
            return torch.cat(chunks, dim=1)

        def add(module, inputs, output, captured=captured):
            context, x = output
            gate = captured.pop("gate")
            return context, x + (gate * vector.get(gate.shape[0]).to(gate.dtype)).unsqueeze(1)

        if form == "residual":
            handles.append(xb.adaLN_modulation.register_forward_hook(grab))
            handles.append(block.register_forward_hook(add))
        else:
            handles.append(xb.adaLN_modulation.register_forward_hook(pre_ff))
    return handles


def _flux_block_hooks(dm: torch.nn.Module, vector: BlockVector) -> list:
    """DoubleStreamBlock: img += img_mod2.gate ⊙ m after the block (img_mod2 = the MLP modulation)."""
    handles = []
    blocks = list(dm.double_blocks)
    for block in blocks[:vector.config.active_blocks(len(blocks))]:
        captured: dict[str, torch.Tensor] = {}

        def grab(module, inputs, output, captured=captured):
            captured["gate"] = output[1].gate

        def add(module, args, kwargs, output, captured=captured):
            img, txt = output
            vec = kwargs.get("vec", args[2] if len(args) > 2 else None)
            gate = vec[0][1].gate if isinstance(vec, tuple) else captured.pop("gate")
            mm = vector.get(gate.shape[0]).to(img.dtype)[:, None, :]
            dims = kwargs.get("modulation_dims_img")
            if dims is None:
                return img + gate * mm, txt
            # Kontext/Flux2 timestep-zero reference tokens: gate column d[2] for tokens d[0]:d[1]
            delta = torch.zeros_like(img)
            for start, end, col in dims:
                delta[:, start:end] = gate[:, col:col + 1] * mm
            return img + delta, txt

        if getattr(block, "modulation", True) and hasattr(block, "img_mod"):
            handles.append(block.img_mod.register_forward_hook(grab))
        handles.append(block.register_forward_hook(add, with_kwargs=True))
    return handles


_BLOCK_HOOKS = {"sd3": _sd3_block_hooks, "flux": _flux_block_hooks}   # architectures with block modulation
