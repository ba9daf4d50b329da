"""Random LoRA files in the layouts trainers and download sites write, for any ComfyUI model
(run in ComfyUI's python). The names come from ComfyUI's own key map for that model
(`comfy.lora.model_lora_keys_unet`), one naming style per format, so every family gets each
layout its key map knows; shapes come from the target weights (a slice for fused qkv).

    lora = make_lora(model, "lokr", seed=1)          # {} when the model's key map has no such names
"""
from __future__ import annotations

import math

import torch

TEXT_ENCODER_KEYS = {   # what kohya and diffusers LoRAs carry besides the model (LoraLoaderModelOnly skips)
    "lora_te1_text_model_encoder_layers_0_self_attn_q_proj": (8, 8),
    "lora_te2_text_model_encoder_layers_0_mlp_fc1": (16, 8),
    "text_encoder.text_model.encoder.layers.0.self_attn.k_proj": (8, 8),
}

# format → (key-map prefix, adapter kind, what it targets)
FORMATS = {
    "kohya": ("lora_unet_", "lora", "linear"),
    "kohya_te": ("lora_unet_", "lora", "linear"),                # + text-encoder keys
    "kohya_no_alpha_mixed_rank": ("lora_unet_", "lora_noalpha", "linear"),
    "diffusers_peft": ("transformer.", "peft", "all_linear"),   # every Linear, norm_out's swap included
    "diffusers_unet": ("unet.", "peft", "linear"),
    "diffusers_attn_procs": ("unet.", "attn_procs", "attn"),
    "comfy_generic": ("diffusion_model.", "peft", "linear"),    # ai-toolkit / ComfyUI names
    "onetrainer": ("lora_transformer_", "lora", "linear"),
    "simpletuner_lokr": ("lycoris_", "lokr", "linear"),
    "locon": ("lora_unet_", "lora", "conv"),
    "locon_tucker": ("lora_unet_", "lora_tucker", "conv3"),
    "lokr": ("lora_unet_", "lokr", "linear"),
    "lokr_full": ("lora_unet_", "lokr_full", "linear"),
    # (LoKr with a Tucker core on convs is left out: ComfyUI 0.20.1's own merge fails on it,
    #  "view size is not compatible", so LoraLoaderModelOnly gives nothing to compare with)
    "loha": ("lora_unet_", "loha", "linear"),
    "loha_tucker_conv": ("lora_unet_", "loha_tucker", "conv3"),
    "dora_kohya": ("lora_unet_", "dora", "linear"),
    "dora_peft": ("transformer.", "dora_peft", "linear"),
}


def targets(model, prefix: str, what: str) -> dict[str, tuple[str, tuple[int, ...], bool]]:
    """{lora key prefix: (weight key, the update's shape, has a transform)} for one naming style."""
    import comfy.lora
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    sd = model.model.state_dict()
    out, seen = {}, set()
    for name in sorted(key_map):
        if not name.startswith(prefix):
            continue
        if prefix == "unet." and (".processor." in name) != (what == "attn"):
            continue
        target = key_map[name]
        wkey, offset, fn = (target, None, None) if isinstance(target, str) else (tuple(target) + (None, None))[:3]
        if wkey in seen and offset is None or not wkey.endswith(".weight") or wkey not in sd:
            continue
        shape = tuple(sd[wkey].shape)
        if offset is not None and offset[1] + offset[2] > shape[offset[0]]:
            continue       # ComfyUI's own map is off for this model (Lumina 2's grouped k/v): LoraLoader fails
        if offset is not None:
            shape = shape[:offset[0]] + (offset[2],) + shape[offset[0] + 1:]
        is_conv = len(shape) == 4
        if what in ("linear", "attn") and not (len(shape) == 2 or (is_conv and shape[2:] == (1, 1))):
            continue
        if what == "linear" and fn is not None:
            continue                       # kohya-style LoRAs leave the modulation heads alone
        if what == "all_linear" and len(shape) != 2:
            continue
        if what in ("conv", "conv3") and not (is_conv and shape[2:] != (1, 1)):
            continue
        if what == "attn" and not any(p in name for p in ("to_q", "to_k", "to_v", "to_out")):
            continue
        if (wkey, offset) in seen:
            continue
        seen.add((wkey, offset))
        seen.add(wkey)
        out[name] = (wkey, shape, fn is not None)
    return out


def _factor(n: int) -> tuple[int, int]:
    a = int(math.sqrt(n))
    while n % a:
        a -= 1
    return a, n // a


