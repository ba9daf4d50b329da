"""The reference code's preference-conditioned SD3 transformer, re-written for tests from its maths
(github Shelley-Golan/ParetoSlider, T2I/flow_grpo/diffusers_patch/transformer_sd3.py), and
checkpoints saved in its two layouts.

    model = build_reference_sd3(pref_dim=2, block_form="affine", use_pooled_text=True, num_freqs=4,
                                block_fraction=0.5)
    v = model(x, context, pooled, timestep, preference)                 # the reference forward
    save_peft_checkpoint(model, dir, objective_names=[...], rank=4)     # lora/ (PEFT) + metadata.json
    save_legacy_checkpoint(model, dir, ...)                             # lora/ (diffusers save_pretrained)

Independent of pareto_core and the trainer's hooks on purpose: the forward is written out block by
block here (temb + pref_mlp(ω); the SliderProjector's Fourier features → extender → ReLU MLP,
optionally joined with the pooled text; the block vector added to the image stream's MLP scale /
shift before the FF, or after it as gate_mlp ⊙ m, on the first int(n · fraction) blocks), so the
parity test compares two implementations, not one with itself. The module names are the
reference's (`pref_mlp`, `pref_blk_projector.{freqs, pe_extender, projector}`), so PEFT saves the
keys the reference's checkpoints have.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

# SD3.5 Medium's shape at test size: MMDiT-X blocks (dual attention in the first layers), RMS
# qk-norm, width 64 × depth with heads = depth (what ComfyUI's detection assumes)
SD35M_TINY = dict(sample_size=32, patch_size=2, in_channels=16, num_layers=4, attention_head_dim=64,
                  num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=256,
                  pooled_projection_dim=32, out_channels=16, pos_embed_max_size=96,
                  dual_attention_layers=(0, 1), qk_norm="rms_norm")
LORA_TARGETS = ["attn.add_k_proj", "attn.add_q_proj", "attn.add_v_proj", "attn.to_add_out",
                "attn.to_k", "attn.to_out.0", "attn.to_q", "attn.to_v"]   # the reference's list


class SliderProjectorRewrite(nn.Module):
    """sin/cos(π·2^k·ω) per component → Linear(→ 768) → [⊕ pooled] → n Linear layers (ReLU between)."""

    def __init__(self, pref_dim: int, pooled_dim: int, out_dim: int, num_freqs: int, extender: int = 768,
                 n_layers: int = 4):
        super().__init__()
        self.register_buffer("freqs", torch.pow(2.0, torch.arange(num_freqs, dtype=torch.float32)))
        self.pe_extender = nn.Linear(pref_dim * num_freqs * 2, extender)
        layers, width = [], extender + pooled_dim
        for _ in range(n_layers - 1):
            layers += [nn.Linear(width, out_dim), nn.ReLU()]
            width = out_dim
        layers.append(nn.Linear(width, out_dim))
        self.projector = nn.Sequential(*layers)

    def forward(self, pref: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        angle = pref.unsqueeze(-1) * self.freqs * math.pi
        pe = torch.cat([angle.sin(), angle.cos()], dim=-1).flatten(1)
        return self.projector(torch.cat([self.pe_extender(pe), pooled], dim=-1))


def build_reference_sd3(pref_dim: int = 2, block_form: str | None = "residual", use_pooled_text: bool = False,
                        num_freqs: int = 1, block_fraction: float = 1.0, seed: int = 0, config: dict | None = None):
    """The conditioned transformer, every weight random (diffusers zero-inits some output layers);
    the base weights depend on `seed` only, so every form shares one base. `block_form=None`: temb
    only (no pref_blk_projector, as a checkpoint of conditioning_mode "temb")."""
    from diffusers import SD3Transformer2DModel

    class ReferenceConditionedSD3(SD3Transformer2DModel):
        pass

    torch.manual_seed(seed)
    cfg = dict(config or SD35M_TINY)
    model = ReferenceConditionedSD3(**cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.02)
    width = model.inner_dim
    torch.manual_seed(seed + 100)
    model.pref_mlp = nn.Sequential(nn.Linear(pref_dim, width), nn.SiLU(), nn.Linear(width, width))
    if block_form is not None:
        mod_dim = 2 * width if block_form == "affine" else width
        model.pref_blk_projector = SliderProjectorRewrite(
            pref_dim, cfg["pooled_projection_dim"] if use_pooled_text else 0, mod_dim, num_freqs)
    model.ref = dict(pref_dim=pref_dim, block_form=block_form, use_pooled_text=use_pooled_text,
                     num_freqs=num_freqs, block_fraction=block_fraction, active=max(1, min(
                         int(cfg["num_layers"] * block_fraction), cfg["num_layers"])))
    with torch.no_grad():   # the preference modules big enough that every form visibly moves the output
        for name, p in model.named_parameters():
            if name.startswith("pref_"):
                p.normal_(0, 0.1)
    return model.eval()


def base_state(model) -> dict[str, torch.Tensor]:
    """The plain SD3 weights (what a user's SD3.5 checkpoint holds), cloned."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
            if not k.startswith("pref_") and "lora_" not in k}


