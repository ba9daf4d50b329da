"""The same tiny random weights and the same ParetoSlider file give the same velocity in diffusers
(docs/FORMAT_INJECTION.md implemented twice: plain hooks written here, and the trainer's own
trainer/adapters/inject.py) and in ComfyUI with the runtime's nodes."""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

import torch
from safetensors.torch import load_file, save_file

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python
from pareto_core import load_paretoslider, rows_for_batch
from testsupport.comfy.tiny_models import build_transformer

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


@contextmanager
def handwritten_hooks(model, file, omega: torch.Tensor, batch: int):
    handles = add_preference_hooks(model, file, omega, batch)
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def trainer_hooks(model, file, omega: torch.Tensor, batch: int):
    """The trainer's own injection (trainer/adapters/inject.py) with its backbones' module names."""
    import trainer.adapters.inject as inject
    from trainer.backbones.sd3 import SD3Backbone
    names = SimpleNamespace(temb_module=SD3Backbone.temb_module, joint_blocks=SD3Backbone.joint_blocks)
    with inject.preference_hooks(model, names, file.preference_modules(), omega):
        yield


HOOKS = {"handwritten": handwritten_hooks, "trainer": trainer_hooks}


def diffusers_velocity_flux(file, omega, x, sigma, context, pooled, guidance: float,
                            hooks=handwritten_hooks) -> torch.Tensor:
    model = build_transformer("flux")
    merge_lora(model, file.lora)
    with hooks(model, file, omega, x.shape[0]), torch.no_grad():
        return flux_forward(model, x, sigma, context, pooled, guidance)


