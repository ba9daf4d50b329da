"""Numeric checks inside ComfyUI (run with ComfyUI's python by test_inprocess.py):
python inprocess_checks.py COMFYUI_DIR REPO BASE_DIR CHECK → prints one JSON line."""
from __future__ import annotations

import json
import sys
from importlib import import_module
from pathlib import Path

from testsupport.comfy.comfy_inprocess import comfy_setup, counting_weight_patches, denoise, import_extension, load_model, load_slider  # noqa: E402

comfy_dir, repo, base, check = sys.argv[1:5]
base = Path(base)
comfy_setup(comfy_dir)
import torch  # noqa: E402

ext = import_extension(repo)
apply_mod = import_module(ext.__name__ + ".nodes.apply")
core = import_module(ext.__name__ + ".pareto_core")
MODELS = base / "models" / "diffusion_models"
SLIDERS = base / "models" / "paretoslider"


def inputs(arch: str, b: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 16, 8, 8, generator=g)
    ctx = torch.randn(b, 8, 64, generator=g)
    pooled = torch.randn(b, 32, generator=g)
    return x, ctx, pooled, (3.5 if arch == "flux" else None)


def per_sample() -> dict:
    """Per-sample ω: one batch with ω_i on row i (cond and uncond chunks) == each row alone."""
    out = {}
    for arch in ("sd3", "flux"):
        for fname in (f"tiny_{arch}_slider", f"tiny_{arch}_blockmod"):
            model = load_model(MODELS / f"tiny_{arch}.safetensors")
            slider = load_slider(ext, SLIDERS / f"{fname}.safetensors")
            omegas = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.1, 0.9]])
            x, ctx, pooled, guid = inputs(arch, 3)
            x2, ctx2, pooled2 = torch.cat([x, x]), torch.cat([ctx, ctx]), torch.cat([pooled, pooled])
            batch = denoise(apply_mod.apply_paretoslider(model, slider, omegas), x2, 0.7, ctx2, pooled2,
                            guid, cond_or_uncond=[0, 1])
            err = 0.0
            for i in range(3):
                single = denoise(apply_mod.apply_paretoslider(model, slider, omegas[i]), x[i:i + 1], 0.7,
                                 ctx[i:i + 1], pooled[i:i + 1], guid)
                for row in (i, i + 3):
                    err = max(err, (batch[row:row + 1] - single).abs().max().item())
            out[fname] = {"max_abs_err": err}
    return out


def no_repatch() -> dict:
    """Re-queue with a new ω re-applies no LoRA weight patch; a new strength does."""
    import comfy.sample
    with counting_weight_patches() as calls:
        model = load_model(MODELS / "tiny_sd3.safetensors")
        slider = load_slider(ext, SLIDERS / "tiny_sd3_slider.safetensors")
        x, ctx, pooled, _ = inputs("sd3", 1)
        pos = [[ctx, {"pooled_output": pooled}]]
        neg = [[ctx * 0, {"pooled_output": pooled * 0}]]
        result, outs = {}, {}
        clones = {}
        for label, omega, strength in (("first", [1.0, 0.0], 1.0), ("new_omega", [0.0, 1.0], 1.0),
                                       ("new_omega_2", [0.4, 0.6], 1.0), ("new_strength", [0.4, 0.6], 0.5)):
            calls["n"] = 0
            patched = apply_mod.apply_paretoslider(model, slider, torch.tensor(omega), strength)
            clones[label] = patched
            noise = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(3))
            outs[label] = comfy.sample.sample(patched, noise, 2, 2.0, "euler", "simple", pos, neg,
                                              torch.zeros(1, 16, 8, 8), disable_pbar=True, seed=3)
            emb = patched.model.diffusion_model.t_embedder
            result[label] = {"weight_patch_calls": calls["n"], "hooks_left": len(emb._forward_hooks)}
        result["same_uuid"] = clones["first"].patches_uuid == clones["new_omega"].patches_uuid
        result["same_weights"] = bool(clones["first"].clone_has_same_weights(clones["new_omega"]))
        result["omega_changed_output"] = (outs["first"] - outs["new_omega"]).abs().max().item()
    return result


def unmapped_key() -> dict:
    model = load_model(MODELS / "tiny_sd3.safetensors")
    slider = load_slider(ext, SLIDERS / "tiny_sd3_slider.safetensors")
    lora = dict(slider.file.lora)
    lora["transformer.no_such_block.attn.to_q.lora_A.weight"] = torch.zeros(4, 128)
    lora["transformer.no_such_block.attn.to_q.lora_B.weight"] = torch.zeros(128, 4)
    bad = core.ParetoSliderFile(slider.file.metadata, lora, slider.file.preference_state)
    bad_slider = type(slider)("bad.safetensors", slider.stamp, bad)
    try:
        apply_mod.apply_paretoslider(model, bad_slider, torch.tensor([0.5, 0.5]))
    except ValueError as err:
        return {"error": str(err)}
    return {"error": ""}


