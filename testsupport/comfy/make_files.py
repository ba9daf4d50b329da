"""Tiny ParetoSlider and LoRA files for the browser test (a few KB each; random weights, real format)."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]   # the repository (testsupport/comfy/ → root)

from pareto_core import (
    EmbeddingConfig,
    Objective,
    ParetoSliderMetadata,
    PreferenceModules,
    TrainingMetadata,
    save_paretoslider,
)

# file name -> objectives (name, label)
FILES = {
    "tiny_two_objectives.safetensors": [("prompt_adherence", "Prompt adherence"),
                                        ("source_fidelity", "Source fidelity")],
    "tiny_three_objectives.safetensors": [("photorealism", "Photo"), ("sketch", "Sketch"),
                                          ("watercolor", "Watercolor")],
    "tiny_five_objectives.safetensors": [("aesthetics", "Aesthetics"), ("text_align", "Text align"),
                                         ("detail", "Detail"), ("contrast", "Contrast"),
                                         ("saturation", "Saturation")],
    # the files the example workflows name (so templates load without "missing model" errors)
    "my_sd35_slider.safetensors": [("photorealism", "Photorealism"), ("sketch", "Pencil sketch")],
    "my_flux_kontext_slider.safetensors": [("prompt_adherence", "Prompt adherence"),
                                           ("source_fidelity", "Source fidelity")],
    "my_ltx2_slider.safetensors": [("motion", "More motion"), ("stability", "Steady shot")],
}
# how a file records its training sampling (as the trainer configs the templates pair with:
# sd35_photo_vs_sketch.yaml, flux_kontext_adherence_vs_fidelity.yaml); the others record none
TRAINING = {
    "my_sd35_slider.safetensors": {"resolution": 512, "sample_steps": 10, "cfg": 1.0},
    "my_flux_kontext_slider.safetensors": {"resolution": 512, "sample_steps": 10, "cfg": 1.0, "guidance": 2.5},
    "my_ltx2_slider.safetensors": {"resolution": 512, "sample_steps": 10, "cfg": 1.0},   # ltx2_motion_vs_stability
}
ARCHITECTURE = {"my_flux_kontext_slider.safetensors": "flux", "my_ltx2_slider.safetensors": "ltx2"}

# Empty stand-ins for the base models the example workflows name: the frontend only checks
# that the names are listed; nothing is executed. (folder under models/, file name)
PLACEHOLDER_MODELS = [
    ("checkpoints", "sd3.5_medium_incl_clips_t5xxlfp8scaled.safetensors"),
    ("diffusion_models", "flux1-dev-kontext_fp8_scaled.safetensors"),
    ("text_encoders", "clip_l.safetensors"),
    ("text_encoders", "t5xxl_fp8_e4m3fn_scaled.safetensors"),
    ("vae", "ae.safetensors"),
    ("checkpoints", "ltx-2-19b-dev-fp8.safetensors"),
    ("text_encoders", "gemma_3_12B_it_fp4_mixed.safetensors"),
    ("checkpoints", "sd_xl_base_1.0.safetensors"),
]
# the LoRAs the SDXL template names: placeholders here too (the browser test then writes real
# tiny SDXL LoRAs under these names with tiny_sdxl.py, for its end-to-end run)
SDXL_TEMPLATE_LORAS = ["sdxl_photoreal.safetensors", "sdxl_sketch.safetensors"]
PLACEHOLDER_MODELS += [("loras", name) for name in SDXL_TEMPLATE_LORAS]


def write_tiny_files(folder: str | Path, width: int = 32) -> dict[str, Path]:
    folder = Path(folder)
    torch.manual_seed(0)
    out = {}
    for name, objs in FILES.items():
        emb = EmbeddingConfig(num_objectives=len(objs), width=width, hidden=16)
        meta = ParetoSliderMetadata(
            architecture=ARCHITECTURE.get(name, "sd3"), width=width, variant="tiny-test",
            objectives=[Objective(name=n, label=lab, reward=n) for n, lab in objs],
            embedding=emb, training=TrainingMetadata(**TRAINING.get(name, {})))
        out[name] = save_paretoslider(folder / name, meta, {}, PreferenceModules(emb))
    return out


# Tiny LoRA files (models/loras/) for the "ParetoSlider from LoRAs" node: the widget labels
# itself from their stems, and the example workflow names the first two.
LORAS = ["sd35_photoreal.safetensors", "sd35_watercolor.safetensors", "styles/ink_sketch.safetensors",
         "sd35_neon.safetensors"]


def write_tiny_loras(folder: str | Path, width: int = 32, rank: int = 4) -> list[Path]:
    """Real LoRA files (diffusers/peft key names on an SD3 block), a few KB each."""
    from safetensors.torch import save_file
    folder = Path(folder)
    out = []
    for seed, name in enumerate(LORAS):
        g = torch.Generator().manual_seed(seed)
        sd = {}
        for proj in ("to_q", "to_k", "to_v"):
            key = f"transformer.transformer_blocks.0.attn.{proj}"
            sd[f"{key}.lora_A.weight"] = torch.randn(rank, width, generator=g) * 0.05
            sd[f"{key}.lora_B.weight"] = torch.randn(width, rank, generator=g) * 0.05
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(path))
        out.append(path)
    return out


def write_template_placeholders(base: str | Path) -> None:
    """Placeholder base-model files under a ComfyUI base directory (the Kontext template's source
    image is not written: the extension copies it into input/ itself, nodes/example_inputs.py)."""
    base = Path(base)
    for folder, name in PLACEHOLDER_MODELS:
        (base / "models" / folder).mkdir(parents=True, exist_ok=True)
        (base / "models" / folder / name).write_bytes(b"")


if __name__ == "__main__":
    for p in write_tiny_files(sys.argv[1] if len(sys.argv) > 1 else ".").values():
        print(p)
