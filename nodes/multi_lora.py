"""A LoRA slider inside ComfyUI's sampling (docs/LORA_SLIDERS.md).

- soups at one ω: Σ_i ω_i·s·ΔW_i as ComfyUI weight patches on a clone (merged when the model is
  loaded: one model call per step, re-patched when ω moves, like LoraLoader's strength);
- soups per sample or on a schedule, blend and msdda: the LoRAs stay unmerged. A keyed
  APPLY_MODEL wrapper registers, for one model call, forward hooks on the Linear modules the
  LoRAs target that add  coef_row · s · (x Aᵀ) Bᵀ · alpha/rank  to chosen rows. Blend / msdda
  repeat the batch once per live LoRA (row block j gets LoRA j, one model call) and return
  Σ_j ω_j x0_j; soups give every row Σ_j ω_rj ΔW_j in one pass. Moving ω re-patches nothing.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from comfy.patcher_extension import WrappersMP

from ..pareto_core import ParetoSliderMismatchError
from ..pareto_core.combine import weighted_sum
from ..pareto_core.schedule import OmegaSchedule, omega_now
from .errors import log, user_errors
from .injection import omega_rows
from .lora import lora_patches
from .lora_slider import LoraSlider

WRAPPER_KEY = "paretoslider-loras"
MSDDA_FLAG = "paretoslider_msdda_sampler"     # set in transformer_options by the MSDDA sampler
_CACHE_ATTR = "_paretoslider_soup_clones"
_CACHE_SIZE = 2


class LoraMemoryError(ParetoSliderMismatchError):
    """The LoRAs of a slider do not fit on the device for the method."""


@dataclass(frozen=True)
class LowRank:
    """One LoRA's update of one Linear: out[..., rows, o0:o0+n] += scale · (x downᵀ) upᵀ."""
    module: str                       # path inside diffusion_model
    up: torch.Tensor                  # (out, r)
    down: torch.Tensor                # (r, in)
    scale: float                      # alpha / rank (ComfyUI's LoRA scale)
    out_slice: tuple[int, int] | None  # a fused qkv weight: the slice of outputs this LoRA updates


def check_patches(model, patches: dict, file_name: str) -> None:
    """ComfyUI's loader only logs a shape mismatch and keeps the weight: refuse it instead (a LoRA
    of another model whose key names happen to match)."""
    sd = model.model.state_dict()
    for key, adapter in patches.items():
        wkey, offset = (key, None) if isinstance(key, str) else (key[0], key[1])
        w = sd.get(wkey)
        if w is None:
            raise ParetoSliderMismatchError(f"LoRA {file_name}: this model has no weight {wkey}")
        shape = tuple(w.shape)
        if offset is not None:
            dim, _start, size = offset[:3]
            shape = shape[:dim] + (size,) + shape[dim + 1:]
        weights = getattr(adapter, "weights", None)
        if type(adapter).__name__ == "LoRAAdapter" and weights is not None:
            up, down = weights[0], weights[1]
            inner = 1
            for n in shape[1:]:
                inner *= int(n)
            if (up.shape[0], down.flatten(1).shape[1]) != (shape[0], inner):
                raise ParetoSliderMismatchError(
                    f"LoRA {file_name} is for another model: its update of {wkey} is "
                    f"{up.shape[0]}×{down.flatten(1).shape[1]} but this model's weight is "
                    f"{'×'.join(map(str, shape))}. Choose LoRAs trained for the model you sample with")


def mapped_patches(model, lora: dict, file_name: str) -> dict:
    """ComfyUI weight patches of the LoRA, refusing unmapped keys and mismatched shapes; a LoRA
    none of whose keys map is named a LoRA for another model."""
    try:
        patches = lora_patches(model, lora, file_name)
    except ParetoSliderMismatchError:
        import comfy.lora
        import comfy.lora_convert
        key_map = comfy.lora.model_lora_keys_unet(model.model, {})
        if not comfy.lora.load_lora(comfy.lora_convert.convert_lora(dict(lora)), key_map, log_missing=False):
            raise ParetoSliderMismatchError(
                f"LoRA {file_name} is for another model: none of its {len(lora)} tensors match this "
                f"{type(model.model).__name__} model. Choose LoRAs trained for the model you sample with") from None
        raise
    check_patches(model, patches, file_name)
    return patches


