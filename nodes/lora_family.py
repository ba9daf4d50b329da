"""Which model family a LoRA file looks made for, from its key names and a few shapes.

Only for messages ("x looks made for SDXL, but this model is SD3") and for refusing a slider
whose LoRAs were made for different families. Which keys a model takes is decided by ComfyUI's
key map (nodes/lora_updates.py), never by this guess; an unrecognised layout guesses None.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .lora_content import split_text_encoder

# (family, pattern over the diffusion-model keys), first match wins; kohya names use '_' for '.'
_B = r"(^|[._ ])"        # a name boundary (keys are joined with spaces)
_PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((f, re.compile(p)) for f, p in (
    # HunyuanVideo's native img_attn_qkv is Flux's img_attn.qkv once kohya turns dots into '_';
    # then only its 20th double block (Flux has 19) or its token refiner tell them apart
    ("HunyuanVideo", r"\.(img|txt)_attn_qkv|individual_token_refiner|double_blocks[._]19[._]"),
    ("Flux", r"double_blocks|single_blocks|single_transformer_blocks"),
    ("Qwen-Image", r"img_mlp|txt_mlp|img_mod|txt_mod"),
    ("SD3", r"joint_blocks|context_block|add_q_proj"),
    ("Wan", _B + r"blocks[._]\d+[._](self_attn|cross_attn|ffn)"),
    ("Lumina 2", _B + r"layers[._]\d+[._](attention|feed_forward)|noise_refiner|context_refiner"),
    ("SD / SDXL UNet", r"input_blocks|output_blocks|middle_block|down_blocks|up_blocks|mid_block"),
    ("LTX-Video / LTX-2", _B + r"transformer_blocks[._]\d+[._](attn1|attn2|audio_attn|ff)"),
))


_WIDTH_NAMES = {768: "SD1.5", 1024: "SD2", 2048: "SDXL"}
_DOWN = ("lora_down.weight", "lora_a.weight", "lora.down.weight", "_lora.down.weight", "hada_w1_b", "hada_w2_b")


def _in_width(lora: Mapping[str, torch.Tensor], *needles: str) -> int | None:
    """The input width of the first down factor whose key holds every needle."""
    for key, t in lora.items():
        low = key.lower()
        if all(n in low for n in needles) and low.endswith(_DOWN) and t.ndim >= 2:
            return int(t.shape[1])
    return None


def _unet_family(lora: Mapping[str, torch.Tensor]) -> str:
    """SD1.5 / SD2 / SDXL UNets share their names: the cross-attention's context width tells, else
    the text encoders the file also carries (SDXL has two; SD1.5 CLIP-L is 768 wide, SD2's 1024)."""
    width = _in_width(lora, "attn2", "to_k") or _in_width(lora, "attn2", "to_v")
    if width in _WIDTH_NAMES:
        return _WIDTH_NAMES[width]
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in lora):
        return "SDXL"
    te_width = _in_width(lora, "lora_te_", "q_proj") or _in_width(lora, "text_encoder.", "q_proj")
    return {768: "SD1.5", 1024: "SD2"}.get(te_width, "an SD UNet")


def guess_family(lora: Mapping[str, torch.Tensor]) -> str | None:
    """The family a LoRA file (all its keys) looks made for, or None when unsure."""
    names = " ".join(split_text_encoder(lora)[0])
    for family, pattern in _PATTERNS:
        if pattern.search(names):
            return _unet_family(lora) if family == "SD / SDXL UNet" else family
    return None


def same_family(guess: str | None, family: str) -> bool:
    """Whether a guessed family agrees with a model's family name (unsure counts as agreeing)."""
    if guess is None or guess in family or family in guess:
        return True
    return guess == "an SD UNet" and family in ("SD1.5", "SD2", "SDXL", "SDXL refiner")
