"""A LoRA slider inside ComfyUI's sampling (docs/LORA_SLIDERS.md).

- soups at one ω: Σ_i ω_i·s·ΔW_i as ComfyUI weight patches on a clone (merged when the model is
  loaded: one model call per step, re-patched when ω moves, like LoraLoader's strength);
- soups per sample or on a schedule, blend and msdda: the LoRAs stay unmerged. A keyed
  APPLY_MODEL wrapper registers, for one model call, forward hooks on the layers the LoRAs target
  that add  coef_row · s · update(x)  to chosen rows, update being ComfyUI's own computation of
  the LoRA's change of that layer, in any format (nodes/lora_updates.py). Blend / msdda repeat the
  batch once per live LoRA (row block j gets LoRA j, one model call) and return Σ_j ω_j x0_j;
  soups give every row Σ_j ω_rj ΔW_j in one pass. Moving ω re-patches nothing, and the updates
  are built once per input model and LoRA file.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from comfy.patcher_extension import WrappersMP

from ..pareto_core import ParetoSliderMismatchError
from ..pareto_core.combine import weighted_sum
from ..pareto_core.schedule import OmegaSchedule, omega_now
from .errors import log, user_errors
from .injection import omega_rows
from .lora import map_lora
from .lora_slider import MAX_LORAS, LoraFile, LoraSlider
from .lora_updates import LayerUpdate, PlacedUpdate, UpdateDoesNotFit, chained_delta, layer_op, layer_updates
from .lora_family import same_family
from .model_info import family_name

WRAPPER_KEY = "paretoslider-loras"
MSDDA_FLAG = "paretoslider_msdda_sampler"     # set in transformer_options by the MSDDA sampler
_CACHE_ATTR = "_paretoslider_soup_clones"
_CACHE_SIZE = 2
_UPDATES_ATTR = "_paretoslider_lora_updates"
_CHAIN_CACHE = 64          # DoRA layers mixed per row (soups per sample): ΔW per coefficient vector


class LoraMemoryError(ParetoSliderMismatchError):
    """The LoRAs of a slider do not fit on the device for the method."""


def slider_patches(model, f: LoraFile) -> dict:
    """ComfyUI's weight patches of one LoRA of the slider; keys ComfyUI would not load are refused,
    naming the family the LoRA looks made for."""
    patches, unmapped = map_lora(model, f.lora)
    if not unmapped:
        return patches
    family, made_for = family_name(model), _made_for(f, model)
    shown = ", ".join(unmapped[:3]) + (f" (+{len(unmapped) - 3} more)" if len(unmapped) > 3 else "")
    said = f"LoRA {f.name} looks made for {made_for}, not this {family} model" if made_for else f"LoRA {f.name}"
    if not patches:
        raise ParetoSliderMismatchError(
            f"{said}: none of its {len(f.lora)} model keys match {'it' if made_for else f'this {family} model'} "
            f"({shown}). Choose LoRAs made for {family}")
    raise ParetoSliderMismatchError(
        f"{said}: {len(unmapped)} of its {len(f.lora)} model keys do not match {'it' if made_for else f'this {family} model'} "
        f"({shown}). Choose LoRAs made for {family}")


def _made_for(f: LoraFile, model) -> str | None:
    """The family the LoRA looks made for when that is not the model's (None: same, or unsure)."""
    return None if same_family(f.family, family_name(model)) else f.family