def make_lora(model, fmt: str, seed: int, subset: bool = False, size: float = 0.35) -> dict[str, torch.Tensor]:
    """A random LoRA of `fmt` for `model`; subset=True touches every other layer only (LoRAs that
    touch different layer sets). `size` sets the update's scale against each weight's."""
    prefix, kind, what = FORMATS[fmt]
    g = torch.Generator().manual_seed(seed)
    sd = model.model.state_dict()
    found = targets(model, prefix, what)
    out: dict[str, torch.Tensor] = {}
    for i, (name, (wkey, shape, _fn)) in enumerate(found.items()):
        if subset and i % 2:
            continue
        w_std = float(sd[wkey].float().std()) or 0.02
        o, n = shape[0], int(torch.tensor(shape[1:]).prod())
        r = 4 if kind != "lora_noalpha" else (2 + i % 3)

        def rnd(*s, scale=1.0):
            return torch.randn(*s, generator=g) * scale
        per = math.sqrt(size * w_std / math.sqrt(r))          # up·down ≈ size · w_std
        if kind in ("lora", "lora_noalpha", "peft", "dora", "dora_peft", "attn_procs", "lora_tucker"):
            if kind == "lora_tucker":
                down, mid, up = rnd(r, shape[1], 1, 1, scale=per), rnd(r, r, *shape[2:], scale=1 / math.sqrt(r)), \
                    rnd(o, r, 1, 1, scale=per)
                out[f"{name}.lora_mid.weight"] = mid
            else:
                down = rnd(r, *shape[1:], scale=per) if len(shape) == 4 else rnd(r, n, scale=per)
                up = rnd(o, r, 1, 1, scale=per) if len(shape) == 4 else rnd(o, r, scale=per)
            if kind in ("peft", "dora_peft"):
                out[f"{name}.lora_A.weight"], out[f"{name}.lora_B.weight"] = down, up
            elif kind == "attn_procs":
                out[f"{name}_lora.down.weight"], out[f"{name}_lora.up.weight"] = down, up
            else:
                out[f"{name}.lora_down.weight"], out[f"{name}.lora_up.weight"] = down, up
            if kind != "lora_noalpha" and kind != "attn_procs":
                out[f"{name}.alpha"] = torch.tensor(float(r))
            if kind in ("dora", "dora_peft"):
                norm = sd[wkey].float().reshape(shape[0] if len(shape) else 1, -1).norm(dim=1) if sd[wkey].shape == shape \
                    else torch.full((o,), float(sd[wkey].float().norm() / math.sqrt(sd[wkey].shape[0])))
                m = norm * (1 + 0.3 * rnd(o))
                if kind == "dora":
                    out[f"{name}.dora_scale"] = m.reshape(o, *([1] * (len(shape) - 1)))
                else:
                    out[f"{name}.lora_magnitude_vector"] = m
        elif kind in ("lokr", "lokr_full", "lokr_tucker"):
            (o1, o2), (n1, n2) = _factor(o), _factor(shape[1])
            out[f"{name}.lokr_w1"] = rnd(o1, n1, scale=math.sqrt(size * w_std))
            s2 = math.sqrt(math.sqrt(size * w_std) / math.sqrt(r))
            if kind == "lokr_full":
                out[f"{name}.lokr_w2"] = rnd(o2, n2, *shape[2:], scale=math.sqrt(size * w_std))
            elif kind == "lokr_tucker":
                out[f"{name}.lokr_w2_a"] = rnd(r, o2, scale=s2)
                out[f"{name}.lokr_w2_b"] = rnd(r, n2, scale=s2)
                out[f"{name}.lokr_t2"] = rnd(r, r, *shape[2:], scale=1 / math.sqrt(r))
            else:
                out[f"{name}.lokr_w2_a"] = rnd(o2, r, scale=s2)
                out[f"{name}.lokr_w2_b"] = rnd(r, n2 * int(torch.tensor(shape[2:]).prod()) if len(shape) == 2
                                               else n2, scale=s2)
            if kind != "lokr_full":
                out[f"{name}.alpha"] = torch.tensor(float(r))
        elif kind in ("loha", "loha_tucker"):
            s = (size * w_std) ** 0.25 / math.sqrt(math.sqrt(r))
            if kind == "loha_tucker":
                for j in (1, 2):
                    out[f"{name}.hada_w{j}_a"] = rnd(r, o, scale=s)
                    out[f"{name}.hada_w{j}_b"] = rnd(r, shape[1], scale=s)
                    out[f"{name}.hada_t{j}"] = rnd(r, r, *shape[2:], scale=1 / math.sqrt(r))
            else:
                for j in (1, 2):
                    out[f"{name}.hada_w{j}_a"] = rnd(o, r, scale=s)
                    out[f"{name}.hada_w{j}_b"] = rnd(r, n, scale=s)
            out[f"{name}.alpha"] = torch.tensor(float(r))
    if out and fmt == "kohya_te":
        for key, (o, n) in TEXT_ENCODER_KEYS.items():
            out[f"{key}.lora_up.weight"] = torch.randn(o, 4, generator=g)
            out[f"{key}.lora_down.weight"] = torch.randn(4, n, generator=g)
            out[f"{key}.alpha"] = torch.tensor(4.0)
    return out


def as_comfy_dora(lora: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """PEFT's DoRA magnitude renamed to kohya's dora_scale: what LoraLoaderModelOnly is given as the
    reference for a PEFT DoRA file (ComfyUI 0.20.1 leaves `lora_magnitude_vector` unloaded)."""
    return {(k.replace(".lora_magnitude_vector", ".dora_scale")): (v.reshape(-1, 1) if k.endswith("magnitude_vector")
                                                                   else v) for k, v in lora.items()}