def model_info() -> dict:
    info = import_module(ext.__name__ + ".nodes.model_info")
    out = {}
    for arch in ("sd3", "flux"):
        i = info.describe_model(load_model(MODELS / f"tiny_{arch}.safetensors"))
        out[arch] = {"architecture": i.architecture, "width": i.width, "embedder": i.embedder_path}
    return out


def ltxv() -> dict:
    """LTX: an LTX-Video (v1) model is refused like any unsupported model (no ParetoSlider file can
    be for it), through the Apply node as the UI gets it. LTX-2's LTXAVModel is this network plus an
    audio stream, so its ModelInfo (describe_model of an LTXAV) is checked on it: ω via
    adaln_single.emb, per-sample rows, and per-token timesteps (a denoise mask) expanded sample-major."""
    import comfy.ldm.lightricks.model as ltx
    import comfy.model_base
    import comfy.ops
    from comfy.patcher_extension import WrappersMP
    info_mod = import_module(ext.__name__ + ".nodes.model_info")
    injection = import_module(ext.__name__ + ".nodes.injection")
    torch.manual_seed(0)
    net = ltx.LTXVModel(num_layers=1, attention_head_dim=4, cross_attention_dim=128, caption_channels=4096,
                        in_channels=128, operations=comfy.ops.disable_weight_init)
    model = load_model({k: torch.randn_like(v) * 0.05 for k, v in net.state_dict().items()})
    slider = load_slider(ext, SLIDERS / "tiny_sd3_slider.safetensors")
    try:
        apply_mod.ApplyParetoSlider.execute(model, slider, torch.tensor([0.5, 0.5]))
        refusal = ""
    except Exception as err:  # noqa: BLE001  (the check reports whatever came out)
        refusal = f"{type(err).__qualname__} ({type(err).__module__}): {err}"
    kind = type(model.model)
    model.model.__class__ = comfy.model_base.LTXAV   # described as LTX-2, then back to LTX-Video
    try:
        info = info_mod.describe_model(model)
    finally:
        model.model.__class__ = kind
    mods = core.PreferenceModules(core.EmbeddingConfig(num_objectives=2, width=info.width, hidden=16))
    with torch.no_grad():
        for p in mods.parameters():
            p.normal_(0, 0.5)

    def patched(omega):
        m = model.clone()
        m.add_wrapper_with_key(WrappersMP.APPLY_MODEL, "paretoslider:test", injection.OmegaInjector(mods, omega, info))
        return m
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 128, 2, 4, 4, generator=g)
    ctx = torch.randn(2, 8, 4096, generator=g)
    omegas = torch.tensor([[1.0, 0.0], [0.2, 0.8]])
    kw = dict(frame_rate=25, attention_mask=None)
    run = lambda m, xx, cc, **k: denoise(m, xx, 0.6, cc, None, None, **kw, **k)  # noqa: E731
    batch = run(patched(omegas), x, ctx)
    single_err = max((batch[i:i + 1] - run(patched(omegas[i]), x[i:i + 1], ctx[i:i + 1])).abs().max().item()
                     for i in range(2))
    mask = torch.ones(2, 1, 2, 4, 4)
    per_token_err = (run(patched(omegas), x, ctx, denoise_mask=mask) - batch).abs().max().item()
    base = run(model, x, ctx)
    return {"refusal": refusal, "architecture": info.architecture, "embedder": info.embedder_path,
            "row_expand": info.row_expand, "single_err": single_err, "per_token_err": per_token_err,
            "omega_effect": (batch - base).abs().max().item(),
            "rows_differ": (run(patched(omegas[0]), x, ctx) - batch).abs().max().item()}


