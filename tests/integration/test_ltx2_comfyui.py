"""LTX-2 in a real ComfyUI: a tiny random LTXAV file that ComfyUI's loader detects, the Apply and
Sweep nodes on video(+audio) latents, per-token timesteps, refusals across model kinds, and parity
of the trainer's diffusers model with ComfyUI's on the same exported file."""
from __future__ import annotations

import json
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

import torch
from safetensors.torch import load_file, save_file

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent
TOL = 1e-4          # the parity bound (relative error of the velocity)
PARITY: dict[str, float] = {}


@pytest.fixture(scope="session")
def ltx2_base(comfy_base):
    from testsupport.comfy.ltx2_tiny import build_ltx2
    root, files = comfy_base
    if "ltx2_model" not in files:
        files.update(build_ltx2(root, comfy_dir(), comfy_python()))
    return root, files


def comfy_check(root: Path, check: str, *args: str) -> dict:
    proc = subprocess.run([comfy_python(), str(HERE / "ltx2_comfy_checks.py"), str(comfy_dir()), str(REPO), str(root),
                           check, *args], cwd=comfy_dir(), env=comfy_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def comfy_velocity(root: Path, tmp: Path, tensors: dict, sliders: list[str]) -> dict:
    inputs, out = tmp / "inputs.safetensors", tmp / "v.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(inputs))
    comfy_check(root, "velocity", str(inputs), str(out), ",".join(sliders))
    return load_file(str(out))


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def comfy_inputs(b: int, seed: int, frames: int = 3, size: int = 4, audio: int = 5, tokens: int = 6):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 4, frames, size, size, generator=g), torch.randn(b, 8, audio, 16, generator=g),
            torch.randn(b, tokens, 32, generator=g))


# ---- the trainer's side, on ComfyUI's tensors ------------------------------------------------------

def backbone_on(files):
    """The trainer's LTX-2 backbone: ComfyUI's file as a single-file checkpoint (diffusers' converter)
    with the tiny diffusers folder as config_path; 8 px / 5 frames → latents 3 × 4 × 4, 5 audio latents."""
    from trainer.backbones.ltx2 import LTX2Backbone
    return LTX2Backbone(str(files["ltx2_model"]), config_path=str(files["ltx2_diffusers"]), resolution=8,
                        num_frames=5, frame_rate=25.0, max_sequence_length=8)


def flat(vx: torch.Tensor, ax: torch.Tensor) -> torch.Tensor:
    """ComfyUI latents → the backbone's rows: video tokens (f h w) × c, then audio t × (c m)."""
    b = vx.shape[0]
    return torch.cat([vx.permute(0, 2, 3, 4, 1).reshape(b, -1), ax.permute(0, 2, 1, 3).reshape(b, -1)], 1)


def unflat(backbone, x: torch.Tensor, audio_shape) -> tuple[torch.Tensor, torch.Tensor]:
    video = backbone.video_latents(x)
    audio = backbone.split(x)[1].reshape(x.shape[0], audio_shape[2], 8, 16).permute(0, 2, 1, 3)
    return video, audio


def conditioning(ctx: torch.Tensor):
    from trainer.backbones.base import Conditioning
    return Conditioning({"video_embeds": ctx[..., :16], "audio_embeds": ctx[..., 16:],
                         "mask": torch.ones(ctx.shape[:2], dtype=torch.long)}, {})


@contextmanager
def cross_timestep(backbone, mode: str):
    old, backbone.cross_timestep = backbone.cross_timestep, mode
    try:
        yield
    finally:
        backbone.cross_timestep = old


def trainer_velocity(backbone, modules, omega, vx, ax, ctx, sigma):
    from trainer.adapters.inject import preference_hooks
    with preference_hooks(backbone.transformer, backbone, modules, omega), torch.no_grad():
        v = backbone.velocity(flat(vx, ax), sigma, conditioning(ctx))
    return unflat(backbone, v, ax.shape)


# ---- tests -----------------------------------------------------------------------------------------