def _block(block, hidden, context, temb, m, form: str):
    """One JointTransformerBlock with the reference's image-only modulation m (or None)."""
    if block.use_dual_attention:
        norm_h, gate_msa, shift_mlp, scale_mlp, gate_mlp, norm_h2, gate_msa2 = block.norm1(hidden, emb=temb)
    else:
        norm_h, gate_msa, shift_mlp, scale_mlp, gate_mlp = block.norm1(hidden, emb=temb)
    if block.context_pre_only:
        norm_c = block.norm1_context(context, temb)
    else:
        norm_c, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = block.norm1_context(context, emb=temb)
    if m is not None and form == "affine":
        scale_mlp = scale_mlp + m[:, :m.shape[1] // 2]
        shift_mlp = shift_mlp + m[:, m.shape[1] // 2:]
    elif m is not None and form == "scale_only":
        scale_mlp = scale_mlp + m
    elif m is not None and form == "shift_only":
        shift_mlp = shift_mlp + m
    attn, c_attn = block.attn(hidden_states=norm_h, encoder_hidden_states=norm_c)
    hidden = hidden + gate_msa.unsqueeze(1) * attn
    if block.use_dual_attention:
        hidden = hidden + gate_msa2.unsqueeze(1) * block.attn2(hidden_states=norm_h2)
    ff_in = block.norm2(hidden) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
    hidden = hidden + gate_mlp.unsqueeze(1) * block.ff(ff_in)
    if m is not None and form == "residual":
        hidden = hidden + gate_mlp.unsqueeze(1) * m[:, None, :]
    if block.context_pre_only:
        return None, hidden
    context = context + c_gate_msa.unsqueeze(1) * c_attn
    c_in = block.norm2_context(context) * (1 + c_scale_mlp[:, None]) + c_shift_mlp[:, None]
    return context + c_gate_mlp.unsqueeze(1) * block.ff_context(c_in), hidden


@torch.no_grad()
def reference_forward(model, x, context, pooled, timestep, preference) -> torch.Tensor:
    """The reference's conditioned forward (its LoRA already merged into the weights, or injected)."""
    r = model.ref
    h, w = x.shape[-2:]
    hidden = model.pos_embed(x)
    temb = model.time_text_embed(timestep, pooled)
    pref = preference.to(temb.dtype)
    temb = temb + model.pref_mlp(pref)
    text = pooled if r["use_pooled_text"] else pooled.new_zeros(pooled.shape[0], 0)
    m = None if r["block_form"] is None else model.pref_blk_projector(pref, text)
    context = model.context_embedder(context)
    for i, block in enumerate(model.transformer_blocks):
        context, hidden = _block(block, hidden, context, temb, m if i < r["active"] else None, r["block_form"])
    hidden = model.proj_out(model.norm_out(hidden, temb))
    p, c = model.config.patch_size, model.config.out_channels
    hidden = hidden.reshape(x.shape[0], h // p, w // p, p, p, c)
    return torch.einsum("nhwpqc->nchpwq", hidden).reshape(x.shape[0], c, h, w)


def metadata_json(model, objective_names: list[str], pretrained: str = "stabilityai/stable-diffusion-3.5-medium",
                  **overrides) -> dict:
    """What the reference's save_ckpt writes next to lora/ (keys and value types as it writes them)."""
    r = model.ref
    meta = {"pretrained_model": pretrained, "use_lora": True, "reward_fn_keys": list(objective_names),
            "conditioning_mode": "temb_blk_shared", "pref_dim": r["pref_dim"],
            "objective_names": list(objective_names), "transformer_hidden_size": model.inner_dim}
    if r["block_form"] is None:
        meta["conditioning_mode"] = "temb"
    else:
        meta.update(block_mod_form=r["block_form"], use_pooled_text=r["use_pooled_text"], num_freqs=r["num_freqs"],
                    mod_block_fraction=float(r["block_fraction"]))
    meta.update(overrides)
    return meta


def save_peft_checkpoint(model, folder: Path, objective_names: list[str] | None, rank: int = 4, alpha: float = 8.0,
                         seed: int = 1, metadata: dict | None = None, **peft_options):
    """Wrap with PEFT as the reference does (LoRA on its targets, modules_to_save = the preference
    modules), randomise the LoRA, save_pretrained into folder/lora and write folder/metadata.json
    (skipped when objective_names is None). Returns the PeftModel (its forward = the reference's)."""
    from peft import LoraConfig, get_peft_model
    to_save = ["pref_mlp"] + (["pref_blk_projector"] if hasattr(model, "pref_blk_projector") else [])
    config = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian", target_modules=LORA_TARGETS,
                        modules_to_save=to_save, **peft_options)
    peft_model = get_peft_model(model, config)
    # as the reference's training does: a second adapter "old" (its θ_old), which PEFT saves in lora/old/;
    # other values than the default's, so importing the wrong one shows
    peft_model.add_adapter("old", config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
            elif ".modules_to_save.old." in name:
                p.add_(1.0)
    peft_model.set_adapter("default")
    folder = Path(folder)
    peft_model.save_pretrained(str(folder / "lora"))
    if objective_names is not None:
        meta = metadata if metadata is not None else metadata_json(model, objective_names)
        (folder / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return peft_model


def save_legacy_checkpoint(model, folder: Path, objective_names: list[str] | None, rank: int = 4,
                           alpha: float = 8.0, seed: int = 1, with_lora: bool = True):
    """The older layout eval_preference.py still loads: the conditioned diffusers model's own
    save_pretrained into folder/lora (config.json with the conditioning fields registered, and
    diffusion_pytorch_model.safetensors). The LoRA is peft-injected into the model (keys
    `<module>.lora_A.default.weight`, `<module>.base_layer.weight`); `with_lora=False` is a full
    fine-tune (no LoRA tensors). Returns the model with the LoRA in it."""
    folder = Path(folder)
    r = model.ref
    model.register_to_config(pref_dim=r["pref_dim"], conditioning_mode="temb_blk_shared",
                             block_mod_form=r["block_form"], use_pooled_text=r["use_pooled_text"],
                             num_freqs=r["num_freqs"], mod_block_fraction=float(r["block_fraction"]))
    if with_lora:
        from peft import LoraConfig, inject_adapter_in_model
        inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=LORA_TARGETS), model)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    model.save_pretrained(str(folder / "lora"), safe_serialization=True)
    if objective_names is not None:
        (folder / "metadata.json").write_text(json.dumps(metadata_json(model, objective_names), indent=2))
    return model


# Every conditioning form the reference can train, in its layouts: (name, layout, build_reference_sd3 kwargs).
# With metadata.json, except where noted; the inputs give rows of different ω and cond ≠ uncond pooled text.
CASES = [
    ("temb_only", "peft", dict(block_form=None)),
    ("residual_defaults", "peft", dict(block_form="residual", num_freqs=1, block_fraction=1.0)),
    ("affine_pooled_half", "peft", dict(block_form="affine", use_pooled_text=True, num_freqs=3, block_fraction=0.5)),
    ("scale_only_pooled", "peft", dict(block_form="scale_only", use_pooled_text=True, num_freqs=2,
                                       block_fraction=0.75)),
    ("shift_only_quarter", "peft", dict(block_form="shift_only", num_freqs=4, block_fraction=0.25)),
    ("legacy_residual_pooled", "legacy", dict(block_form="residual", use_pooled_text=True, num_freqs=2,
                                              block_fraction=0.5)),
    ("three_objectives_affine", "peft", dict(pref_dim=3, block_form="affine", num_freqs=2)),
]


def make_case(name: str, folder: Path):
    """Build case `name` of CASES, save it under folder/name in its layout; returns the model whose
    forward is the reference's (LoRA active) and the objective names."""
    _, layout, kwargs = next(c for c in CASES if c[0] == name)
    model = build_reference_sd3(**kwargs)
    names = ["photo", "sketch", "color"][:model.ref["pref_dim"]]
    if layout == "peft":
        return save_peft_checkpoint(model, Path(folder) / name, names).base_model.model, names
    return save_legacy_checkpoint(model, Path(folder) / name, names), names


def parity_inputs(num_objectives: int = 2, n: int = 2, seed: int = 5) -> dict[str, torch.Tensor]:
    """N samples (x, sigma, ω rows that differ) and 2N rows of text (cond, then uncond: different pooled)."""
    g = torch.Generator().manual_seed(seed)
    omega = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3]])[:n, :num_objectives]
    omega = omega / omega.sum(1, keepdim=True)
    return dict(x=torch.randn(n, 16, 8, 8, generator=g), sigma=torch.tensor([0.9, 0.4])[:n],
                context=torch.randn(2 * n, 8, 64, generator=g), pooled=torch.randn(2 * n, 32, generator=g),
                omega=omega)


def reference_velocity(model, t: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference forward on the [cond, uncond] batch ComfyUI runs: sample i of both chunks has ω_i."""
    x2, s2 = torch.cat([t["x"], t["x"]]), torch.cat([t["sigma"], t["sigma"]])
    return reference_forward(model, x2, t["context"], t["pooled"], s2 * 1000, t["omega"].repeat(2, 1))
