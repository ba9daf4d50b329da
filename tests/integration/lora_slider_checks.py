"""LoRA-slider checks inside ComfyUI (run with ComfyUI's python by test_lora_slider_inprocess.py):
python lora_slider_checks.py COMFYUI_DIR REPO BASE_DIR → prints one JSON line."""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, counting_weight_patches, denoise, import_extension, load_model  # noqa: E402

comfy_dir, repo, base = sys.argv[1:4]
base = Path(base)
comfy_setup(comfy_dir, ("--base-directory", str(base)))
import torch  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")
sliders = import_module(ext.__name__ + ".nodes.lora_slider")
multi = import_module(ext.__name__ + ".nodes.multi_lora")
MODELS = base / "models" / "diffusion_models"
A, B, C = "tiny_sd3_lora_photo.safetensors", "tiny_sd3_lora_sketch.safetensors", "tiny_sd3_lora_color.safetensors"


def inputs(b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 16, 8, 8, generator=g), torch.randn(b, 8, 64, generator=g),
            torch.randn(b, 32, generator=g))


def hooks_left(model) -> int:
    return sum(len(m._forward_hooks) for m in model.model.diffusion_model.modules())


def batched_equals_sequential() -> dict:
    """blend's m-fold batch (one call) == m calls one after the other; cond/uncond chunks with
    per-sample ω: row i of both chunks gets ω_i; no hook outlives a call."""
    model = load_model(MODELS / "tiny_sd3.safetensors")
    slider = sliders.build_slider("blend", [A, B, C], "", 1.0)
    omegas = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.5, 0.5]])
    x, ctx, pooled = inputs(3)
    x2, ctx2, pooled2 = torch.cat([x, x]), torch.cat([ctx, ctx * 0]), torch.cat([pooled, pooled * 0])
    patched = apply_mod.apply_paretoslider(model, slider, omegas)
    batched = denoise(patched, x2, 0.6, ctx2, pooled2, None, [0, 1])
    original = multi.fits_in_memory
    multi.fits_in_memory = lambda *a: False
    try:
        sequential = denoise(patched, x2, 0.6, ctx2, pooled2, None, [0, 1], load=False)
    finally:
        multi.fits_in_memory = original
    rows_err = 0.0
    for i in range(3):
        one = denoise(apply_mod.apply_paretoslider(model, slider, omegas[i]), x2[i::3], 0.6, ctx2[i::3],
                      pooled2[i::3], None, [0, 1], load=False)
        rows_err = max(rows_err, (batched[i::3] - one).abs().max().item())
    # blend is Σ ω_j x0_j of the LoRAs alone
    alone = [denoise(apply_mod.apply_paretoslider(model, slider, torch.eye(3)[j]), x2, 0.6, ctx2, pooled2, None,
                     [0, 1], load=False) for j in range(3)]
    w = torch.cat([omegas, omegas])
    mix = sum(w[:, j].view(-1, 1, 1, 1) * alone[j] for j in range(3))
    return {"batched_vs_sequential": (batched - sequential).abs().max().item(), "rows_err": rows_err,
            "blend_is_weighted_sum": (batched - mix).abs().max().item(),
            "hooks_left": hooks_left(patched), "input_model_wrappers": len(model.wrappers)}


def repatching() -> dict:
    """Moving ω: blend re-patches nothing; soups re-patches once per move (and not when the
    same ω is queued again); no wrapper or hook leaks onto the input model."""
    import comfy.sample
    with counting_weight_patches() as calls:
        model = load_model(MODELS / "tiny_sd3.safetensors")
        x, ctx, pooled = inputs(1)
        pos, neg = [[ctx, {"pooled_output": pooled}]], [[ctx * 0, {"pooled_output": pooled * 0}]]
        out = {}
        for method in ("blend", "soups"):
            slider = sliders.build_slider(method, [A, B], "", 1.0)
            runs = {}
            for label, omega in (("first", [1.0, 0.0]), ("new", [0.3, 0.7]), ("same", [0.3, 0.7]), ("new_2", [0.6, 0.4])):
                calls["n"] = 0
                patched = apply_mod.apply_paretoslider(model, slider, torch.tensor(omega))
                comfy.sample.sample(patched, torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(3)), 2,
                                    2.0, "euler", "simple", pos, neg, torch.zeros(1, 16, 8, 8), disable_pbar=True, seed=3)
                runs[label] = {"weight_patch_calls": calls["n"], "hooks_left": hooks_left(patched)}
            out[method] = runs
    out["input_model_wrappers"] = len(model.wrappers)
    out["input_model_patches"] = len(model.patches)
    return out


