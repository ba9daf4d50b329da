"""ComfyUI's half of the reference-import parity test (run with ComfyUI's python by
test_reference_import_comfyui.py):

    python reference_import_comfy_side.py COMFYUI_DIR REPO WORK_DIR

Reads WORK_DIR/transformer.safetensors (the base SD3.5-M-shaped transformer, diffusers keys),
WORK_DIR/inputs.safetensors (x, sigma: N rows; context, pooled: 2N rows = cond then uncond; omega:
N × K) and every WORK_DIR/sliders/*.safetensors; applies each file with the runtime's Apply node
code and writes WORK_DIR/comfy_v.safetensors: the velocity of the [cond, uncond] batch per file
(key = file stem) and of the base model ("-").
"""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, denoise, import_extension, load_model, load_slider

comfy_dir, repo, work = sys.argv[1:4]
work = Path(work)
comfy_setup(comfy_dir)
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")

t = load_file(str(work / "inputs.safetensors"))
x2, s2 = torch.cat([t["x"], t["x"]]), torch.cat([t["sigma"], t["sigma"]])
base = load_model(load_file(str(work / "transformer.safetensors")))
out = {}
for path in [None] + sorted((work / "sliders").glob("*.safetensors")):
    model = base if path is None else apply_mod.apply_paretoslider(base, load_slider(ext, path), t["omega"])
    # cond and uncond chunks in one batch, as a sampler with CFG runs them
    x0 = denoise(model, x2, s2, t["context"], t["pooled"], guidance=None, cond_or_uncond=[0, 1])
    out["-" if path is None else path.stem] = ((x2 - x0) / s2.view(-1, 1, 1, 1)).float().contiguous()
save_file(out, str(work / "comfy_v.safetensors"))
# a pooled-text file called without the pooled text (no y): the node error says what to connect
errors = {}
for path in sorted((work / "sliders").glob("*.safetensors")):
    slider = load_slider(ext, path)
    if slider.metadata.embedding.pooled_width:
        model = apply_mod.apply_paretoslider(base, slider, t["omega"])
        try:
            denoise(model, x2, s2, t["context"], None, guidance=None, cond_or_uncond=[0, 1])
            errors[path.stem] = None
        except Exception as err:    # ComfyUI's node error carries the one line
            errors[path.stem] = f"{type(err).__name__}: {err}"
(work / "errors.json").write_text(json.dumps(errors))
print("ok")