def prepared(model, f: LoraFile, keep_dense: bool = True) -> tuple[dict, list[LayerUpdate]]:
    """(ComfyUI's weight patches, the per-layer updates) of the LoRA on `model`, checked, cached on
    the input model so that moving ω re-queues without mapping or building them again.
    keep_dense=False: check that ComfyUI can apply every update but keep no dense ΔW (what soups
    at one ω need; they merge through ComfyUI)."""
    cache: OrderedDict = model.__dict__.setdefault(_UPDATES_ATTR, OrderedDict())
    key = (f.stamp, f.digest, model.patches_uuid)
    if key in cache and (cache[key][2] or not keep_dense):
        cache.move_to_end(key)
        return cache[key][:2]
    patches = cache[key][0] if key in cache else slider_patches(model, f)
    try:
        cache[key] = (patches, layer_updates(model, patches, f.lora, f.name, keep_dense), keep_dense)
    except UpdateDoesNotFit as err:
        made_for, family = _made_for(f, model), family_name(model)
        log.debug("ParetoSlider: %s: %s", f.name, err)
        raise ParetoSliderMismatchError(
            f"LoRA {f.name} is {'made for ' + made_for if made_for else 'for another model'}: its update of "
            f"{err.key} does not fit this {family} model's {'×'.join(map(str, err.shape))} weight. "
            f"Choose LoRAs made for {family}") from None
    while len(cache) > 2 * MAX_LORAS:
        cache.popitem(last=False)
    return cache[key][:2]


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
        patches, _ = prepared(model, f, keep_dense=False)   # refuses a LoRA of another model (ComfyUI only logs it)
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
    except AttributeError:      # a model class without ComfyUI's estimate: batch
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

    def __init__(self, slider: LoraSlider, updates: list[list[LayerUpdate]], preference, strength: float):
        self.slider = slider
        self.method = slider.method
        self.updates = updates
        self.preference = preference
        self.strength = float(strength)
        self._placed: dict[tuple, list[list[PlacedUpdate]]] = {}
        self._chained: OrderedDict = OrderedDict()

    def _on(self, device: torch.device, dtype: torch.dtype) -> list[list[PlacedUpdate]]:
        key = (device, dtype)
        if key not in self._placed:
            check_lora_memory(self.slider, self.updates, device)
            self._placed[key] = [[PlacedUpdate.place(u, device, dtype) for u in ups] for ups in self.updates]
        return self._placed[key]

    def _hooks(self, dm, plan: list[tuple[int, slice | None, torch.Tensor | None]], dtype, device) -> list:
        """plan: (LoRA index, rows it updates or None = all, per-row coefficient or None). The
        updates go where the call computes (x's device; offloaded weights may sit elsewhere)."""
        placed = self._on(device, dtype)
        by_module: dict[str, list] = {}
        for j, rows, coef in plan:
            for p in placed[j]:
                by_module.setdefault(p.update.module, []).append((j, p, rows, coef))
        handles = []
        for path, items in by_module.items():
            module = dm.get_submodule(path)
            mixed_dora = (len({j for j, *_ in items}) > 1                          # soups: every row
                          and all(rows is None and coef is not None for _, _, rows, coef in items)
                          and any(p.update.dora and p.update.param == "weight" for _, p, *_ in items))
            if mixed_dora:       # soups of several LoRAs on a DoRA layer: ComfyUI's chain per row
                chain = [(j, p) for j, p, *_ in items if p.update.param == "weight"]
                coefs = torch.stack([c for j, p, _r, c in items if p.update.param == "weight"], dim=1)
                handles.append(module.register_forward_hook(self._chained_hook(path, chain, coefs)))
                items = [it for it in items if it[1].update.param != "weight"]

            def hook(module, inputs, output, items=items):
                for _j, p, rows, coef in items:
                    p.add_to(module, output, inputs[0], self.strength if coef is None else coef * self.strength, rows)
                return output
            if items:
                handles.append(module.register_forward_hook(hook))
        return handles

    def _chained_hook(self, path: str, chain: list[tuple[int, PlacedUpdate]], coefs: torch.Tensor):
        """Row r gets W_chain(c_r) − W with c_r its LoRAs' strengths; rows with equal c_r share it."""
        def hook(module, inputs, output):
            x = inputs[0]
            for c in torch.unique(coefs, dim=0):
                idx = (coefs == c).all(dim=1).nonzero().flatten().to(x.device)
                key = (path, tuple(float(v) for v in c), x.dtype, x.device)
                if key not in self._chained:
                    weight = module.weight
                    delta = chained_delta([(float(v) * self.strength, p.update) for v, (_j, p) in zip(c, chain)],
                                          weight, "diffusion_model." + path + ".weight")
                    self._chained[key] = delta.to(x.device, x.dtype)
                    while len(self._chained) > _CHAIN_CACHE:
                        self._chained.popitem(last=False)
                output.index_add_(0, idx, layer_op(module, x.index_select(0, idx), self._chained[key]).to(output.dtype))
            return output
        return hook

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


def check_lora_memory(slider: LoraSlider, updates: list[list[LayerUpdate]], device: torch.device) -> None:
    """The unmerged LoRA updates stay on the device during sampling: refuse a set that cannot fit."""
    import comfy.model_management as mm
    need = sum(u.nbytes for ups in updates for u in ups)
    free = mm.get_free_memory(device)
    if need > free:
        raise LoraMemoryError(
            f"{len(updates)} LoRAs need {_size(need)} on {device} for {slider.method} "
            f"(their updates stay loaded, unmerged) but only {_size(free)} is free; use fewer "
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
    updates = [prepared(model, f)[1] for f in slider.files]
    import comfy.model_management as mm
    check_lora_memory(slider, updates, mm.get_torch_device())
    patched = model.clone()            # same patches_uuid: moving ω re-patches nothing
    key = f"{WRAPPER_KEY}:{slider.name}"
    if hasattr(patched, "remove_wrappers_with_key"):
        patched.remove_wrappers_with_key(WrappersMP.APPLY_MODEL, key)
    patched.add_wrapper_with_key(WrappersMP.APPLY_MODEL, key, LoraSliderWrapper(slider, updates, preference, strength))
    return patched

