"""Tiny random SD3 / Flux transformers (diffusers configs) saved as files ComfyUI's UNETLoader
detects, and ParetoSlider files for them written with the core writer.

Runs in the project venv (diffusers); ComfyUI never imports this. The shapes are the ones ComfyUI
can rebuild from a state dict (comfy/model_detection.py): its SD3 MMDiT reads depth as the
x_embedder width // 64 and fixes width = 64 × depth with heads = depth (so here: 2 layers × 64 =
128, 2 heads of 64); its Flux fixes the rope axes to [16, 56, 56] (head_dim 128) and takes
heads = width // 128 (so here: 1 head of 128, axes_dims_rope (16, 56, 56)).
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from pareto_core import (EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules,
                         TrainingMetadata, save_paretoslider)

SD3_CONFIG = dict(sample_size=32, patch_size=2, in_channels=16, num_layers=2, attention_head_dim=64,
                  num_attention_heads=2, joint_attention_dim=64, caption_projection_dim=128,
                  pooled_projection_dim=32, out_channels=16, pos_embed_max_size=96)
FLUX_CONFIG = dict(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=128,
                   num_attention_heads=1, joint_attention_dim=64, pooled_projection_dim=32,
                   guidance_embeds=True, axes_dims_rope=(16, 56, 56))
WIDTH = {"sd3": 128, "flux": 128}
CONTEXT_DIM, POOLED_DIM = 64, 32     # what the test conditioning node must produce
RANK = 4


def build_transformer(arch: str, seed: int = 0) -> torch.nn.Module:
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel
    torch.manual_seed(seed)
    model = SD3Transformer2DModel(**SD3_CONFIG) if arch == "sd3" else FluxTransformer2DModel(**FLUX_CONFIG)
    # diffusers zero-inits some output layers; random everywhere makes the tests sensitive
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return model.eval()


def save_transformer(model: torch.nn.Module, path: Path) -> Path:
    # clones: ComfyUI's loader swaps norm_out halves in place in what it is given
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def lora_targets(model: torch.nn.Module, arch: str) -> dict[str, torch.nn.Linear]:
    wanted = (("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj",
               "attn.add_k_proj", "attn.add_v_proj", "attn.to_add_out", "proj_mlp", "proj_out"))
    out = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name.endswith(wanted) and "blocks." in name:
            if name.startswith("single_transformer_blocks") or name.startswith("transformer_blocks"):
                out[name] = mod
    return out


def random_lora(model: torch.nn.Module, arch: str, seed: int, scale: float = 0.05,
                zero: bool = False) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lora = {}
    for name, lin in lora_targets(model, arch).items():
        a = torch.randn(RANK, lin.in_features, generator=g) * scale
        b = torch.randn(lin.out_features, RANK, generator=g) * scale
        if zero:
            b.zero_()
        lora[f"transformer.{name}.lora_A.weight"] = a
        lora[f"transformer.{name}.lora_B.weight"] = b
        lora[f"transformer.{name}.alpha"] = torch.tensor(float(2 * RANK))
    return lora


def random_preference(config: EmbeddingConfig, seed: int, scale: float = 0.5,
                      zero: bool = False) -> PreferenceModules:
    torch.manual_seed(seed)
    mods = PreferenceModules(config)
    with torch.no_grad():
        for p in mods.parameters():
            p.copy_(torch.zeros_like(p) if zero else torch.randn_like(p) * scale)
    return mods


# how the "trained" files record their training sampling (the Loader's recommended settings);
# the other files record none, like files written before these fields existed
TRAINED = {"sd3": {"resolution": 64, "sample_steps": 3, "cfg": 1.0},
           "flux": {"resolution": 64, "sample_steps": 2, "cfg": 1.0, "guidance": 2.5}}


def metadata(arch: str, width: int, names=("photo", "sketch"), block_modulation: bool = False,
             training: dict | None = None):
    cfg = EmbeddingConfig(num_objectives=len(names), width=width, hidden=32,
                          block_modulation=block_modulation, num_frequencies=2)
    objectives = [Objective(n, n.capitalize(), f"{n}_score") for n in names]
    return ParetoSliderMetadata(architecture=arch, width=width, objectives=objectives, embedding=cfg,
                                variant=f"tiny-{arch}", lora={"rank": RANK, "alpha": 2 * RANK},
                                training=TrainingMetadata(**(training or {})),
                                front={"omega": [[1, 0], [0.5, 0.5], [0, 1]],
                                       "scores": {n: [0.1, 0.5, 0.9] for n in names}})


def write_slider(path: Path, model, arch: str, seed: int = 1, zero: bool = False,
                 block_modulation: bool = False, width: int | None = None, names=("photo", "sketch"),
                 training: dict | None = None) -> Path:
    meta = metadata(arch, width or WIDTH[arch], names, block_modulation, training)
    lora = random_lora(model, arch, seed, zero=zero)
    mods = random_preference(meta.embedding, seed, zero=zero)
    return save_paretoslider(path, meta, lora, mods)


def write_bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """Files that must be refused with a clear message."""
    bad = {}
    data = good.read_bytes()
    bad["truncated"] = folder / "bad_truncated.safetensors"
    bad["truncated"].write_bytes(data[: len(data) // 2])
    bad["pickle"] = folder / "bad_pickle.safetensors"
    torch.save({"x": torch.zeros(2)}, bad["pickle"])
    bad["garbage"] = folder / "bad_garbage.safetensors"
    bad["garbage"].write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"\x00" * 64)
    bad["oversized"] = folder / "bad_oversized_metadata.safetensors"
    save_file({"transformer.x.alpha": torch.zeros(1)}, str(bad["oversized"]),
              metadata={"paretoslider": "x" * (2 * 1024 * 1024)})
    bad["plain_lora"] = folder / "bad_plain_lora.safetensors"
    save_file({"transformer.x.alpha": torch.zeros(1)}, str(bad["plain_lora"]))
    return bad


def build_all(root: Path) -> dict[str, Path]:
    """models/diffusion_models/tiny_{sd3,flux}.safetensors and models/paretoslider/*.safetensors."""
    dm = root / "models" / "diffusion_models"
    ps = root / "models" / "paretoslider"
    dm.mkdir(parents=True, exist_ok=True)
    ps.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for arch in ("sd3", "flux"):
        model = build_transformer(arch)
        out[f"{arch}_model"] = save_transformer(model, dm / f"tiny_{arch}.safetensors")
        out[f"{arch}_slider"] = write_slider(ps / f"tiny_{arch}_slider.safetensors", model, arch)
        out[f"{arch}_zero"] = write_slider(ps / f"tiny_{arch}_zero.safetensors", model, arch, zero=True)
        out[f"{arch}_blockmod"] = write_slider(ps / f"tiny_{arch}_blockmod.safetensors", model, arch,
                                               seed=2, block_modulation=True)
        out[f"{arch}_trained"] = write_slider(ps / f"tiny_{arch}_trained.safetensors", model, arch,
                                              training=TRAINED[arch])
    out["sd3_wrong_width"] = write_slider(ps / "tiny_sd3_width64.safetensors", build_transformer("sd3"), "sd3",
                                          width=64)
    out["sd3_three"] = write_slider(ps / "tiny_sd3_three.safetensors", build_transformer("sd3"), "sd3",
                                    names=("photo", "sketch", "color"))
    out.update({f"bad_{k}": v for k, v in write_bad_files(ps, out["sd3_slider"]).items()})
    # a sound file whose recorded sampling steps cannot be used: the Loader refuses it
    out["bad_training"] = write_slider(ps / "bad_training_values.safetensors", build_transformer("sd3"), "sd3",
                                       training={"resolution": 64, "sample_steps": -3})
    # the same kind of LoRA as a plain LoRA file, for ComfyUI's own LoraLoader (benchmark baseline)
    loras = root / "models" / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    out["sd3_plain_lora"] = loras / "tiny_sd3_lora.safetensors"
    save_file(random_lora(build_transformer("sd3"), "sd3", seed=1), str(out["sd3_plain_lora"]))
    out.update(write_slider_loras(loras))
    return out


# LoRA-slider inputs (issue 13): plain LoRA files for the tiny models, and ones that must be refused
SLIDER_LORAS = {"sd3_lora_photo": ("sd3", 11), "sd3_lora_sketch": ("sd3", 12), "sd3_lora_color": ("sd3", 13),
                "flux_lora_photo": ("flux", 11), "flux_lora_sketch": ("flux", 12)}


def write_slider_loras(loras: Path) -> dict[str, Path]:
    out = {}
    models = {arch: build_transformer(arch) for arch in ("sd3", "flux")}
    for name, (arch, seed) in SLIDER_LORAS.items():
        out[name] = loras / f"tiny_{name}.safetensors"
        save_file(random_lora(models[arch], arch, seed=seed, scale=0.1), str(out[name]))
    unmapped = random_lora(models["sd3"], "sd3", seed=14, scale=0.1)
    unmapped["transformer.no_such_block.attn.to_q.lora_A.weight"] = torch.zeros(RANK, 8)
    unmapped["transformer.no_such_block.attn.to_q.lora_B.weight"] = torch.zeros(8, RANK)
    out["sd3_lora_unmapped"] = loras / "tiny_sd3_lora_unmapped.safetensors"
    save_file(unmapped, str(out["sd3_lora_unmapped"]))
    # the same key names for an SD3 of another width (like a Large LoRA on Medium)
    from diffusers import SD3Transformer2DModel
    narrow = SD3Transformer2DModel(**{**SD3_CONFIG, "attention_head_dim": 32, "caption_projection_dim": 64})
    out["sd3_lora_other_width"] = loras / "tiny_sd3_lora_other_width.safetensors"
    save_file(random_lora(narrow, "sd3", seed=15, scale=0.1), str(out["sd3_lora_other_width"]))
    return out


if __name__ == "__main__":
    import sys
    for k, v in build_all(Path(sys.argv[1])).items():
        print(k, v)
