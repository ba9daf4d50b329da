"""ComfyUI's half of the parity test (run with ComfyUI's python by test_parity.py):

    python parity_comfy_side.py COMFYUI_DIR REPO WORK_DIR ARCH

Reads WORK_DIR/{ARCH}_transformer.safetensors (diffusers keys), {ARCH}_slider.safetensors and
{ARCH}_inputs.safetensors; writes {ARCH}_comfy_v.safetensors with the velocity for each case.
"""
from __future__ import annotations

import sys
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, denoise, import_extension, load_model, load_slider  # noqa: E402

comfy_dir, repo, work, arch = sys.argv[1:5]
work = Path(work)
comfy_setup(comfy_dir)
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")

inputs = load_file(str(work / f"{arch}_inputs.safetensors"))
x, ctx, pooled, sigma, omega = (inputs[k] for k in ("x", "context", "pooled", "sigma", "omega"))
guidance = 3.5 if arch == "flux" else None
out = {}
base = load_model(load_file(str(work / f"{arch}_transformer.safetensors")))
# base: no slider at all
x0 = denoise(base, x, sigma, ctx, pooled, guidance)
out["base"] = (x - x0) / sigma.view(-1, 1, 1, 1)
for name in ("slider", "blockmod"):
    slider = load_slider(ext, work / f"{arch}_{name}.safetensors")
    patched = apply_mod.apply_paretoslider(base, slider, omega)
    # cond and uncond chunks, as a sampler with CFG batches them
    x2, c2, p2, s2 = (torch.cat([t, t]) for t in (x, ctx, pooled, sigma))
    x0 = denoise(patched, x2, s2, c2, p2, guidance, cond_or_uncond=[0, 1])
    out[name] = ((x2 - x0) / s2.view(-1, 1, 1, 1)).contiguous()
save_file({k: v.float().contiguous() for k, v in out.items()}, str(work / f"{arch}_comfy_v.safetensors"))
print("ok")
