"""The same tiny random weights and the same ParetoSlider file give the same velocity in diffusers
(a reference implementation of docs/FORMAT_INJECTION.md, written here with plain hooks) and in
ComfyUI with the runtime's nodes. This pins the injection semantics the trainer must follow."""
from __future__ import annotations

import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from comfy_server import REPO, comfy_dir, comfy_python
from pareto_core import load_paretoslider, rows_for_batch
from tiny_models import build_transformer

HERE = Path(__file__).resolve().parent


def merge_lora(model: torch.nn.Module, lora: dict[str, torch.Tensor]) -> None:
    """W += (alpha / rank) · B A, as ComfyUI applies a LoRA with an .alpha tensor."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key in lora:
            if not key.endswith(".lora_A.weight"):
                continue
            name = key[len("transformer."):-len(".lora_A.weight")]
            a, b = lora[key], lora[key.replace("lora_A", "lora_B")]
            alpha = lora.get(f"transformer.{name}.alpha", torch.tensor(float(a.shape[0])))
            modules[name].weight += (alpha.item() / a.shape[0]) * (b @ a)


def add_preference_hooks(model, file, omega: torch.Tensor, batch: int) -> list:
    """temb += d on time_text_embed; after each joint/double block hidden_states += gate_mlp ⊙ m."""
    mods = file.preference_modules()
    w = rows_for_batch(omega, batch)
    d = mods.temb_delta(w)
    m = mods.block_vector(w)
    handles = [model.time_text_embed.register_forward_hook(lambda mod, i, out: out + d)]
    if m is not None:
        for block in model.transformer_blocks:
            gate = {}
            handles.append(block.norm1.register_forward_hook(
                lambda mod, i, out, gate=gate: gate.__setitem__("mlp", out[4])))
            handles.append(block.register_forward_hook(
                lambda mod, i, out, gate=gate: (out[0], out[1] + gate["mlp"].unsqueeze(1) * m.unsqueeze(1))))
    return handles


def diffusers_velocity_flux(file, omega, x, sigma, context, pooled, guidance: float) -> torch.Tensor:
    model = build_transformer("flux")
    merge_lora(model, file.lora)
    b, c, h, w = x.shape
    packed = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)
    img_ids = torch.zeros(h // 2, w // 2, 3)
    img_ids[..., 1] = torch.arange(h // 2)[:, None]
    img_ids[..., 2] = torch.arange(w // 2)[None, :]
    handles = add_preference_hooks(model, file, omega, b)
    with torch.no_grad():
        out = model(hidden_states=packed, encoder_hidden_states=context, pooled_projections=pooled,
                    timestep=sigma, img_ids=img_ids.reshape(-1, 3), txt_ids=torch.zeros(context.shape[1], 3),
                    guidance=torch.full((b,), guidance), return_dict=False)[0]
    for hd in handles:
        hd.remove()
    return out.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def diffusers_velocity_sd3(file, omega: torch.Tensor, x, sigma, context, pooled) -> torch.Tensor:
    model = build_transformer("sd3")
    merge_lora(model, file.lora)
    handles = add_preference_hooks(model, file, omega, x.shape[0])
    with torch.no_grad():
        v = model(hidden_states=x, encoder_hidden_states=context, pooled_projections=pooled,
                  timestep=sigma * 1000, return_dict=False)[0]
    for h in handles:
        h.remove()
    return v


def comfy_velocities(comfy_base, arch: str, sliders: list[str], tensors: dict, tmp: Path) -> dict:
    root, _ = comfy_base
    inputs, out = tmp / "inputs.safetensors", tmp / "v.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(inputs))
    proc = subprocess.run([comfy_python(), str(HERE / "inprocess_checks.py"), str(comfy_dir()), str(REPO),
                           str(root), "velocity", arch, str(inputs), str(out), ",".join(sliders)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_file(str(out))


SD3_SLIDERS = ["tiny_sd3_slider.safetensors", "tiny_sd3_blockmod.safetensors"]


def test_sd3_velocity_matches_diffusers_reference_with_per_row_preferences(comfy_base, tmp_path):
    root, _ = comfy_base
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 16, 8, 8, generator=g)
    context = torch.randn(3, 8, 64, generator=g)
    pooled = torch.randn(3, 32, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    got = comfy_velocities(comfy_base, "sd3", SD3_SLIDERS + ["-"],
                           dict(x=x, sigma=sigma, context=context, pooled=pooled, omega=omega), tmp_path)
    for slider in SD3_SLIDERS:
        ref = diffusers_velocity_sd3(load_paretoslider(root / "models" / "paretoslider" / slider),
                                     omega, x, sigma, context, pooled)
        rel = ((got[slider] - ref).norm() / ref.norm()).item()
        assert rel < 1e-5, f"{slider}: ComfyUI and diffusers disagree, relative error {rel:.2e}"
        # and the file matters: the base model is far from it
        assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-3


FLUX_SLIDERS = ["tiny_flux_slider.safetensors", "tiny_flux_blockmod.safetensors"]


def test_flux_velocity_matches_diffusers_reference_with_per_row_preferences(comfy_base, tmp_path):
    root, _ = comfy_base
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 16, 8, 8, generator=g)
    context = torch.randn(3, 8, 64, generator=g)
    pooled = torch.randn(3, 32, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    got = comfy_velocities(comfy_base, "flux", FLUX_SLIDERS + ["-"],
                           dict(x=x, sigma=sigma, context=context, pooled=pooled, omega=omega,
                                guidance=torch.tensor(3.5)), tmp_path)
    for slider in FLUX_SLIDERS:
        ref = diffusers_velocity_flux(load_paretoslider(root / "models" / "paretoslider" / slider),
                                      omega, x, sigma, context, pooled, 3.5)
        rel = ((got[slider] - ref).norm() / ref.norm()).item()
        assert rel < 1e-5, f"{slider}: ComfyUI and diffusers disagree, relative error {rel:.2e}"
        assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-3
