"""Apply ParetoSlider: MODEL + slider + ω → a patched clone (LoRA + ω injection).

Moving the slider re-runs this node with a new ω. The LoRA-patched clone is cached on the
input model (per file version and strength) and every ω clone is cloned from it, so they all
share its patches_uuid: ComfyUI then sees the same weights and does not re-patch them.

A file with per-objective LoRAs (trained with lora.per_objective) is W0 + Σ_k ω_k ΔW_k: its LoRAs go
through the LoRA slider's soups (nodes/multi_lora.py): merged at one ω (re-patched when ω moves, the
last two ω cached), unmerged per row for per-sample ω and schedules.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from comfy.patcher_extension import WrappersMP
from comfy_api.latest import io

from ..pareto_core.schedule import OmegaSchedule
from .errors import log, user_errors
from .injection import WRAPPER_KEY, OmegaInjector, check_block_modulation
from .loader import LoadedSlider
from .lora import add_lora
from .lora_slider import LoraFile, LoraSlider
from .model_info import describe_model
from .multi_lora import apply_lora_slider
from .socket_types import CATEGORY, ParetoPreferenceType, ParetoSliderType
from .sweep_noise import add_same_noise, wants_same_noise

_CACHE_ATTR = "_paretoslider_lora_clones"   # lives and dies with the input ModelPatcher
_CACHE_SIZE = 2


def lora_clone(model, slider: LoadedSlider, strength: float):
    """The LoRA-patched clone of `model` for this file version and strength (cached)."""
    cache: OrderedDict = model.__dict__.setdefault(_CACHE_ATTR, OrderedDict())
    key = (slider.stamp, float(strength), model.patches_uuid)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    patched = add_lora(model, slider.file.lora, strength, slider.name)
    cache[key] = patched
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    log.debug("ParetoSlider: LoRA of %s applied at strength %g", slider.name, strength)
    return patched


def objective_soup(slider: LoadedSlider) -> LoraSlider:
    """The file's per-objective LoRAs as a soups LoRA slider (one LoRA per objective, in ω order)."""
    files = tuple(LoraFile(name=f"{slider.name} [{o.label}]", stamp=slider.stamp, lora=part, digest=f"objective{k}")
                  for k, (o, part) in enumerate(zip(slider.metadata.objectives, slider.file.objective_loras)))
    return LoraSlider("soups", files, slider.objective_names)


def checked_preference(slider, preference):
    """ω (K,) / (N, K) or a schedule, checked against the slider; a constant schedule is its ω."""
    if isinstance(preference, OmegaSchedule):
        schedule = preference.validated(slider.check_preference)
        return schedule.omegas[0] if schedule.is_constant else schedule
    return slider.check_preference(preference)


def apply_paretoslider(model, slider: LoadedSlider | LoraSlider, omega, lora_strength: float = 1.0):
    """Validate, then return a clone of `model` that samples with ω (K,), per-sample ω (N, K) or
    an ω schedule; per-sample ω also gives every row the same noise (nodes/sweep_noise.py)."""
    patched = _patched(model, slider, omega, lora_strength)
    if wants_same_noise(omega):
        patched = add_same_noise(patched.clone())   # a clone: a cached LoRA clone stays as it was
    return patched


def _patched(model, slider: LoadedSlider | LoraSlider, omega, lora_strength: float):
    """The clone sampling with ω; a LoRA slider goes to nodes/multi_lora.py."""
    if isinstance(slider, LoraSlider):      # any model ComfyUI LoRA-patches (docs/LORA_SLIDERS.md)
        return apply_lora_slider(model, slider, omega, lora_strength)
    info = describe_model(model)
    slider.file.check_compatible(info.architecture, info.width, info.name)
    if slider.metadata.embedding.block_modulation:
        check_block_modulation(info, slider.name, slider.metadata.embedding)
    omega = checked_preference(slider, omega)
    patched = lora_clone(model, slider, lora_strength)
    if slider.file.objective_loras:
        patched = apply_lora_slider(patched, objective_soup(slider), omega, lora_strength)
    patched = patched.clone()
    injector = OmegaInjector(slider.file.preference_modules(), omega, info)
    # One wrapper per slider file: applying the same file again replaces it, other files stack.
    key = f"{WRAPPER_KEY}:{slider.name}"
    if hasattr(patched, "remove_wrappers_with_key"):  # absent in old ComfyUI
        patched.remove_wrappers_with_key(WrappersMP.APPLY_MODEL, key)
    patched.add_wrapper_with_key(WrappersMP.APPLY_MODEL, key, injector)
    return patched


class ApplyParetoSlider(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ApplyParetoSlider",
            display_name="Apply ParetoSlider",
            category=CATEGORY,
            description="Patches a clone of the model with the slider's LoRA and conditions it on "
                        "the preference ω. Changing ω does not re-patch weights (a file with one LoRA per "
                        "objective re-mixes them when ω moves).",
            inputs=[
                io.Model.Input("model"),
                ParetoSliderType.Input("slider"),
                ParetoPreferenceType.Input("preference"),
                io.Float.Input("lora_strength", default=1.0, min=-4.0, max=4.0, step=0.01,
                               tooltip="Strength of the slider's LoRA (1 = as trained)"),
            ],
            outputs=[io.Model.Output(display_name="MODEL")],
        )

    @classmethod
    @user_errors
    def execute(cls, model, slider: LoadedSlider | LoraSlider, preference: torch.Tensor | OmegaSchedule,
                lora_strength: float = 1.0) -> io.NodeOutput:
        return io.NodeOutput(apply_paretoslider(model, slider, preference, lora_strength))
