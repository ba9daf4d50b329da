"""Parity: the trainer's diffusers model and ComfyUI's model, the same exported ParetoSlider file
applied on both sides, the same inputs → the same velocity (fp32, relative error ≤ 1e-4).

The diffusers half runs here (project venv: diffusers + peft, the trainer's own LoRA attach,
injection hooks and export); ComfyUI's half runs in ComfyUI's python (parity_comfy_side.py),
through the Apply ParetoSlider node's code. Rows carry different ω and σ, and ComfyUI sees them
as cond + uncond chunks.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from comfy_server import comfy_dir, comfy_python  # noqa: E402

pytest.importorskip("diffusers")
pytest.importorskip("peft")

from pareto_core import EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules, save_paretoslider  # noqa: E402
from tiny_models import CONTEXT_DIM, POOLED_DIM, WIDTH, build_transformer  # noqa: E402
from trainer.inject import preference_hooks  # noqa: E402
from trainer.model import attach_lora, lora_state_for_file  # noqa: E402

RANK, ALPHA = 4, 8.0
TARGETS = {"sd3": ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"],
           # Flux single blocks: q/k/v + proj_mlp map onto linear1, their proj_out onto linear2
           "flux": ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                    "proj_mlp", r"single_transformer_blocks\.\d+\.proj_out"]}


class _Backbone:
    """Just what preference_hooks needs to find the injection points."""
    temb_module = "time_text_embed"
    joint_blocks = "transformer_blocks"


def pack(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(t: torch.Tensor, c: int, h: int, w: int) -> torch.Tensor:
    b = t.shape[0]
    return t.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def diffusers_velocity(model, arch, x, ctx, pooled, sigma) -> torch.Tensor:
    with torch.no_grad():
        if arch == "sd3":
            return model(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled,
                         timestep=sigma * 1000, return_dict=False)[0]
        b, c, h, w = x.shape
        ids = torch.zeros(h // 2, w // 2, 3)
        ids[..., 1] = torch.arange(h // 2)[:, None]
        ids[..., 2] = torch.arange(w // 2)[None, :]
        out = model(hidden_states=pack(x), encoder_hidden_states=ctx, pooled_projections=pooled,
                    timestep=sigma, guidance=torch.full((b,), 3.5), img_ids=ids.reshape(-1, 3),
                    txt_ids=torch.zeros(ctx.shape[1], 3), return_dict=False)[0]
        return unpack(out, c, h, w)


def export(model, arch, path, block_modulation, seed) -> PreferenceModules:
    config = EmbeddingConfig(2, WIDTH[arch], hidden=32, block_modulation=block_modulation)
    torch.manual_seed(seed)
    modules = PreferenceModules(config)
    with torch.no_grad():
        for p in modules.parameters():
            p.normal_(0, 0.3)
    meta = ParetoSliderMetadata(arch, WIDTH[arch], [Objective("a"), Objective("b")], config,
                                lora={"rank": RANK, "alpha": ALPHA})
    save_paretoslider(path, meta, lora_state_for_file(model, ALPHA, RANK), modules)
    return modules.eval()


@pytest.mark.parametrize("arch", ["sd3", "flux"])
def test_diffusers_and_comfyui_velocities_agree(arch, tmp_path):
    cdir = comfy_dir()
    if cdir is None:
        pytest.skip("parity needs COMFYUI_DIR (a ComfyUI checkout with its venv, or COMFYUI_PYTHON)")
    python = comfy_python()
    model = build_transformer(arch, seed=1)
    # the weights ComfyUI loads: the base, before any LoRA (cloned: ComfyUI edits them in place)
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / f"{arch}_transformer.safetensors"))
    attach_lora(model, RANK, ALPHA, TARGETS[arch])
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    slider = export(model, arch, tmp_path / f"{arch}_slider.safetensors", False, seed=3)
    blockmod = export(model, arch, tmp_path / f"{arch}_blockmod.safetensors", True, seed=4)

    b = 3
    x = torch.randn(b, 16, 8, 8, generator=g)
    ctx = torch.randn(b, 8, CONTEXT_DIM, generator=g)
    pooled = torch.randn(b, POOLED_DIM, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor([[1.0, 0.0], [0.4, 0.6], [0.0, 1.0]])
    save_file({"x": x, "context": ctx, "pooled": pooled, "sigma": sigma, "omega": omega},
              str(tmp_path / f"{arch}_inputs.safetensors"))

    from trainer.model import adapters_disabled
    with adapters_disabled(model):
        expected = {"base": diffusers_velocity(model, arch, x, ctx, pooled, sigma)}
    for name, modules in (("slider", slider), ("blockmod", blockmod)):
        with preference_hooks(model, _Backbone, modules, omega):
            expected[name] = diffusers_velocity(model, arch, x, ctx, pooled, sigma)

    run = subprocess.run([python, str(HERE / "parity_comfy_side.py"), str(cdir), str(REPO), str(tmp_path), arch],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "lora key not loaded" not in run.stderr, run.stderr[-3000:]
    got = load_file(str(tmp_path / f"{arch}_comfy_v.safetensors"))

    def rel(a, b):
        return ((a - b).norm() / b.norm()).item()

    errors = {"base": rel(got["base"], expected["base"])}
    for name in ("slider", "blockmod"):
        cond, uncond = got[name].chunk(2)
        errors[name] = max(rel(cond, expected[name]), rel(uncond, expected[name]))
    print(f"{arch} parity relative errors: {errors}")
    # the slider must actually change the velocity, or agreement proves nothing
    assert rel(expected["slider"], expected["base"]) > 1e-2
    assert rel(expected["blockmod"], expected["slider"]) > 1e-3
    for name, err in errors.items():
        assert err <= 1e-4, f"{arch} {name}: relative error {err:.2e} (all: {errors})"