def low_rank_updates(model, lora: dict, file_name: str) -> list[LowRank]:
    """The LoRA as per-Linear low-rank updates (ComfyUI's own key mapping and LoRA loader)."""
    patches = mapped_patches(model, lora, file_name)
    dm = model.model.diffusion_model
    out = []
    for key, adapter in patches.items():
        wkey, offset = (key, None) if isinstance(key, str) else (key[0], key[1])
        name = type(adapter).__name__
        weights = getattr(adapter, "weights", None)
        if name != "LoRAAdapter" or weights is None or any(w is not None for w in weights[3:6]):
            raise ParetoSliderMismatchError(
                f"LoRA {file_name}: {wkey} is a {name.replace('Adapter', '')} update (LoHa/LoKr/DoRA/"
                "LoCon mid); blend, msdda and per-sample or scheduled soups apply plain LoRAs only. "
                "Use soups with one ω, or a plain LoRA")
        if not (wkey.startswith("diffusion_model.") and wkey.endswith(".weight")):
            raise ParetoSliderMismatchError(f"LoRA {file_name}: {wkey} is not a diffusion-model weight")
        path = wkey[len("diffusion_model."):-len(".weight")]
        module = dm.get_submodule(path)
        if not hasattr(module, "in_features"):
            raise ParetoSliderMismatchError(
                f"LoRA {file_name}: {path} is a {type(module).__name__}, not a Linear layer; blend, "
                "msdda and per-sample soups apply LoRAs of Linear layers only (use soups with one ω)")
        up, down, alpha = weights[0], weights[1], weights[2]
        if offset is not None and offset[0] != 0:
            raise ParetoSliderMismatchError(f"LoRA {file_name}: {wkey} updates input slices; not supported")
        scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
        out.append(LowRank(path, up.float(), down.float(), scale,
                           None if offset is None else (int(offset[1]), int(offset[2]))))
    return out


# ----------------------------------------------------------------------------- soups, one ω

def soup_clone(model, slider: LoraSlider, omega: torch.Tensor, strength: float):
    """A clone with Σ_i ω_i·s·ΔW_i as ComfyUI weight patches (cached per ω and strength: the
    last two ω re-queue without re-patching)."""
    cache: OrderedDict = model.__dict__.setdefault(_CACHE_ATTR, OrderedDict())
    key = (slider.stamp, tuple(float(w) for w in omega), float(strength), model.patches_uuid)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    patched = model.clone()
    for w, f in zip(omega.tolist(), slider.files):
        if w == 0 or strength == 0:
            continue                       # a vertex is exactly that LoRA alone
        patches = mapped_patches(model, f.lora, f.name)
        patched.add_patches(patches, w * strength)
    cache[key] = patched
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return patched


# ----------------------------------------------------------------------------- unmerged LoRAs

def fits_in_memory(base_model, batch_shape: tuple[int, ...], device: torch.device) -> bool:
    """Whether one model call on `batch_shape` fits in the free memory (ComfyUI's estimate)."""
    import comfy.model_management as mm
    try:
        need = base_model.memory_required(batch_shape)
    except Exception:      # a model without an estimate: batch
        return True
    return need < mm.get_free_memory(device)


def _rep(obj, batch: int, times: int):
    """Repeat along dim 0 every tensor whose dim 0 is the batch (conds, control, timesteps)."""
    if torch.is_tensor(obj):
        return obj.repeat((times,) + (1,) * (obj.ndim - 1)) if obj.ndim and obj.shape[0] == batch else obj
    if isinstance(obj, dict):
        return {k: _rep(v, batch, times) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rep(v, batch, times) for v in obj)
    return obj


