"""The tiny random LTX-2 for the ComfyUI tests, built ONCE in ComfyUI's own LTXAVModel (the original
Lightricks key layout, ltx2_comfy_build.py under ComfyUI's python) and read on the diffusers side
with diffusers' converter (trainer.backbones.ltx2.transformer_state_from_file). Runs in the project
venv; ComfyUI never imports this.

ComfyUI reads an LTX model's layer count and context width from its keys and assumes 32 heads
(head dim = attn2.to_k rows // 32, comfy/model_detection.py); everything else it takes from the
safetensors metadata `config` → `transformer`, as LTX-2 releases carry it. So the file carries the
shapes below, including the text connectors' (default 30 heads × 128 over 2 layers: ~700 M
parameters even for a "tiny" model). Each ComfyUI option matches the diffusers config in
testsupport.tiny.LTX2_TRANSFORMER (the parity tests check that they compute the same thing).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import torch

from pareto_core import (EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules, TrainingMetadata,
                         save_paretoslider)
from testsupport.comfy.comfy_server import comfy_env

HERE = Path(__file__).resolve().parent
RANK = 4
WIDTH = 16                  # video stream: 2 heads × 8 (the audio stream is 2 × 4)
CAPTION = 16                # text features per stream; ComfyUI's context is [video | audio] = 32 wide

COMFY_TRANSFORMER = dict(
    in_channels=4, audio_in_channels=128,              # ComfyUI's audio latents: 8 channels × 16 mel bins
    num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
    audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
    caption_channels=CAPTION, num_layers=2,
    rope_type="split", frequencies_precision="float64",     # diffusers: rope_type split, double precision
    use_middle_indices_grid=True, causal_temporal_positioning=True,   # diffusers: patch mid-points, causal offset 1
    timestep_scale_multiplier=1000.0, av_ca_timestep_scale_multiplier=1000.0,  # diffusers: both multipliers 1000
    connector_attention_head_dim=8, connector_num_attention_heads=2, connector_num_layers=1,
)


def build_comfy_file(path: Path, comfy_dir: Path, comfy_python: str, seed: int = 0) -> Path:
    """models/diffusion_models/tiny_ltx2.safetensors, written by ComfyUI's LTXAVModel."""
    cfg = json.dumps({"transformer": COMFY_TRANSFORMER, "seed": seed})
    proc = subprocess.run([comfy_python, str(HERE / "ltx2_comfy_build.py"), str(comfy_dir), str(path), cfg],
                          cwd=comfy_dir, env=comfy_env(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"building the tiny LTX-2 in ComfyUI failed:\n{proc.stderr[-3000:]}")
    return path


def diffusers_transformer(path: Path) -> torch.nn.Module:
    """The same weights as a diffusers LTX2VideoTransformer3DModel (through diffusers' converter)."""
    from diffusers import LTX2VideoTransformer3DModel
    from trainer.backbones.ltx2 import load_transformer_file
    from testsupport.tiny import LTX2_TRANSFORMER
    model = LTX2VideoTransformer3DModel(**LTX2_TRANSFORMER)
    load_transformer_file(model, path, torch.float32)
    return model.eval()


def lora_modules(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    from trainer.backbones.ltx2 import VIDEO_LORA_TARGETS
    return {n: m for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and any(n.endswith("." + t) for t in VIDEO_LORA_TARGETS)}


def random_lora(model: torch.nn.Module, seed: int, scale: float = 0.1, zero: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    lora = {}
    for name, lin in lora_modules(model).items():
        a = torch.randn(RANK, lin.in_features, generator=g) * scale
        b = torch.randn(lin.out_features, RANK, generator=g) * scale * (0 if zero else 1)
        lora[f"transformer.{name}.lora_A.weight"] = a
        lora[f"transformer.{name}.lora_B.weight"] = b
        lora[f"transformer.{name}.alpha"] = torch.tensor(float(2 * RANK))
    return lora


def metadata(names=("motion", "stability")) -> ParetoSliderMetadata:
    cfg = EmbeddingConfig(num_objectives=len(names), width=WIDTH, hidden=16)
    return ParetoSliderMetadata(
        architecture="ltx2", width=WIDTH, variant="tiny-ltx2", lora={"rank": RANK, "alpha": 2 * RANK},
        objectives=[Objective("motion", "More motion", "motion_magnitude"),
                    Objective("stability", "Steady shot", "temporal_consistency")][:len(names)],
        embedding=cfg, training=TrainingMetadata(backbone="ltx2", resolution=64, sample_steps=4),
        front={"omega": [[1, 0], [0.5, 0.5], [0, 1]],
               "scores": {"motion": [0.2, 0.1, 0.05], "stability": [0.5, 0.7, 0.9]}})


def random_preference(config: EmbeddingConfig, seed: int, scale: float = 0.5) -> PreferenceModules:
    torch.manual_seed(seed)
    mods = PreferenceModules(config)
    with torch.no_grad():
        for p in mods.parameters():
            p.copy_(torch.randn_like(p) * scale)
    return mods


def build_ltx2(root: Path, comfy_dir: Path, comfy_python: str) -> dict[str, Path]:
    """The model file, a diffusers folder of the same shapes (for the trainer's single-file path)
    and the ParetoSlider files of the LTX-2 tests."""
    from testsupport.tiny import make_tiny_ltx2
    out: dict[str, Path] = {}
    dm = root / "models" / "diffusion_models"
    ps = root / "models" / "paretoslider"
    dm.mkdir(parents=True, exist_ok=True)
    ps.mkdir(parents=True, exist_ok=True)
    out["ltx2_model"] = build_comfy_file(dm / "tiny_ltx2.safetensors", comfy_dir, comfy_python)
    out["ltx2_diffusers"] = make_tiny_ltx2(root / "ltx2_diffusers")
    model = diffusers_transformer(out["ltx2_model"])
    meta = metadata()
    out["ltx2_slider"] = save_paretoslider(ps / "tiny_ltx2_slider.safetensors", meta, random_lora(model, 1),
                                           random_preference(meta.embedding, 1))
    return out
