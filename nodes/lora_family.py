"""Which model family a LoRA file looks made for, from its key names and a few shapes.

Only for messages ("x looks made for SDXL, but this model is SD3") and for refusing a slider
whose LoRAs were made for different families. Which keys a model takes is decided by ComfyUI's
key map (nodes/lora_updates.py), never by this guess; an unrecognised layout guesses None.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

# (family, pattern over the diffusion-model keys), first match wins; kohya names use '_' for '.'
_B = r"(^|[._ ])"        # a name boundary (keys are joined with spaces)
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((f, re.compile(p)) for f, p in (
    ("HunyuanVideo", r"img_attn_qkv|txt_attn_qkv|individual_token_refiner"),
    ("Flux", r"double_blocks|single_blocks|single_transformer_blocks"),
    ("Qwen-Image", r"img_mlp|txt_mlp|img_mod|txt_mod"),
    ("SD3", r"joint_blocks|context_block|add_q_proj"),
    ("Wan", _B + r"blocks[._]\d+[._](self_attn|cross_attn|ffn)"),
    ("Lumina 2", _B + r"layers[._]\d+[._](attention|feed_forward)|noise_refiner|context_refiner"),
    ("SD / SDXL UNet", r"input_blocks|output_blocks|middle_block|down_blocks|up_blocks|mid_block"),
    ("LTX-Video / LTX-2", _B + r"transformer_blocks[._]\d+[._](attn1|attn2|audio_attn|ff)"),
))


def _unet_family(keys: Mapping[str, torch.Tensor]) -> str:
    """SD1.5 / SD2 / SDXL UNets share their names: the cross-attention's context width tells."""
    for key, t in keys.items():
        low = key.lower()
        if "attn2" in low and ("to_k" in low or "to_v" in low) and t.ndim >= 2:
            if any(low.endswith(s) for s in ("lora_down.weight", "lora_a.weight", "lora.down.weight",
                                               "_lora.down.weight", "hada_w1_b", "hada_w2_b")):
                width = int(t.shape[1])
                return {768: "SD1.5", 1024: "SD2", 2048: "SDXL"}.get(width, "an SD UNet")
    return "an SD UNet"


def guess_family(lora: Mapping[str, torch.Tensor]) -> str | None:
    """The family the diffusion-model keys of `lora` look made for, or None when unsure."""
    names = " ".join(lora)
    for family, pattern in _PATTERNS:
        if pattern.search(names):
            if family == "SD / SDXL UNet":
                return _unet_family(lora)
            return family
    return None
