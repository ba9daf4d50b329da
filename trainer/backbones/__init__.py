"""Backbones: the training loop only sees `Backbone` (base.py).

`build_backbone(model_cfg, device, dtype)` makes one from the config's `model` section:
sd3 (SD3/SD3.5 text-to-image), flux_kontext (Flux Kontext editing), ltx2 (LTX-2 text-to-video),
toy (the CPU demo and benchmark). A new backbone is a module with a Backbone subclass and a line in BACKBONES.
How the frozen base loads: fp8 weights (quantize.py), prompt embeddings cached on disk (text_cache.py).
"""
from __future__ import annotations

import importlib

import torch

from ..errors import UserError
from .base import Backbone, Conditioning, Sample

# name → (module, class)
BACKBONES = {
    "sd3": ("trainer.backbones.sd3", "SD3Backbone"),
    "flux_kontext": ("trainer.backbones.flux_kontext", "FluxKontextBackbone"),
    "ltx2": ("trainer.backbones.ltx2", "LTX2Backbone"),
    "toy": ("trainer.backbones.toy", "ToyBackbone"),
}


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """model.dtype → torch dtype; "auto" is bf16 on a GPU, fp32 on the CPU."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def build_backbone(model_cfg, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Backbone:
    name = model_cfg.backbone
    if name not in BACKBONES:
        raise UserError(f"model.backbone: unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    module, cls_name = BACKBONES[name]
    cls = getattr(importlib.import_module(module), cls_name)
    if name == "toy":
        kwargs = {"device": device, "dtype": dtype}
        if model_cfg.path:
            kwargs["path"] = model_cfg.path
        return cls(**kwargs)
    if not model_cfg.path:
        raise UserError("model.path: give the local diffusers folder or single-file checkpoint of the model")
    common = dict(path=model_cfg.path, config_path=model_cfg.config_path, device=device, dtype=dtype,
                  resolution=model_cfg.resolution, max_sequence_length=model_cfg.max_sequence_length,
                  variant=model_cfg.variant)
    # memory options of SD3 and Flux Kontext (docs/TRAINING.md "Fitting one GPU")
    fit = dict(text_encoders=not model_cfg.text_cache, quantize=model_cfg.quantize)
    if name == "sd3":
        return cls(shift=model_cfg.shift, timestep_dtype=model_cfg.timestep_dtype, **fit, **common)
    if name == "ltx2":
        return cls(num_frames=model_cfg.num_frames, frame_rate=model_cfg.frame_rate, **common)
    return cls(guidance=model_cfg.guidance, **fit, **common)


__all__ = ["Backbone", "Conditioning", "Sample", "BACKBONES", "build_backbone"]
