"""ComfyUI's half of the LTX-2 tests (run with ComfyUI's python by test_ltx2_comfyui.py):

    python ltx2_comfy_checks.py COMFYUI_DIR REPO BASE_DIR CHECK [ARGS...]  → one JSON line

CHECK is info | velocity INPUTS OUT SLIDERS | sweep | mismatch. Latents are ComfyUI's: video
(B, C, F, H, W) and audio (B, 8, T, 16), packed into one tensor with `latent_shapes` as the
sampler packs a NestedTensor; the context is the connectors' output [video | audio].
"""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, denoise, import_extension, load_model, load_slider  # noqa: E402

comfy_dir, repo, base, check = sys.argv[1:5]
base = Path(base)
comfy_setup(comfy_dir)
import torch  # noqa: E402
import comfy.utils  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")
MODELS = base / "models" / "diffusion_models"
SLIDERS = base / "models" / "paretoslider"


def ltx2_model():
    return load_model(MODELS / "tiny_ltx2.safetensors")


def velocity_of(model, vx, ax, ctx, sigma, chunks: int = 1, **extra):
    """v = (x − x0) / σ for video and audio, like the sampler calls the model."""
    x, shapes = comfy.utils.pack_latents([vx, ax])
    x0 = denoise(model, x, sigma, ctx, None, None, cond_or_uncond=list(range(chunks)), latent_shapes=shapes,
                 frame_rate=25, **extra)
    v = (x - x0) / sigma.view(-1, 1, 1)
    video, audio = comfy.utils.unpack_latents(v, shapes)
    return video.contiguous(), audio.contiguous()


def info() -> dict:
    mi = import_module(ext.__name__ + ".nodes.model_info")
    model = ltx2_model()
    i = mi.describe_model(model)
    dm = model.model.diffusion_model
    return {"model_class": type(model.model).__name__, "net_class": type(dm).__name__,
            "architecture": i.architecture, "width": i.width, "name": i.name, "embedder": i.embedder_path,
            "row_expand": i.row_expand, "heads": dm.num_attention_heads, "head_dim": dm.attention_head_dim,
            "audio_width": dm.audio_inner_dim, "params": sum(p.numel() for p in dm.parameters())}


def velocity() -> dict:
    """args: inputs.safetensors out.safetensors slider[,slider...] ("-" = the base model)."""
    from safetensors.torch import load_file, save_file
    inputs, out_path, sliders = sys.argv[5:8]
    t = load_file(inputs)
    chunks = int(t["chunks"].item()) if "chunks" in t else 1
    extra = {"denoise_mask": t["denoise_mask"]} if "denoise_mask" in t else {}
    model = ltx2_model()
    out = {}
    for name in sliders.split(","):
        m = model if name == "-" else apply_mod.apply_paretoslider(model, load_slider(ext, SLIDERS / name), t["omega"])
        out[f"{name}/video"], out[f"{name}/audio"] = velocity_of(m, t["vx"], t["ax"], t["ctx"], t["sigma"],
                                                                 chunks, **extra)
    save_file(out, out_path)
    return {"ok": True}


def sweep() -> dict:
    """The Sweep node's ω on a batch of 3 video(+audio) latents through a real sampling run with CFG
    (cond + uncond chunks): each row equals that ω alone from the same (row 0's) noise, or with noise
    "per row" that ω on its own row's noise; the rows differ from each other."""
    import comfy.sample
    from comfy.nested_tensor import NestedTensor
    sweep_node = import_module(ext.__name__ + ".nodes.sweep").ParetoSliderSweep
    slider = load_slider(ext, SLIDERS / "tiny_ltx2_slider.safetensors")
    omegas, count = sweep_node.execute(slider, "edge", 3, 0, 1).result
    model = ltx2_model()
    g = torch.Generator().manual_seed(7)
    ctx = torch.randn(1, 6, 32, generator=g)
    pos, neg = [[ctx, {}]], [[ctx * 0.5, {}]]

    def run(m, n):
        noise = NestedTensor([torch.randn(n, 4, 3, 4, 4, generator=torch.Generator().manual_seed(3)),
                              torch.randn(n, 8, 5, 16, generator=torch.Generator().manual_seed(4))])
        latent = NestedTensor([torch.zeros(n, 4, 3, 4, 4), torch.zeros(n, 8, 5, 16)])
        out = comfy.sample.sample(m, noise, 2, 2.0, "euler", "simple", pos, neg, latent, disable_pbar=True, seed=3)
        return out.unbind()[0]
    batch = run(apply_mod.apply_paretoslider(model, slider, omegas), 3)
    # every row of a sweep starts from row 0's noise (nodes/sweep_noise.py): row i of the sweep == row 0
    # of the same noise with ω_i on every row; with the Sweep's noise "per row", row i of it
    per_omega = [run(apply_mod.apply_paretoslider(model, slider, omegas[i]), 3) for i in range(3)]
    err = max((batch[i] - per_omega[i][0]).abs().max().item() for i in range(3))
    per_row_omegas, _ = sweep_node.execute(slider, "edge", 3, 0, 1, "per row").result
    per_row = run(apply_mod.apply_paretoslider(model, slider, per_row_omegas), 3)
    per_row_err = max((per_row[i] - per_omega[i][i]).abs().max().item() for i in range(3))
    base = run(model, 3)
    return {"count": int(count), "omegas": omegas.tolist(), "row_err": err, "per_row_err": per_row_err,
            "rows_differ": (batch[0] - batch[2]).abs().max().item(), "omega_effect": (batch - base).abs().max().item()}


def mismatch() -> dict:
    out = {}
    cases = {"ltx2_file_on_sd3": ("tiny_sd3.safetensors", "tiny_ltx2_slider.safetensors"),
             "sd3_file_on_ltx2": ("tiny_ltx2.safetensors", "tiny_sd3_slider.safetensors")}
    for case, (model_name, slider_name) in cases.items():
        try:
            apply_mod.ApplyParetoSlider.execute(load_model(MODELS / model_name), load_slider(ext, SLIDERS / slider_name),
                                                torch.tensor([0.5, 0.5]))
            out[case] = ""
        except Exception as err:  # noqa: BLE001  (the check reports whatever came out)
            out[case] = f"{type(err).__qualname__}: {err}"
    return out


CHECKS = {"info": info, "velocity": velocity, "sweep": sweep, "mismatch": mismatch}
print(json.dumps(CHECKS[check]()))
