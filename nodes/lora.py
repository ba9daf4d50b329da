"""The file's LoRA → ComfyUI weight patches, refusing keys that map to nothing.

ComfyUI's own load_lora_for_models only logs unmapped keys; a ParetoSlider whose LoRA silently
half-loads gives a wrong image, so here any unmapped key is an error that names it.
"""
from __future__ import annotations

import comfy.lora
import comfy.lora_convert
import torch

from ..pareto_core import ParetoSliderMismatchError

_SUFFIXES = (".lora_A.weight", ".lora_B.weight", ".lora_down.weight", ".lora_up.weight",
             ".lora_mid.weight", ".alpha", ".dora_scale")


def _module_of(key: str) -> str:
    for s in _SUFFIXES:
        if key.endswith(s):
            return key[:-len(s)]
    return key


def lora_patches(model, lora: dict[str, torch.Tensor], file_name: str = "") -> dict:
    """ComfyUI patch dict for `model` (a ModelPatcher). Raises naming every key that did not map."""
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    # LTX-2 modules carry the diffusers names under diffusion_model.; accept transformer.* for them.
    for key in {_module_of(k) for k in lora}:
        if key not in key_map and key.startswith("transformer."):
            alt = "diffusion_model." + key[len("transformer."):]
            if alt in key_map:
                key_map[key] = key_map[alt]
    converted = comfy.lora_convert.convert_lora(dict(lora))
    patches = comfy.lora.load_lora(converted, key_map, log_missing=False)
    unmapped = sorted(k for k in converted
                      if _module_of(k) not in key_map or key_map[_module_of(k)] not in patches)
    if unmapped:
        shown = ", ".join(unmapped[:5]) + (f" (+{len(unmapped) - 5} more)" if len(unmapped) > 5 else "")
        raise ParetoSliderMismatchError(
            f"{file_name or 'ParetoSlider file'}: {len(unmapped)} LoRA key(s) do not match this model: "
            f"{shown}. The file was trained for a different model variant")
    return patches


def add_lora(model, lora: dict[str, torch.Tensor], strength: float, file_name: str = ""):
    """A clone of `model` with the LoRA patches added (weights are patched lazily by ComfyUI)."""
    patched = model.clone()
    if not lora or strength == 0:
        return patched
    patches = lora_patches(model, lora, file_name)
    added = set(patched.add_patches(patches, strength))
    missing = sorted(str(k) for k in patches if k not in added)
    if missing:
        raise ParetoSliderMismatchError(
            f"{file_name or 'ParetoSlider file'}: LoRA targets weights this model does not have: "
            f"{', '.join(missing[:5])}")
    return patched
