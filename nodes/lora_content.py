"""What a LoRA file holds, before any model sees it: the diffusion-model part, its text-encoder keys
(skipped, as LoraLoaderModelOnly skips them), PEFT's DoRA magnitudes in ComfyUI's form, weights that
are not finite, and a digest of the content (the same LoRA under two names).
"""
from __future__ import annotations

import hashlib
import re
from typing import Mapping

import torch

# Text-encoder keys of the kohya, diffusers/PEFT, OneTrainer and ComfyUI layouts (CLIP-L/G, T5, …).
_TEXT_ENCODER = re.compile(r"^(lora_te\d?_|text_encoders?(_\d)?\.|te\d?\.|lora_te_|clip_[lgh]\.|t5xxl\.|"
                           r"(base_model\.model\.)?text_model\.)")
# Suffixes ComfyUI's weight adapters and patch types read (comfy/lora.py, comfy/weight_adapter/).
_ADAPTER_MARK = re.compile(r"(lora|lokr|hada|oft|boft|glora|dora_scale|\.diff(_b)?$|w_norm|b_norm|"
                           r"set_weight|\.alpha$|reshape_weight)", re.IGNORECASE)
_PEFT_MAGNITUDE = (".lora_magnitude_vector.weight", ".lora_magnitude_vector")


def split_text_encoder(sd: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the diffusion-model keys, the text-encoder keys). A MODEL-only LoRA never touches the text
    encoder (LoraLoaderModelOnly leaves those keys unloaded), so neither does a LoRA slider."""
    model, text = {}, []
    for k, v in sd.items():
        (text.append(k) if _TEXT_ENCODER.match(k) else model.__setitem__(k, v))
    return model, sorted(text)


def peft_dora_as_comfy(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """PEFT saves DoRA's magnitude as `<module>.lora_magnitude_vector[.weight]` (out,); ComfyUI reads
    DoRA from kohya's `<module>.dora_scale` (out, 1) and leaves PEFT's key unloaded (0.20.1). The same
    m in W' = m ⊙ (W + ΔW) / ‖W + ΔW‖_row, so rename it."""
    out = {}
    for k, v in sd.items():
        for suffix in _PEFT_MAGNITUDE:
            if k.endswith(suffix):
                out[k[:-len(suffix)] + ".dora_scale"] = v.reshape(-1, 1) if v.ndim == 1 else v
                break
        else:
            out[k] = v
    return out


def looks_like_adapter(sd: Mapping[str, torch.Tensor]) -> bool:
    """Whether any key names a LoRA-family weight (a full checkpoint has none)."""
    return any(_ADAPTER_MARK.search(k) for k in sd)


def first_nonfinite(sd: Mapping[str, torch.Tensor]) -> str | None:
    """The first key (sorted) of a floating tensor holding NaN or ±inf, else None."""
    for k in sorted(sd):
        t = sd[k]
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return k
    return None


def content_digest(sd: Mapping[str, torch.Tensor]) -> str:
    """A digest of the keys, dtypes, shapes and bytes: equal for byte-identical LoRAs."""
    h = hashlib.blake2b(digest_size=16)
    for k in sorted(sd):
        t = sd[k].detach().reshape(-1).contiguous().cpu()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