class LoraSliderWrapper:
    """The APPLY_MODEL wrapper of a LoRA slider (blend, msdda, per-sample / scheduled soups)."""

    def __init__(self, slider: LoraSlider, updates: list[list[LowRank]], preference, strength: float):
        self.slider = slider
        self.method = slider.method
        self.updates = updates
        self.preference = preference
        self.strength = float(strength)
        self._on_device: dict[tuple, list[list[tuple[LowRank, torch.Tensor, torch.Tensor]]]] = {}

    def _factors(self, device: torch.device, dtype: torch.dtype):
        key = (device, dtype)
        if key not in self._on_device:
            check_lora_memory(self.slider, self.updates, device)
            self._on_device[key] = [[(u, u.up.to(device, dtype), u.down.to(device, dtype)) for u in ups]
                                    for ups in self.updates]
        return self._on_device[key]

    def _hooks(self, dm, plan: list[tuple[int, slice | None, torch.Tensor | None]], dtype, device) -> list:
        """plan: (LoRA index, rows it updates or None = all, per-row coefficient or None). The
        factors go where the call computes (x's device; offloaded weights may sit elsewhere)."""
        by_module: dict[str, list] = {}
        factors = self._factors(device, dtype)
        for j, rows, coef in plan:
            for u, up, down in factors[j]:
                by_module.setdefault(u.module, []).append((u, up, down, rows, coef, self.strength * u.scale))
        handles = []
        for path, items in by_module.items():
            def hook(module, inputs, output, items=items):
                x = inputs[0]
                for u, up, down, rows, coef, scale in items:
                    xs = x if rows is None else x[rows]
                    d = torch.nn.functional.linear(torch.nn.functional.linear(xs.to(up.dtype), down), up) * scale
                    if coef is not None:
                        d = d * coef.to(d.device, d.dtype).reshape((-1,) + (1,) * (d.ndim - 1))
                    target = output if rows is None else output[rows]
                    if u.out_slice is not None:
                        target = target[..., u.out_slice[0]:u.out_slice[0] + u.out_slice[1]]
                    target += d.to(output.dtype)
                return output
            handles.append(dm.get_submodule(path).register_forward_hook(hook))
        return handles

    @user_errors
    def __call__(self, executor, x: torch.Tensor, t: torch.Tensor, *args, **kwargs) -> Any:
        args = list(args)
        if len(args) > 3:
            options = args[3]
        else:
            options = kwargs.get("transformer_options", {})
        if self.method == "msdda" and not options.get(MSDDA_FLAG):
            raise ParetoSliderMismatchError(
                "method msdda combines stochastic steps: sample with SamplerCustom (or SamplerCustomAdvanced) "
                "and the 'ParetoSlider MSDDA Sampler' node, or choose method blend for KSampler")
        omega = omega_now(self.preference, t, options.get("sample_sigmas"))
        rows = omega_rows(omega, x.shape[0], options.get("cond_or_uncond"))      # (B, K)
        dm = executor.class_obj.diffusion_model
        dtype = executor.class_obj.get_dtype_inference()
        if self.method == "soups":
            plan = [(j, None, rows[:, j] * 1.0) for j in range(rows.shape[1]) if bool((rows[:, j] != 0).any())]
            return self._run(executor, dm, plan, dtype, x, t, args, kwargs)
        live = [j for j in range(rows.shape[1]) if bool((rows[:, j] != 0).any())]
        if len(live) == 1 and bool((rows[:, live[0]] == 1).all()):    # a vertex: that LoRA alone
            return self._run(executor, dm, [(live[0], None, None)], dtype, x, t, args, kwargs)
        b, m = x.shape[0], len(live)
        if fits_in_memory(executor.class_obj, (b * m,) + tuple(x.shape[1:]), x.device):
            big_args = [_rep(a, b, m) for a in args[:3]] + args[3:]
            if len(args) > 3:
                big_args[3] = _repeat_options(options, b, m)
            big_kwargs = {k: (_repeat_options(v, b, m) if k == "transformer_options" else _rep(v, b, m))
                          for k, v in kwargs.items()}
            plan = [(j, slice(i * b, (i + 1) * b), None) for i, j in enumerate(live)]
            out = self._run(executor, dm, plan, dtype, _rep(x, b, m), _rep(t, b, m), big_args, big_kwargs)
            outs = list(out.chunk(m, dim=0))
        else:
            log.debug("ParetoSlider: %d LoRA calls one after the other (the batched call does not fit)", m)
            outs = [self._run(executor, dm, [(j, None, None)], dtype, x, t, args, kwargs) for j in live]
        return weighted_sum(rows[:, live], outs)

    def _run(self, executor, dm, plan, dtype, x, t, args, kwargs):
        handles = self._hooks(dm, plan, dtype, x.device)
        try:
            return executor(x, t, *args, **kwargs)
        finally:
            for h in handles:
                h.remove()


def _repeat_options(options: dict, batch: int, times: int) -> dict:
    """transformer_options for the repeated batch: per-chunk lists and per-row σ repeated."""
    out = dict(options)
    for k in ("cond_or_uncond", "uuids"):
        if isinstance(out.get(k), list):
            out[k] = out[k] * times
    if torch.is_tensor(out.get("sigmas")) and out["sigmas"].ndim and out["sigmas"].shape[0] == batch:
        out["sigmas"] = _rep(out["sigmas"], batch, times)
    return out


def check_lora_memory(slider: LoraSlider, updates: list[list[LowRank]], device: torch.device) -> None:
    """The unmerged LoRA factors stay on the device during sampling: refuse a set that cannot fit."""
    import comfy.model_management as mm
    need = sum(u.up.numel() + u.down.numel() for ups in updates for u in ups) * 4
    free = mm.get_free_memory(device)
    if need > free:
        raise LoraMemoryError(
            f"{len(updates)} LoRAs need {_size(need)} on {device} for {slider.method} "
            f"(their factors stay loaded, unmerged) but only {_size(free)} is free; use fewer "
            "LoRAs, or method soups (merged into the weights)")


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def apply_lora_slider(model, slider: LoraSlider, preference, lora_strength: float = 1.0):
    """A clone of `model` that samples the LoRA slider at ω (K,), per-sample ω (N, K) or a schedule."""
    strength = slider.strength * float(lora_strength)
    if isinstance(preference, OmegaSchedule):
        preference = preference.validated(slider.check_preference)
        if preference.is_constant:
            preference = preference.omegas[0]
    else:
        preference = slider.check_preference(preference)
    if slider.method == "soups" and torch.is_tensor(preference) and preference.ndim == 1:
        return soup_clone(model, slider, preference, strength)
    updates = [low_rank_updates(model, f.lora, f.name) for f in slider.files]
    import comfy.model_management as mm
    check_lora_memory(slider, updates, mm.get_torch_device())
    patched = model.clone()            # same patches_uuid: moving ω re-patches nothing
    key = f"{WRAPPER_KEY}:{slider.name}"
    if hasattr(patched, "remove_wrappers_with_key"):
        patched.remove_wrappers_with_key(WrappersMP.APPLY_MODEL, key)
    patched.add_wrapper_with_key(WrappersMP.APPLY_MODEL, key, LoraSliderWrapper(slider, updates, preference, strength))
    return patched

