"""The file's LoRA → ComfyUI weight patches, refusing keys that map to nothing.

ComfyUI's own load_lora_for_models only logs unmapped keys; a ParetoSlider whose LoRA silently
half-loads gives a wrong image, so here any unmapped key is an error that names it.
"""
from __future__ import annotations

import contextlib
import logging
import threading

import comfy.lora
import comfy.lora_convert
import torch

from ..pareto_core import ParetoSliderMismatchError

_NOT_LOADED = "lora key not loaded: "


@contextlib.contextmanager
def comfy_warnings():
    """The warnings ComfyUI logs meanwhile in this thread (its LoRA code logs, never raises, what it
    cannot apply; the server's other threads keep logging their own)."""
    records: list[logging.LogRecord] = []
    thread = threading.get_ident()

    class Catch(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING and record.thread == thread:
                records.append(record)
    handler = Catch(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def map_lora(model, lora: dict[str, torch.Tensor]) -> tuple[dict, list[str]]:
    """(ComfyUI's patch dict for `model`, a ModelPatcher; the sorted keys that mapped to nothing)."""
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    # LTX-2 modules carry the diffusers names under diffusion_model. (our trained files write
    # transformer.*); ComfyUI maps no transformer.* for LTX, so this adds names, never changes one.
    if type(model.model).__name__ in ("LTXAV", "LTXV"):
        for key in [k for k in key_map if k.startswith("diffusion_model.")]:
            key_map.setdefault("transformer." + key[len("diffusion_model."):], key_map[key])
    converted = comfy.lora_convert.convert_lora(dict(lora))
    # ComfyUI's own verdict on each key (what LoraLoaderModelOnly logs as not loaded), any format
    with comfy_warnings() as warned:
        patches = comfy.lora.load_lora(converted, key_map, log_missing=True)
    unmapped = sorted(r.getMessage()[len(_NOT_LOADED):] for r in warned if r.getMessage().startswith(_NOT_LOADED))
    return patches, unmapped


def lora_patches(model, lora: dict[str, torch.Tensor], file_name: str = "") -> dict:
    """ComfyUI patch dict for `model` (a ModelPatcher). Raises naming every key that did not map."""
    patches, unmapped = map_lora(model, lora)
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
