"""A tiny SDXL for the SDXL template's end-to-end browser check: a UNet file ComfyUI's UNETLoader
detects as SDXL, a narrow SDXL-VAE decoder VAELoader reads, and two kohya-format SDXL LoRAs.
Random weights (seeded), real formats, built with ComfyUI's own classes:

    COMFYUI_PYTHON tiny_sdxl.py COMFYUI_DIR MODELS_DIR LORA_NAME [LORA_NAME ...]

writes MODELS_DIR/diffusion_models/tiny_sdxl_unet.safetensors, MODELS_DIR/vae/
tiny_sdxl_vae.safetensors and MODELS_DIR/loras/<LORA_NAME> (one per name), then
reads the UNet file back the way UNETLoader does and checks it is supported_models.SDXL
(comfy.model_detection), model_base.SDXL, EPS. The LoRA keys come from ComfyUI's key map
(comfy.lora.model_lora_keys_unet) of that model. Prints one JSON line with what it built.

Why this shape. ComfyUI picks SDXL when the weights read back model_channels 320, context_dim
2048, adm_in_channels 2816 (label_emb: pooled 1280 + 6 × 256 size embeddings), Linear
proj_in/proj_out and an encoder transformer depth of exactly [0, 0, 2, 2, 10, 10] (one entry per
input ResBlock: supported_models.SDXL.unet_config; SSD-1B, Vega and KOALA are the other depth
lists). What detection does not match on is kept small: channel_mult [1, 1, 1] (width 320 at every
level instead of 320 / 640 / 1280), one transformer block per attention in the decoder's two
lower levels and in the middle block instead of SDXL's 2 / 10. So: 3 levels, 2 ResBlocks each,
24 encoder + 6 decoder + 1 middle transformer blocks of width 320 with 2048-wide cross-attention,
0.16 B parameters (SDXL base's UNet: 2.6 B), stored in fp16 (0.32 GB). The text encoders (CLIP-L +
CLIP-G, 0.8 B parameters at fixed sizes) are not built, and the VAE is its decoder at width 32
(no encoder: ComfyUI logs its keys as missing): the test substitutes them (see
test_preference_widget.py).

The LoRAs are what kohya's SDXL scripts write for the UNet: lora_unet_<ComfyUI module path> with
lora_down / lora_up / alpha on the transformer blocks' Linear layers (attn1, attn2, ff) and
proj_in / proj_out, rank 4, plus a few text-encoder keys (lora_te1_ / lora_te2_, CLIP-L / CLIP-G
shapes) as real SDXL LoRAs carry, which a LoRA slider skips like LoraLoaderModelOnly.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from testsupport.comfy.tiny_families import random_state

HERE = Path(__file__).resolve().parent

UNET_FILE = "tiny_sdxl_unet.safetensors"
VAE_FILE = "tiny_sdxl_vae.safetensors"
UNET_CONFIG = dict(use_checkpoint=False, image_size=32, use_spatial_transformer=True, legacy=False,
                   in_channels=4, out_channels=4, model_channels=320, channel_mult=[1, 1, 1],
                   num_res_blocks=[2, 2, 2], transformer_depth=[0, 0, 2, 2, 10, 10],
                   transformer_depth_output=[0, 0, 0, 1, 1, 1, 1, 1, 1], transformer_depth_middle=1,
                   context_dim=2048, use_linear_in_transformer=True, num_classes="sequential",
                   adm_in_channels=2816, use_temporal_resblock=False, use_temporal_attention=False)
CONTEXT_DIM, POOLED_DIM = 2048, 1280       # what CLIP-L + CLIP-G give SDXL: context (77, 2048), pooled 1280
RANK = 4


def _setup(comfy_dir: str) -> None:
    from testsupport.comfy.comfy_inprocess import comfy_setup
    comfy_setup(comfy_dir)


def build_unet(folder: Path, seed: int = 0):
    """The UNet file; returns a ModelPatcher of it as UNETLoader builds it (for the LoRA key map)."""
    import comfy.model_detection
    import comfy.sd
    import comfy.supported_models
    import comfy.utils
    import torch
    from safetensors.torch import save_file
    config = comfy.supported_models.SDXL(dict(UNET_CONFIG))
    config.set_inference_dtype(torch.float32, None)
    net = config.get_model({}).diffusion_model
    sd = random_state(net, seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / UNET_FILE
    save_file({k: v.to(torch.float16).contiguous() for k, v in sd.items()}, str(path))
    del net
    # read back as UNETLoader does: detection, then the model built from it
    loaded = comfy.utils.load_torch_file(str(path))
    params = sum(v.numel() for v in loaded.values())
    detected = comfy.model_detection.model_config_from_unet(loaded, "")
    assert type(detected) is comfy.supported_models.SDXL, f"detected as {type(detected).__name__}"
    for k in ("model_channels", "context_dim", "adm_in_channels", "transformer_depth", "channel_mult",
              "num_res_blocks", "transformer_depth_output", "transformer_depth_middle"):
        assert detected.unet_config[k] == UNET_CONFIG[k], (k, detected.unet_config[k], UNET_CONFIG[k])
    patcher = comfy.sd.load_diffusion_model_state_dict(loaded)
    assert type(patcher.model).__name__ == "SDXL" and patcher.model.model_type.name == "EPS"
    return patcher, path, params, type(detected).__name__


def write_loras(patcher, folder: Path, names: list[str], rank: int = RANK,
                scale: float = 0.5) -> tuple[list[Path], int]:
    """kohya-format SDXL LoRAs (lora_unet_*: the UNet's transformer Linear layers and proj_in /
    proj_out; a few lora_te1_ / lora_te2_ keys as real files carry), one seed per name."""
    import comfy.lora
    import torch
    from safetensors.torch import save_file
    net = patcher.model.diffusion_model
    linear = {f"diffusion_model.{n}.weight": m for n, m in net.named_modules() if isinstance(m, torch.nn.Linear)
              and (".transformer_blocks." in n or n.endswith((".proj_in", ".proj_out")))}
    targets = {}
    for key, target in comfy.lora.model_lora_keys_unet(patcher.model, {}).items():
        if key.startswith("lora_unet_") and isinstance(target, str) and target in linear:
            native = "lora_unet_" + target[len("diffusion_model."):-len(".weight")].replace(".", "_")
            if key == native:
                targets[key] = linear[target].weight.shape
    assert targets, "no lora_unet_ keys in ComfyUI's key map"
    # text-encoder modules of a kohya SDXL LoRA: CLIP-L (768) and CLIP-G (1280) attention
    text = {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj": (768, 768),
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj": (1280, 1280)}
    out = []
    for seed, name in enumerate(names, start=1):
        g = torch.Generator().manual_seed(seed)
        lora = {}
        for key, (o, i) in sorted({**targets, **text}.items()):
            lora[f"{key}.lora_down.weight"] = (torch.randn(rank, i, generator=g) / math.sqrt(i)).to(torch.float16)
            up = torch.randn(o, rank, generator=g) * scale / math.sqrt(rank)
            lora[f"{key}.lora_up.weight"] = up.to(torch.float16)
            lora[f"{key}.alpha"] = torch.tensor(float(rank), dtype=torch.float16)
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(lora, str(path), metadata={"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": str(rank)})
        out.append(path)
    return out, len(targets)


def write_vae(folder: Path, seed: int = 0, ch: int = 32) -> Path:
    """The decoder of SDXL's VAE (AutoencoderKL: ch_mult [1, 2, 4, 4], 2 ResBlocks, 4 latent
    channels, post_quant_conv) at width `ch` instead of 128, as VAELoader reads it from models/vae/
    (comfy.sd.VAE takes the decoder's width from decoder.conv_in). No encoder: nothing encodes.
    Its GroupNorms make the image independent of the latent's scale, which a random UNet leaves
    far from a trained one's; conv_out is scaled so pixels sit around mid-grey, not clamped."""
    import comfy.ldm.modules.diffusionmodules.model as vae_model
    import torch
    from safetensors.torch import save_file
    decoder = vae_model.Decoder(ch=ch, out_ch=3, ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[],
                                dropout=0.0, in_channels=3, resolution=256, z_channels=4)
    sd = {f"decoder.{k}": v for k, v in random_state(decoder, seed, scale={"conv_out.": 0.5}).items()}
    g = torch.Generator().manual_seed(seed + 1)
    sd["post_quant_conv.weight"] = torch.randn(4, 4, 1, 1, generator=g) / 2
    sd["post_quant_conv.bias"] = torch.zeros(4)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VAE_FILE
    save_file({k: v.to(torch.float16).contiguous() for k, v in sd.items()}, str(path))
    return path


def main(argv: list[str]) -> int:
    comfy_dir, models = argv[1], Path(argv[2])
    names = argv[3:]
    t0 = time.perf_counter()
    _setup(comfy_dir)
    patcher, unet, params, detected = build_unet(models / "diffusion_models")
    loras, modules = write_loras(patcher, models / "loras", names)
    vae = write_vae(models / "vae")
    print(json.dumps({"unet": str(unet), "unet_parameters": params, "detected": detected,
                      "model_type": patcher.model.model_type.name, "loras": [str(p) for p in loras],
                      "lora_modules": modules, "vae": str(vae),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