def memory_refusal() -> dict:
    """Too many LoRAs for the method's memory: a clear message (free memory faked small)."""
    import comfy.model_management as mm
    model = load_model(MODELS / "tiny_sd3.safetensors")
    slider = sliders.build_slider("blend", [A, B, C], "", 1.0)
    original = mm.get_free_memory
    mm.get_free_memory = lambda *a, **k: 1024
    try:
        apply_mod.apply_paretoslider(model, slider, torch.tensor([0.2, 0.3, 0.5]))
        msg = ""
    except ValueError as err:
        msg = str(err)
    finally:
        mm.get_free_memory = original
    soups = apply_mod.apply_paretoslider(model, sliders.build_slider("soups", [A, B, C], "", 1.0),
                                         torch.tensor([0.2, 0.3, 0.5]))
    return {"message": msg, "soups_ok": soups is not None}


def schedule_sigma() -> dict:
    """The wrapper reads ω from the call's σ: a σ-keypoint schedule at σ = 0.8 and 0.2 gives the
    plain ω of those keypoints."""
    sched = import_module(ext.__name__ + ".pareto_core.schedule")
    model = load_model(MODELS / "tiny_sd3.safetensors")
    slider = sliders.build_slider("blend", [A, B], "", 1.0)
    s = sched.parse_keypoints("0.2: 0, 1\n0.8: 1, 0", "sigma")
    x, ctx, pooled = inputs(1)
    p = apply_mod.apply_paretoslider(model, slider, s)
    err = 0.0
    for sigma, omega in ((0.8, [1.0, 0.0]), (0.2, [0.0, 1.0]), (0.9, [1.0, 0.0])):
        want = denoise(apply_mod.apply_paretoslider(model, slider, torch.tensor(omega)), x, sigma, ctx, pooled, None)
        err = max(err, (denoise(p, x, sigma, ctx, pooled, None, load=False) - want).abs().max().item())
    mid = denoise(p, x, 0.5, ctx, pooled, None, load=False)
    want = denoise(apply_mod.apply_paretoslider(model, slider, torch.tensor([0.5, 0.5])), x, 0.5, ctx, pooled, None)
    return {"keypoint_err": err, "midpoint_err": (mid - want).abs().max().item()}


def stacked_with_a_file() -> dict:
    """A LoRA slider and a trained file on one model, applied in either order: the same output
    (the file's LoRA merged, its ω on the embedder rows of the m-fold batch, the blend on top)."""
    loader = import_module(ext.__name__ + ".nodes.loader")
    core = import_module(ext.__name__ + ".pareto_core")
    path = base / "models" / "paretoslider" / "tiny_sd3_slider.safetensors"
    ps = loader.LoadedSlider(path.name, loader.FileStamp.of(str(path)), core.load_paretoslider(path))
    model = load_model(MODELS / "tiny_sd3.safetensors")
    slider = sliders.build_slider("blend", [A, B], "", 1.0)
    x, ctx, pooled = inputs(2)
    w_file, w_loras = torch.tensor([[0.2, 0.8], [0.9, 0.1]]), torch.tensor([[0.3, 0.7], [0.6, 0.4]])
    one = apply_mod.apply_paretoslider(apply_mod.apply_paretoslider(model, ps, w_file), slider, w_loras)
    other = apply_mod.apply_paretoslider(apply_mod.apply_paretoslider(model, slider, w_loras), ps, w_file)
    a = denoise(one, x, 0.6, ctx, pooled, None)
    b = denoise(other, x, 0.6, ctx, pooled, None)
    file_only = denoise(apply_mod.apply_paretoslider(model, ps, w_file), x, 0.6, ctx, pooled, None)
    return {"order_err": (a - b).abs().max().item(), "loras_matter": (a - file_only).abs().max().item()}


print(json.dumps({"batched": batched_equals_sequential(), "repatching": repatching(),
                  "memory": memory_refusal(), "schedule_sigma": schedule_sigma(),
                  "stacked": stacked_with_a_file()}))