def test_comfyui_detects_the_tiny_file_as_ltx2_with_its_metadata_shapes(ltx2_base):
    root, files = ltx2_base
    got = comfy_check(root, "info")
    assert got["model_class"] == "LTXAV" and got["net_class"] == "LTXAVModel"
    # heads and head width from the metadata (the keys alone would give 32 heads of 0)
    assert (got["heads"], got["head_dim"], got["audio_width"]) == (2, 8, 8)
    assert (got["architecture"], got["width"], got["embedder"], got["row_expand"]) == \
        ("ltx2", 16, "adaln_single.emb", "interleave")
    assert files["ltx2_model"].stat().st_size < 1_000_000       # connectors sized in the metadata too


def test_trainer_export_gives_the_trainers_velocity_in_comfyui(ltx2_base, tmp_path):
    """peft LoRA + preference modules → the trainer's export → ComfyUI with the runtime's nodes ==
    the trainer's own forward (LTX2Backbone on ComfyUI's file, trainer/adapters/inject.py hooks): rows with
    different ω and σ as cond + uncond chunks, and one σ for all rows as in sampling."""
    from testsupport.comfy.ltx2_tiny import metadata, random_preference
    from pareto_core import save_paretoslider
    from trainer.adapters import lora as trainer_model
    root, files = ltx2_base
    backbone = backbone_on(files)
    trainer_model.attach_lora(backbone.transformer, rank=4, alpha=8.0, targets=backbone.default_lora_targets)
    torch.manual_seed(11)
    with torch.no_grad():
        for _, p in trainer_model.lora_parameters(backbone.transformer):
            p.normal_(0, 0.1)
    meta = metadata()
    modules = random_preference(meta.embedding, seed=12).eval()
    name = "trainer_export_ltx2.safetensors"
    save_paretoslider(root / "models" / "paretoslider" / name, meta,
                      trainer_model.lora_state_for_file(backbone.transformer, 8.0, 4), modules)

    vx, ax, ctx = comfy_inputs(2, seed=13)
    ctx = torch.cat([ctx, ctx * 0.3])                          # cond rows, then uncond rows
    vx, ax = torch.cat([vx, vx]), torch.cat([ax, ax])
    omega = torch.tensor([[1.0, 0.0], [0.2, 0.8]])             # sample i of both chunks gets ω_i
    for label, sigma in (("rows at different σ", torch.tensor([0.9, 0.4, 0.9, 0.4])),
                         ("one σ (sampling)", torch.full((4,), 0.6))):
        got = comfy_velocity(root, tmp_path, dict(vx=vx, ax=ax, ctx=ctx, sigma=sigma, omega=omega,
                                                  chunks=torch.tensor(2)), [name, "-"])
        mode = "batch_max" if label.startswith("rows") else "row"    # "row" is what training uses
        with cross_timestep(backbone, mode):
            ref_v, ref_a = trainer_velocity(backbone, modules, omega, vx, ax, ctx, sigma)
        PARITY[f"{label}: video"], PARITY[f"{label}: audio"] = rel(got[f"{name}/video"], ref_v), \
            rel(got[f"{name}/audio"], ref_a)
        print(f"LTX-2 parity, {label}: video {PARITY[f'{label}: video']:.2e}, audio {PARITY[f'{label}: audio']:.2e}")
        assert PARITY[f"{label}: video"] < TOL and PARITY[f"{label}: audio"] < TOL, PARITY
        # and the file matters: the base model is far from it
        assert rel(got["-/video"], ref_v) > 1e-2
        # the LoRA + ω of row 0 and row 1 differ (per-sample ω reached the rows)
        assert (got[f"{name}/video"][0] - got[f"{name}/video"][1]).abs().max() > 1e-3


