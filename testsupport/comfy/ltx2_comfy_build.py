"""Build the tiny random LTX-2 once, in ComfyUI's own class (the original Lightricks key layout),
and save it as a file ComfyUI's UNETLoader detects (run with ComfyUI's python):

    python ltx2_comfy_build.py COMFYUI_DIR OUT.safetensors CONFIG_JSON

CONFIG_JSON is the safetensors metadata `config` (its `transformer` part holds the dimensions
ComfyUI cannot read from the keys: heads, head widths, connector sizes; see ltx2_tiny.py).
The diffusers side is derived from this file with diffusers' own converter
(convert_ltx2_transformer_to_diffusers), never a hand-written key map.
"""
from __future__ import annotations

import json
import math
import sys

from testsupport.comfy.comfy_inprocess import comfy_setup  # noqa: E402

comfy_dir, out, config = sys.argv[1:4]
comfy_setup(comfy_dir)
import torch  # noqa: E402
import comfy.ops  # noqa: E402
from comfy.ldm.lightricks.av_model import LTXAVModel  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

cfg = json.loads(config)
torch.manual_seed(int(cfg.pop("seed", 0)))
net = LTXAVModel(**cfg["transformer"], operations=comfy.ops.disable_weight_init)
state = {}
for name, p in net.state_dict().items():
    if p.ndim == 1 and any("norm" in part for part in name.split(".")[:-1]):
        t = 1.0 + 0.1 * torch.randn_like(p)           # RMS/LayerNorm gains around 1
    elif p.ndim == 2 and "scale_shift_table" not in name:
        t = torch.randn_like(p) / math.sqrt(p.shape[1])  # unit-variance activations
    else:
        t = 0.1 * torch.randn_like(p)                   # biases, modulation tables, registers
    state[name] = t.contiguous()
save_file(state, out, metadata={"config": json.dumps({"transformer": cfg["transformer"]})})
print(json.dumps({"keys": len(state), "params": sum(v.numel() for v in state.values())}))