def front_preview() -> dict:
    """ParetoSlider Front Preview: a front as `trainer eval` stores it, a minimal one, and none."""
    import dataclasses

    import folder_paths
    import numpy as np
    node = import_module(ext.__name__ + ".nodes.front_preview").ParetoSliderFrontPreview
    plot = import_module(ext.__name__ + ".nodes.front_plot")
    folder_paths.set_temp_directory(str(base / "temp"))   # where the UI preview is written
    slider = load_slider(ext, SLIDERS / "tiny_sd3_slider.safetensors")

    def with_front(front):
        meta = dataclasses.replace(slider.metadata, front=front)
        return type(slider)(slider.name, slider.stamp,
                            core.ParetoSliderFile(meta, slider.file.lora, slider.file.preference_state))
    t = np.linspace(0, 1, 11)
    eval_front = {"omega": [[round(1 - v, 6), round(v, 6)] for v in t],
                  "scores": {"clip": [0.31 - 0.09 * v ** 1.8 for v in t], "aesthetic": [5.1 + 0.9 * v ** 0.6 for v in t]},
                  "std": {"clip": [0.01] * 11, "aesthetic": [0.1] * 11}, "scorers": ["clip", "aesthetic"],
                  "hypervolume": 0.0712, "reference": [0.22, 5.02], "base": {"clip": 0.262, "aesthetic": 5.02},
                  "steps": 20, "seed": 0, "samples_per_prompt": 1, "prompts": 8, "lora_strength": 1.0}

    def run(s, omega=None, width=384):
        out = node.execute(s, None if omega is None else torch.tensor(omega), width)
        return out.result[0], out.ui
    a, ui = run(with_front(eval_front), [0.9, 0.1])
    b, _ = run(with_front(eval_front), [0.2, 0.8])
    a2, _ = run(with_front(eval_front), [0.9, 0.1])
    none, _ = run(with_front(eval_front))
    rows, _ = run(with_front(eval_front), [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    tiny, _ = run(slider, [0.5, 0.5], 512)          # the test files' minimal front: no scorers, no hypervolume
    msg_img, _ = run(with_front(None), [0.5, 0.5])
    saved = [Path(folder_paths.get_temp_directory(), r["subfolder"], r["filename"]) for r in ui.values]
    labels = slider.metadata.labels
    _, msg = plot.preview(None, labels, None, 384, slider.name)
    _, no_msg = plot.preview(eval_front, labels, torch.tensor([0.9, 0.1]), 384, slider.name)
    try:
        run(with_front(eval_front), [0.2, 0.3, 0.5])
        bad_preference = ""
    except Exception as err:  # noqa: BLE001
        bad_preference = f"{type(err).__qualname__}: {err}"
    changed = lambda x, y: int(((x - y).abs().amax(-1) > 0.1).sum())  # pixels that differ

    def marker_at(img):   # centre (x, y) of the red marker pixels inside the plot (legend excluded)
        px = img[0, : int(img.shape[1] * 0.75)]
        red = (px[..., 0] > 0.7) & (px[..., 1] < 0.35) & (px[..., 2] < 0.45)
        ys, xs = torch.nonzero(red, as_tuple=True)
        return [float(xs.float().mean()), float(ys.float().mean())]
    return {
        "shape": list(a.shape), "dtype": str(a.dtype), "range": [float(a.min()), float(a.max())],
        "omega_moves_marker": changed(a, b), "marker_a": marker_at(a), "marker_b": marker_at(b),
        "same_omega_same_image": changed(a, a2),
        "marker_drawn": changed(a, none), "rows_drawn": changed(rows, none),
        "tiny_shape": list(tiny.shape), "message_when_front": no_msg, "bad_preference": bad_preference,
        "ui_files": [p.is_file() for p in saved],
        "no_front": {"shape": list(msg_img.shape), "message": msg, "differs_from_plot": changed(msg_img, none),
                     "background": float(msg_img.mean())},
    }


def velocity() -> dict:
    """v = (x - x0) / sigma for inputs saved by the parity test.
    args: arch inputs.safetensors out.safetensors slider[,slider...] ("-" = the base model)."""
    from safetensors.torch import load_file, save_file
    arch, inputs_path, out_path, sliders = sys.argv[5:9]
    t = load_file(inputs_path)
    base_model = load_model(MODELS / f"tiny_{arch}.safetensors")
    x, sigma = t["x"], t["sigma"]
    guidance = float(t["guidance"]) if "guidance" in t else None
    out = {}
    for name in sliders.split(","):
        model = base_model
        if name != "-":
            model = apply_mod.apply_paretoslider(base_model, load_slider(ext, SLIDERS / name), t["omega"])
        x0 = denoise(model, x, sigma, t["context"], t["pooled"], guidance)
        out[name] = ((x - x0) / sigma.view(-1, 1, 1, 1)).contiguous()
    save_file(out, out_path)
    return {"ok": True}


CHECKS = {"per_sample": per_sample, "no_repatch": no_repatch, "unmapped_key": unmapped_key,
          "model_info": model_info, "ltxv": ltxv, "front_preview": front_preview}
if check == "velocity":
    print(json.dumps(velocity()))
elif check == "all":  # one ComfyUI import for all checks
    print(json.dumps({name: fn() for name, fn in CHECKS.items()}))
else:
    print(json.dumps(CHECKS[check]()))
