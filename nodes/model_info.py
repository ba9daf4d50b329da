"""What a ComfyUI MODEL is, for ParetoSlider: architecture id, embedding width, injection points.

The architecture ids are the file's (pareto_core.ARCHITECTURES). Detection goes by ComfyUI's
model class (exact class: Flux2, Chroma, LongCat subclass Flux but are other models; LTX-Video
v1, model_base.LTXV, is refused like them: no ParetoSlider file is for it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import comfy.model_base as model_base

from ..pareto_core import ParetoSliderMismatchError

SUPPORTED = "SD3 / SD3.5, Flux / Flux Kontext and LTX-2"


@dataclass(frozen=True)
class ModelInfo:
    architecture: str       # a pareto_core.ARCHITECTURES id: "sd3" | "flux" | "ltx2"
    width: int              # width of the timestep-embedding vector ω is added to
    name: str               # a known variant for messages, e.g. "SD3.5 Medium" ("" if unknown)
    embedder_path: str      # module path inside diffusion_model whose output gets ω
    row_expand: str         # how embedder rows relate to batch rows when more: "tile" | "interleave"

    def embedder(self, diffusion_model: torch.nn.Module) -> torch.nn.Module:
        return diffusion_model.get_submodule(self.embedder_path)


_SD3_NAMES = {1536: "SD3.5 Medium", 2432: "SD3.5 Large"}
_LTX2_NAMES = {4096: "LTX-2"}     # the video stream: 32 heads × 128 (the audio stream, 2048, is not conditioned)


def describe_model(model) -> ModelInfo:
    """model: a ComfyUI ModelPatcher (the MODEL socket)."""
    base = getattr(model, "model", None)
    dm = getattr(base, "diffusion_model", None)
    kind = type(base)
    if kind is model_base.SD3:
        width = int(dm.t_embedder.mlp[-1].out_features)
        return ModelInfo("sd3", width, _SD3_NAMES.get(width, ""),
                         "t_embedder", "tile")
    if kind is model_base.Flux:
        width = int(dm.hidden_size)
        # Flux Kontext with timestep-zero reference latents embeds [t, 0]: 2 chunks of rows.
        return ModelInfo("flux", width, "",
                         "time_in", "tile")
    if kind is model_base.LTXAV:
        # the video stream's timestep embedding (LTXAVModel also has audio_adaln_single and the
        # av_ca_* embedders for the audio stream and the audio–video cross-attention: left alone);
        # a per-token timestep (a denoise mask) gives one row per (sample, token), sample-major.
        # Verified on a real LTXAVModel in tests/integration/test_ltx2_comfyui.py.
        width = int(dm.adaln_single.linear.in_features)
        return ModelInfo("ltx2", width, _LTX2_NAMES.get(width, ""), "adaln_single.emb", "interleave")
    raise ParetoSliderMismatchError(
        f"trained ParetoSlider files are for {SUPPORTED} models; this model is {family_name(model)}. "
        "On this model use 'ParetoSlider from LoRAs' (soups, blend or msdda) with LoRAs made for it, "
        "or connect the MODEL of an SD3 / Flux / LTX-2 loader")


_FAMILY_NAMES = {"SD15": "SD1.5", "SD20": "SD2", "SD21UnclipL": "SD2 unCLIP", "SDXL": "SDXL",
                 "SDXLRefiner": "SDXL refiner", "SD3": "SD3", "Flux": "Flux", "FluxSchnell": "Flux",
                 "WAN21_T2V": "Wan", "WAN21_I2V": "Wan", "QwenImage": "Qwen-Image",
                 "HunyuanVideo": "HunyuanVideo", "Chroma": "Chroma", "Lumina2": "Lumina 2",
                 "LTXAV": "LTX-2", "LTXV": "LTX-Video"}


def family_name(model) -> str:
    """The model family as an artist calls it (ComfyUI's detected model config, e.g. SDXL)."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    name = type(config).__name__ if config is not None else type(getattr(model, "model", model)).__name__
    return _FAMILY_NAMES.get(name, name)