def test_per_token_timesteps_give_every_token_of_a_sample_its_omega(ltx2_base, tmp_path):
    """A denoise mask (first latent frame kept, as image-to-video does) makes ComfyUI embed one
    timestep per token; the runtime repeats each sample's ω over its tokens. Reference: diffusers
    with per-token timesteps and ω_i on every token of sample i."""
    from pareto_core import load_paretoslider
    from testsupport.comfy.ltx2_tiny import diffusers_transformer
    root, files = ltx2_base
    vx, ax, ctx = comfy_inputs(2, seed=21)
    sigma = torch.tensor([0.7, 0.7])
    mask = torch.ones(2, 1, 3, 4, 4)
    mask[:, :, 0] = 0.0
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    got = comfy_velocity(root, tmp_path, dict(vx=vx, ax=ax, ctx=ctx, sigma=sigma, omega=omega, denoise_mask=mask),
                         ["tiny_ltx2_slider.safetensors"])
    f = load_paretoslider(root / "models" / "paretoslider" / "tiny_ltx2_slider.safetensors")
    model = diffusers_transformer(files["ltx2_model"])
    modules = f.preference_modules()
    with torch.no_grad():
        for key in f.lora:                      # W += (alpha / r) B A, as ComfyUI applies it
            if key.endswith(".lora_A.weight"):
                mod = model.get_submodule(key[len("transformer."):-len(".lora_A.weight")])
                a, b = f.lora[key], f.lora[key.replace("lora_A", "lora_B")]
                mod.weight += (f.lora[key.replace("lora_A.weight", "alpha")].item() / a.shape[0]) * (b @ a)
        n = 3 * 4 * 4
        delta = modules.temb_delta(omega).repeat_interleave(n, 0)
        hook = model.time_embed.emb.register_forward_hook(lambda m, i, o: o + delta)
        per_token = (sigma[:, None] * mask.reshape(2, n)) * 1000
        out, aout = model(hidden_states=vx.permute(0, 2, 3, 4, 1).reshape(2, n, 4),
                          audio_hidden_states=ax.permute(0, 2, 1, 3).reshape(2, 5, 128),
                          encoder_hidden_states=ctx[..., :16], audio_encoder_hidden_states=ctx[..., 16:],
                          timestep=per_token, audio_timestep=sigma * 1000, sigma=sigma, use_cross_timestep=True,
                          num_frames=3, height=4, width=4, fps=25.0, audio_num_frames=5, return_dict=False)
        hook.remove()
    ref = out.reshape(2, 3, 4, 4, 4).permute(0, 4, 1, 2, 3)
    err = rel(got["tiny_ltx2_slider.safetensors/video"], ref)
    PARITY["per-token timesteps: video"] = err
    print(f"LTX-2 per-token parity: {err:.2e}")
    assert err < TOL


def test_sweep_node_gives_each_video_of_a_batch_its_omega_in_a_sampling_run(ltx2_base):
    root, _ = ltx2_base
    got = comfy_check(root, "sweep")
    assert got["count"] == 3 and got["omegas"] == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    assert got["row_err"] < 1e-5 and got["per_row_err"] < 1e-5
    assert got["rows_differ"] > 1e-2 and got["omega_effect"] > 1e-2


def test_a_video_file_on_an_image_model_and_the_reverse_are_refused_by_name(ltx2_base):
    root, _ = ltx2_base
    got = comfy_check(root, "mismatch")
    assert got["ltx2_file_on_sd3"].startswith("ParetoSliderError: ")
    assert "trained for LTX-2" in got["ltx2_file_on_sd3"] and "SD3" in got["ltx2_file_on_sd3"]
    assert "trained for SD3" in got["sd3_file_on_ltx2"] and "the model is LTX-2" in got["sd3_file_on_ltx2"]


def test_trainer_reads_the_comfyui_file_as_a_single_file_checkpoint(ltx2_base):
    """The original-layout file goes through diffusers' converter into the backbone: the same
    tensors as ComfyUI's, every key accounted for."""
    root, files = ltx2_base
    backbone = backbone_on(files)
    comfy_state = load_file(str(files["ltx2_model"]))
    mine = backbone.transformer.state_dict()
    assert torch.equal(mine["time_embed.emb.timestep_embedder.linear_1.weight"],
                       comfy_state["adaln_single.emb.timestep_embedder.linear_1.weight"])
    assert torch.equal(mine["proj_in.weight"], comfy_state["patchify_proj.weight"])