def flux_forward(model, x, sigma, context, pooled, guidance: float) -> torch.Tensor:
    """diffusers Flux on ComfyUI's latent layout: pack 2×2 patches, (0, row, col) image ids."""
    b, c, h, w = x.shape
    packed = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)
    img_ids = torch.zeros(h // 2, w // 2, 3)
    img_ids[..., 1] = torch.arange(h // 2)[:, None]
    img_ids[..., 2] = torch.arange(w // 2)[None, :]
    out = model(hidden_states=packed, encoder_hidden_states=context, pooled_projections=pooled,
                timestep=sigma, img_ids=img_ids.reshape(-1, 3), txt_ids=torch.zeros(context.shape[1], 3),
                guidance=torch.full((b,), guidance), return_dict=False)[0]
    return out.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def diffusers_velocity_sd3(file, omega: torch.Tensor, x, sigma, context, pooled,
                           hooks=handwritten_hooks) -> torch.Tensor:
    model = build_transformer("sd3")
    merge_lora(model, file.lora)
    with hooks(model, file, omega, x.shape[0]), torch.no_grad():
        return sd3_forward(model, x, sigma, context, pooled)


def sd3_forward(model, x, sigma, context, pooled) -> torch.Tensor:
    """diffusers SD3 takes timestep = sigma · 1000, like ComfyUI's t_embedder."""
    return model(hidden_states=x, encoder_hidden_states=context, pooled_projections=pooled,
                 timestep=sigma * 1000, return_dict=False)[0]


def comfy_velocities(comfy_base, arch: str, sliders: list[str], tensors: dict, tmp: Path) -> dict:
    root, _ = comfy_base
    inputs, out = tmp / "inputs.safetensors", tmp / "v.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(inputs))
    proc = subprocess.run([comfy_python(), str(HERE / "inprocess_checks.py"), str(comfy_dir()), str(REPO),
                           str(root), "velocity", arch, str(inputs), str(out), ",".join(sliders)],
                          env=comfy_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_file(str(out))


SLIDERS = {"sd3": ["tiny_sd3_slider.safetensors", "tiny_sd3_blockmod.safetensors"],
           "flux": ["tiny_flux_slider.safetensors", "tiny_flux_blockmod.safetensors"]}


@pytest.mark.parametrize("hooks", sorted(HOOKS))
@pytest.mark.parametrize("arch", ["sd3", "flux"])
def test_velocity_matches_diffusers_reference_with_per_row_preferences(comfy_base, tmp_path, arch, hooks):
    root, _ = comfy_base
    g = torch.Generator().manual_seed(5 if arch == "sd3" else 6)
    x = torch.randn(3, 16, 8, 8, generator=g)
    context = torch.randn(3, 8, 64, generator=g)
    pooled = torch.randn(3, 32, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    tensors = dict(x=x, sigma=sigma, context=context, pooled=pooled, omega=omega)
    if arch == "flux":
        tensors["guidance"] = torch.tensor(3.5)
    got = comfy_velocities(comfy_base, arch, SLIDERS[arch] + ["-"], tensors, tmp_path)
    for slider in SLIDERS[arch]:
        file = load_paretoslider(root / "models" / "paretoslider" / slider)
        ref = (diffusers_velocity_sd3(file, omega, x, sigma, context, pooled, HOOKS[hooks]) if arch == "sd3"
               else diffusers_velocity_flux(file, omega, x, sigma, context, pooled, 3.5, HOOKS[hooks]))
        rel = ((got[slider] - ref).norm() / ref.norm()).item()
        assert rel < 1e-5, f"{slider}: ComfyUI and diffusers disagree, relative error {rel:.2e}"
        # and the file matters: the base model is far from it
        assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-3


@pytest.mark.parametrize("arch", ["sd3", "flux"])
def test_file_exported_by_the_trainer_gives_the_trainers_velocity_in_comfyui(comfy_base, tmp_path, arch):
    """peft LoRA + preference modules → trainer.adapters.lora.lora_state_for_file → save_paretoslider →
    ComfyUI with the runtime's nodes == the trainer's own forward (trainer/adapters/inject.py hooks)."""
    import trainer.adapters.inject as inject
    import trainer.adapters.lora as trainer_model
    from trainer.backbones.flux_kontext import FluxKontextBackbone
    from trainer.backbones.sd3 import SD3Backbone
    from pareto_core import save_paretoslider
    from testsupport.comfy.tiny_models import metadata, random_preference
    backbone = SD3Backbone if arch == "sd3" else FluxKontextBackbone
    root, _ = comfy_base
    model = build_transformer(arch)  # the same weights as models/diffusion_models/tiny_<arch>
    trainer_model.attach_lora(model, rank=4, alpha=8.0, targets=backbone.default_lora_targets)
    torch.manual_seed(11)
    with torch.no_grad():
        for _, p in trainer_model.lora_parameters(model):
            p.normal_(0, 0.05)
    meta = metadata(arch, 128, block_modulation=True)
    modules = random_preference(meta.embedding, seed=12)
    name = f"trainer_export_{arch}.safetensors"
    save_paretoslider(root / "models" / "paretoslider" / name, meta,
                      trainer_model.lora_state_for_file(model, 8.0, 4), modules)

    g = torch.Generator().manual_seed(13)
    x = torch.randn(3, 16, 8, 8, generator=g)
    context = torch.randn(3, 8, 64, generator=g)
    pooled = torch.randn(3, 32, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    with inject.preference_hooks(model, backbone, modules.eval(), omega), torch.no_grad():
        ref = (sd3_forward(model, x, sigma, context, pooled) if arch == "sd3"
               else flux_forward(model, x, sigma, context, pooled, 3.5))
    tensors = dict(x=x, sigma=sigma, context=context, pooled=pooled, omega=omega)
    if arch == "flux":
        tensors["guidance"] = torch.tensor(3.5)
    got = comfy_velocities(comfy_base, arch, [name, "-"], tensors, tmp_path)
    rel = ((got[name] - ref).norm() / ref.norm()).item()
    assert rel < 1e-5, f"trainer export vs ComfyUI: relative error {rel:.2e}"
    assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-3


@pytest.mark.parametrize("omega", [[[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]], [0.3, 0.7]], ids=["per_row", "one_omega"])
def test_per_objective_file_from_the_trainer_gives_the_trainers_velocity_in_comfyui(comfy_base, tmp_path, omega):
    """lora.per_objective: the trainer's gated adapters (each objective's LoRA × ω_k, row by row) ==
    ComfyUI's soups of the file's LoRAs — merged at one ω, unmerged per row for per-sample ω."""
    import trainer.adapters.inject as inject
    import trainer.adapters.lora as trainer_model
    from trainer.backbones.sd3 import SD3Backbone
    from pareto_core import save_paretoslider
    from testsupport.comfy.tiny_models import metadata, random_preference
    root, _ = comfy_base
    model = build_transformer("sd3")
    adapters = [trainer_model.objective_adapter(k) for k in range(2)]
    trainer_model.attach_lora(model, rank=4, alpha=8.0, targets=SD3Backbone.default_lora_targets, adapters=adapters)
    torch.manual_seed(21)
    with torch.no_grad():
        for _, p in trainer_model.lora_parameters(model):
            p.normal_(0, 0.05)
    meta = metadata("sd3", 128, block_modulation=True)
    meta.lora = {"rank": 4, "alpha": 8.0, "per_objective": True}
    modules = random_preference(meta.embedding, seed=22)
    name = "trainer_per_objective_sd3.safetensors"
    parts = [trainer_model.lora_state_for_file(model, 8.0, 4, adapter=a) for a in adapters]
    save_paretoslider(root / "models" / "paretoslider" / name, meta, {}, modules, parts)
    assert load_paretoslider(root / "models" / "paretoslider" / name).metadata.format_version == 3

    g = torch.Generator().manual_seed(23)
    x = torch.randn(3, 16, 8, 8, generator=g)
    context = torch.randn(3, 8, 64, generator=g)
    pooled = torch.randn(3, 32, generator=g)
    sigma = torch.tensor([0.9, 0.5, 0.2])
    omega = torch.tensor(omega)
    with inject.preference_hooks(model, SD3Backbone, modules.eval(), omega), torch.no_grad():
        ref = sd3_forward(model, x, sigma, context, pooled)
    got = comfy_velocities(comfy_base, "sd3", [name, "-"], dict(x=x, sigma=sigma, context=context, pooled=pooled,
                                                               omega=omega), tmp_path)
    rel = ((got[name] - ref).norm() / ref.norm()).item()
    assert rel < 1e-5, f"per-objective trainer export vs ComfyUI: relative error {rel:.2e}"
    assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-3
