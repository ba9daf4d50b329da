"""Tiny randomly initialised models of every family we test LoRA sliders on, built with ComfyUI's
own classes (run inside ComfyUI's python, after comfy_inprocess.comfy_setup(COMFYUI_DIR)):

    from testsupport.comfy import tiny_families as tf
    model = tf.build("sdxl", seed=0)            # a ModelPatcher, fp32 on ComfyUI's device
    x, kw = tf.inputs("sdxl", batch=2)          # kw as sampling passes it: c_crossattn, y, guidance, ...
    x0 = model.model.apply_model(x, torch.full((2,), 0.5), transformer_options={}, **kw)
    pos, neg = tf.conds("sdxl")                 # [[context (1, 8, 32), {"pooled_output": (1, 32)}]]
    noise = tf.latent("sdxl", 2, seed=1)        # (LTX-2: a NestedTensor [video, audio])
    comfy.sample.sample(model, noise, 2, 2.0, "euler", "simple", pos, neg, noise * 0, disable_pbar=True)
    lora = tf.kohya_lora(model, seed=1)         # lora_unet_* down/up/alpha on every Linear/Conv
    patched, _ = comfy.sd.load_lora_for_models(model, None, lora, 1.0, 0)
    comfy.model_management.load_models_gpu([patched])   # patches the weights before apply_model
    tf.flow_matching("sdxl")                    # False: EPS (model_sampling not CONST)

Each family's config class is the one in comfy/supported_models.py (SD15, SDXL, SD3, Flux,
WAN21_T2V, QwenImage, HunyuanVideo, Chroma, Lumina2, LTXAV) with a tiny `unet_config` holding the
keys comfy/model_detection.py derives from a real checkpoint; build() mirrors
comfy.sd.load_diffusion_model_state_dict (set_inference_dtype fp32, get_model, CoreModelPatcher,
load_model_weights) with a seeded random state dict in place of a file (ComfyUI's ops leave weights
torch.empty). model_sampling is ComfyUI's own: SD1.5 / SDXL discrete EPS, the others CONST (flow).

What LoRAs target is kept: SD1.5 has 1x1 Conv2d proj_in/proj_out (use_linear_in_transformer False)
and a fixed head count; SDXL has Linear proj_in/proj_out, a level without attention, two transformer
blocks per attention and label_emb (adm_in_channels = pooled 32 + 6 x 256 size embeddings); both
keep 3x3 ResBlock convs, 1x1 skip convs, down/upsampler convs and attn1/attn2/ff, and carry
num_res_blocks / transformer_depth(_output/_middle) as a detected config does, because ComfyUI
maps diffusers names through comfy.utils.unet_to_diffusers(unet_config). Lumina 2 keeps its
grouped-query attention (4 heads, 2 kv heads). The LTX-2 config is COMFY_TRANSFORMER of
ltx2_tiny.py (evaluated from that file's source: it imports the project's packages, which ComfyUI's
python lacks), the dimensions of the LTX-2 parity tests. None of these goes through detection, and
several are shapes detection would misread (it fixes Flux's and Wan's head width at 128, LTX's
heads at 32); SD3 keeps detection's width = 64 x depth (2 layers, width 128).

Key maps (comfy.lora.model_lora_keys_unet) hold, besides lora_unet_ and diffusion_model.:
unet. + lycoris_ (SD1.5, SDXL); transformer. + lycoris_ + lora_transformer_ + base_model.model.
(SD3); transformer. + lycoris_ + lora_transformer_ (Flux, Chroma); transformer. + lycoris_ (Qwen,
Lumina 2); transformer. (HunyuanVideo); nothing more for Wan and LTX-2. Conv modules: SD UNets
(conv_in, ResBlock in/out 3x3, skip 1x1, downsample op, upsample conv, out; SD1.5 also proj_in /
proj_out 1x1), SD3 x_embedder.proj (Conv2d), Wan patch_embedding and HunyuanVideo img_in.proj
(Conv3d); the other families are Linear only. ComfyUI's diffusers-name slices for Lumina 2
(transformer.layers.N.attention.to_k / to_v into the fused qkv) assume Z-Image's equal head counts:
with grouped-query attention to_v runs past the weight and to_k covers k and v.

inputs() runs the family's own extra_conds (of a cached seed-0 build; at these shapes none depends
on the weights) the way comfy.samplers.encode_model_conds + process_cond do, on a prompt whose
`batch` rows differ. For LTX-2, x is the packed latent (comfy.utils.pack_latents) and the kwargs
carry latent_shapes, as the sampler does.

    python tiny_families.py COMFYUI_DIR     # the self-check (~5 s): every family, timings, key maps
"""
from __future__ import annotations

import ast
import functools
import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

FAMILIES: tuple[str, ...] = ("sd15", "sdxl", "sd3", "flux", "wan", "qwen_image", "hunyuan_video",
                             "chroma", "lumina2", "ltx2")

TOKENS = 8          # text tokens per prompt (LTX-2: 6, as in its tests)
CONTEXT = 32        # text feature width for every family (LTX-2: [video 16 | audio 16])
POOLED = 32         # pooled text vector (SDXL, SD3, Flux, HunyuanVideo)

_SD_UNET = dict(use_checkpoint=False, image_size=32, use_spatial_transformer=True, legacy=False,
                in_channels=4, out_channels=4, model_channels=32, channel_mult=[1, 2], num_res_blocks=[1, 1],
                context_dim=CONTEXT, use_temporal_resblock=False, use_temporal_attention=False)


def _ltx2_transformer() -> dict:
    """COMFY_TRANSFORMER from ltx2_tiny.py, evaluated from its source (its upper-case constant
    assignments only)."""
    tree = ast.parse((HERE / "ltx2_tiny.py").read_text())
    ns: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets):
            try:
                exec(compile(ast.Module([node], []), "ltx2_tiny.py", "exec"), {"__builtins__": {"dict": dict}}, ns)
            except NameError:
                pass  # constants built from imports (paths); not needed here
    return dict(ns["COMFY_TRANSFORMER"])


# family -> (supported_models class, unet_config, keys BASE.__init__'s unet_extra_config would overwrite)
def _spec(family: str) -> tuple[str, dict, dict]:
    if family == "sd15":
        return "SD15", dict(_SD_UNET, adm_in_channels=None, use_linear_in_transformer=False,
                            transformer_depth=[1, 1], transformer_depth_output=[1, 1, 1, 1],
                            transformer_depth_middle=1), dict(num_heads=2, num_head_channels=-1)
    if family == "sdxl":
        return "SDXL", dict(_SD_UNET, num_classes="sequential", adm_in_channels=POOLED + 6 * 256,
                            use_linear_in_transformer=True, transformer_depth=[0, 2],
                            transformer_depth_output=[0, 0, 2, 2], transformer_depth_middle=2), \
            dict(num_heads=-1, num_head_channels=16)
    if family == "sd3":
        return "SD3", dict(in_channels=16, out_channels=16, patch_size=2, depth=2, input_size=None,
                           adm_in_channels=POOLED, num_patches=64, pos_embed_max_size=8,
                           pos_embed_scaling_factor=None, x_block_self_attn_layers=[],
                           context_embedder_config={"target": "torch.nn.Linear",
                                                    "params": {"in_features": CONTEXT, "out_features": 128}}), {}
    if family == "flux":
        return "Flux", dict(image_model="flux", in_channels=16, out_channels=16, patch_size=2, vec_in_dim=POOLED,
                            context_in_dim=CONTEXT, hidden_size=64, mlp_ratio=4.0, num_heads=2, depth=2,
                            depth_single_blocks=2, axes_dim=[4, 14, 14], theta=10000, qkv_bias=True,
                            guidance_embed=True, txt_ids_dims=[], yak_mlp=False, txt_norm=False), {}
    if family == "chroma":
        return "Chroma", dict(image_model="chroma", in_channels=64, out_channels=64, patch_size=2, vec_in_dim=None,
                              context_in_dim=CONTEXT, hidden_size=64, mlp_ratio=4.0, num_heads=2, depth=2,
                              depth_single_blocks=2, axes_dim=[4, 14, 14], theta=10000, qkv_bias=True,
                              in_dim=64, out_dim=64, hidden_dim=64, n_layers=2, txt_ids_dims=[]), {}
    if family == "wan":
        return "WAN21_T2V", dict(image_model="wan2.1", model_type="t2v", patch_size=(1, 2, 2), in_dim=16,
                                 out_dim=16, dim=32, ffn_dim=64, freq_dim=256, text_dim=CONTEXT, num_heads=2,
                                 num_layers=2, window_size=(-1, -1), qk_norm=True, cross_attn_norm=True,
                                 eps=1e-6), {}
    if family == "qwen_image":
        return "QwenImage", dict(image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16,
                                 num_layers=2, attention_head_dim=32, num_attention_heads=2,
                                 joint_attention_dim=CONTEXT, axes_dims_rope=(8, 12, 12)), {}
    if family == "hunyuan_video":
        return "HunyuanVideo", dict(image_model="hunyuan_video", in_channels=16, out_channels=16,
                                    patch_size=[1, 2, 2], vec_in_dim=POOLED, context_in_dim=CONTEXT,
                                    hidden_size=64, mlp_ratio=4.0, num_heads=2, depth=2, depth_single_blocks=2,
                                    axes_dim=[8, 12, 12], theta=256, qkv_bias=True, guidance_embed=True,
                                    byt5=False, meanflow=False, use_cond_type_embedding=False,
                                    vision_in_dim=None, meanflow_sum=False), {}
    if family == "lumina2":  # Lumina Image 2.0 shape: grouped-query attention (heads 24 / kv 8 there)
        return "Lumina2", dict(image_model="lumina2", patch_size=2, in_channels=16, dim=64, cap_feat_dim=CONTEXT,
                               n_layers=2, n_refiner_layers=2, n_heads=4, n_kv_heads=2, multiple_of=16,
                               ffn_dim_multiplier=4.0, qk_norm=True, axes_dims=[4, 6, 6],
                               axes_lens=[300, 512, 512], rope_theta=10000.0), {}
    if family == "ltx2":
        return "LTXAV", dict(image_model="ltxav", **_ltx2_transformer()), {}
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def flow_matching(family: str) -> bool:
    """True where the family's model_sampling is CONST (flow matching); SD1.5 / SDXL are EPS."""
    _spec(family)
    return family not in ("sd15", "sdxl")


def random_state(model: torch.nn.Module, seed: int, scale: dict[str, float] | None = None) -> dict:
    """A seeded random state dict for every float entry of `model`'s state dict: norm gains around
    1, matrices / conv kernels ~ N(0, 1/fan_in), the rest (biases, tables, tokens) ~ N(0, 0.1²);
    `scale` multiplies the entries under a name prefix (e.g. a VAE's conv_out)."""
    g = torch.Generator().manual_seed(seed)
    norm_params = {f"{m_name}.{p_name}" if m_name else p_name
                   for m_name, mod in model.named_modules() if "Norm" in type(mod).__name__
                   for p_name, _ in mod.named_parameters(recurse=False)}
    sd = {}
    for name, t in model.state_dict().items():
        if not t.is_floating_point() or t.numel() == 0:
            sd[name] = t.clone()
            continue
        r = torch.randn(t.shape, generator=g, dtype=torch.float32)
        if name in norm_params and name.endswith((".weight", ".scale")):
            r = 1.0 + 0.1 * r
        elif t.ndim >= 2:
            r = r / math.sqrt(math.prod(t.shape[1:]))
        else:
            r = 0.1 * r
        for prefix, factor in (scale or {}).items():
            if name.startswith(prefix):
                r = r * factor
        sd[name] = r.to(t.dtype)
    return sd


def build(family: str, seed: int = 0):
    """The family's tiny model as ComfyUI loads a diffusion model (fp32, random weights from seed)."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    cls, unet_config, after_init = _spec(family)
    config = getattr(comfy.supported_models, cls)(unet_config)
    config.unet_config.update(after_init)      # BASE.__init__ applied the class's unet_extra_config
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({})
    patcher = comfy.model_patcher.CoreModelPatcher(model, load_device=mm.get_torch_device(),
                                                   offload_device=mm.unet_offload_device())
    sd = random_state(model.diffusion_model, seed)
    model.load_model_weights({f"diffusion_model.{k}": v for k, v in sd.items()}, "diffusion_model.",
                             assign=patcher.is_dynamic())
    model.eval()
    return patcher


@functools.lru_cache(maxsize=None)
def _reference(family: str):
    return build(family, 0).model


def _shapes(family: str, batch: int) -> list[tuple[int, ...]]:
    if family in ("sd15", "sdxl"):
        return [(batch, 4, 8, 8)]
    if family in ("sd3", "flux", "chroma", "lumina2"):
        return [(batch, 16, 8, 8)]
    if family in ("wan", "hunyuan_video"):
        return [(batch, 16, 2, 8, 8)]
    if family == "qwen_image":
        return [(batch, 16, 1, 8, 8)]       # 3-D latent format: sampling sees (B, C, 1, H, W)
    if family == "ltx2":
        return [(batch, 4, 3, 4, 4), (batch, 8, 5, 16)]   # video, audio (8 channels x 16 mel bins)
    raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")


def latent(family: str, batch: int, seed: int = 0):
    """N(0, 1) noise of the family's latent shape (multiply by 0 for an empty latent); LTX-2: a
    NestedTensor [video, audio] as comfy.sample.sample takes it."""
    g = torch.Generator().manual_seed(seed)
    parts = [torch.randn(s, generator=g) for s in _shapes(family, batch)]
    if len(parts) == 1:
        return parts[0]
    from comfy.nested_tensor import NestedTensor
    return NestedTensor(parts)


def _entries(family: str, batch: int, seed: int) -> tuple[torch.Tensor, dict]:
    _spec(family)
    g = torch.Generator().manual_seed(seed)
    tokens = 6 if family == "ltx2" else TOKENS
    context = torch.randn(batch, tokens, CONTEXT, generator=g)
    extra = {}
    if family in ("sdxl", "sd3", "flux", "hunyuan_video"):
        extra["pooled_output"] = torch.randn(batch, POOLED, generator=g)
    return context, extra


def conds(family: str, seed: int = 0) -> tuple[list, list]:
    """(positive, negative) in comfy.sample.sample's list format, batch 1, e.g.
    [[context (1, 8, 32), {"pooled_output": (1, 32)}]]; the negative is another random prompt."""
    pos, neg = _entries(family, 1, seed), _entries(family, 1, seed + 1000)
    return [[pos[0], pos[1]]], [[neg[0], neg[1]]]


def inputs(family: str, batch: int, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """(x, kwargs) for model.model.apply_model(x, sigma, transformer_options=..., **kwargs): x is
    the latent noise (LTX-2: packed, with latent_shapes in kwargs) and kwargs what the family's
    extra_conds gives for a prompt of `batch` different rows (c_crossattn, y, guidance,
    num_tokens, frame_rate, ...), processed to the batch as sampling does."""
    import comfy.model_management as mm
    import comfy.sampler_helpers
    import comfy.samplers
    import comfy.utils
    noise = latent(family, batch, seed)
    if getattr(noise, "is_nested", False):
        x, shapes = comfy.utils.pack_latents(noise.unbind())
    else:
        x, shapes = noise, [noise.shape]
    context, extra = _entries(family, batch, seed + 1)
    entries = comfy.sampler_helpers.convert_cond([[context, extra]])
    entries = comfy.samplers.encode_model_conds(_reference(family).extra_conds, entries, x, mm.get_torch_device(),
                                                "positive", latent_image=torch.zeros_like(x), denoise_mask=None,
                                                seed=seed, latent_shapes=shapes)
    model_conds = entries[0]["model_conds"]
    return x, {k: c.process_cond(batch_size=batch, area=None).concat([]) for k, c in model_conds.items()}


def kohya_lora(model, seed: int = 0, rank: int = 4, scale: float = 0.3) -> dict:
    """A random kohya-style LoRA (lora_unet_*.lora_down.weight / .lora_up.weight / .alpha) on every
    Linear and Conv weight that the model's key map names with lora_unet_. Names as kohya's scripts
    write them: SD1.x diffusers module names (lora_unet_down_blocks_0_attentions_0_proj_in), every
    other family ComfyUI's own module path (SDXL lora_unet_input_blocks_4_1_proj_in, Flux
    lora_unet_double_blocks_0_img_attn_qkv). Shapes from the target weight: Linear down (r, in),
    up (out, r); Conv down (r, in, *kernel), up (out, r, 1, ...); alpha = r."""
    import comfy.lora
    import comfy.model_base
    diffusers_names = type(model.model) is comfy.model_base.BaseModel      # SD1.x / SD2.x UNets
    net = model.model.diffusion_model
    kinds = {f"diffusion_model.{n}.weight" for n, m in net.named_modules()
             if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d))}
    by_target: dict[str, list[str]] = {}
    for key, target in comfy.lora.model_lora_keys_unet(model.model, {}).items():
        if key.startswith("lora_unet_") and isinstance(target, str) and target in kinds:
            by_target.setdefault(target, []).append(key)
    weights = model.model.state_dict()
    g = torch.Generator().manual_seed(seed)
    lora = {}
    for target in sorted(by_target):
        native = "lora_unet_" + target[len("diffusion_model."):-len(".weight")].replace(".", "_")
        others = sorted(k for k in by_target[target] if k != native)
        name = others[0] if diffusers_names and others else native
        w = weights[target]
        down = torch.randn((rank,) + tuple(w.shape[1:]), generator=g) / math.sqrt(math.prod(w.shape[1:]))
        up = torch.randn((w.shape[0], rank) + (1,) * (w.ndim - 2), generator=g) * scale / math.sqrt(rank)
        lora[f"{name}.lora_down.weight"] = down
        lora[f"{name}.lora_up.weight"] = up
        lora[f"{name}.alpha"] = torch.tensor(float(rank))
    return lora


# ---------------------------------------------------------------------------------------------
STYLES = ("lora_unet_", "unet.", "transformer.", "diffusion_model.", "lycoris_", "lora_transformer_",
          "base_model.model.")
CONVS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_BASIC = ("lora_unet_", "diffusion_model.")
EXPECTED_STYLES = {   # the naming styles of STYLES each family's key map holds in ComfyUI v0.20.1
    "sd15": _BASIC + ("unet.", "lycoris_"), "sdxl": _BASIC + ("unet.", "lycoris_"),
    "sd3": _BASIC + ("transformer.", "lycoris_", "lora_transformer_", "base_model.model."),
    "flux": _BASIC + ("transformer.", "lycoris_", "lora_transformer_"),
    "chroma": _BASIC + ("transformer.", "lycoris_", "lora_transformer_"),
    "qwen_image": _BASIC + ("transformer.", "lycoris_"), "lumina2": _BASIC + ("transformer.", "lycoris_"),
    "hunyuan_video": _BASIC + ("transformer.",), "wan": _BASIC, "ltx2": _BASIC,
}


def _first(names, n: int = 4) -> list:
    names = sorted(names)
    return names[:n] + ([f"... {len(names)} in all"] if len(names) > n else [])


def _key_map_report(model) -> dict:
    """Which LoRA naming styles the key map holds, its entries whose weight this model lacks, its
    slice entries that run past their weight, and the model's Conv modules (indices as N)."""
    import comfy.lora
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    shapes = {k: v.shape for k, v in model.model.state_dict().items()}
    absent = {k for k, v in key_map.items() if (v if isinstance(v, str) else v[0]) not in shapes}
    past_end = {k for k, v in key_map.items() if isinstance(v, tuple) and v[1] is not None and v[0] in shapes
                and v[1][1] + v[1][2] > shapes[v[0]][v[1][0]]}
    convs = {type(m).__name__ + " " + ".".join("N" if p.isdigit() else p for p in n.split("."))
             for n, m in model.model.diffusion_model.named_modules() if isinstance(m, CONVS)}
    return {"keys": len(key_map), "styles": [s for s in STYLES if any(k.startswith(s) for k in key_map)],
            "to_absent_weights": _first(absent), "slices_past_end": _first(past_end, 6), "convs": sorted(convs)}


def _check(family: str, run, catch) -> tuple[dict, list[str]]:
    import time
    import comfy.model_sampling
    import comfy.sample
    import comfy.sd
    problems = []
    catch.clear()
    t = time.perf_counter()
    model = build(family, seed=0)
    build_s = time.perf_counter() - t
    problems += [m for m in catch if "missing" in m or "unexpected" in m]
    sampling = model.model.model_sampling
    const = isinstance(sampling, comfy.model_sampling.CONST)
    if const != flow_matching(family):
        problems.append(f"model_sampling CONST={const}, flow_matching()={flow_matching(family)}")
    discrete_eps = isinstance(sampling, comfy.model_sampling.EPS) and \
        isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete)
    if not const and not discrete_eps:
        problems.append(f"not discrete EPS: {type(sampling).__mro__}")
    weights = model.model.state_dict()
    again, other = build(family, seed=0).model.state_dict(), build(family, seed=1).model.state_dict()
    if not all(torch.equal(v, again[k]) for k, v in weights.items()) or \
            all(torch.equal(v, other[k]) for k, v in weights.items() if k.startswith("diffusion_model.")):
        problems.append("seeding: the same seed must give the same weights, another seed others")

    x, kw = inputs(family, 2)
    out = run(model, x, 0.5, kw)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        run(model, x, 0.5, kw)
        times.append(time.perf_counter() - t)
    finite = bool(torch.isfinite(out).all())
    if out.shape != x.shape or not finite:
        problems.append(f"apply_model: shape {tuple(out.shape)} for x {tuple(x.shape)}, finite {finite}")
    rows_differ = (out[0] - out[1]).abs().max().item()
    if rows_differ < 1e-4:
        problems.append(f"rows do not differ ({rows_differ})")

    pos, neg = conds(family)
    noise = latent(family, 2, seed=1)
    nested = getattr(noise, "is_nested", False)
    t = time.perf_counter()
    sample = comfy.sample.sample(model, noise, 2, 2.0, "euler", "simple", pos, neg, noise * 0,
                                 disable_pbar=True, seed=1)
    sample_s = time.perf_counter() - t
    if not all(torch.isfinite(p).all() for p in (sample.unbind() if nested else [sample])):
        problems.append("sample not finite")

    lora = kohya_lora(model, seed=1)
    catch.clear()
    patched, _ = comfy.sd.load_lora_for_models(model, None, lora, 1.0, 0)
    not_loaded = [m for m in catch if "lora key not loaded" in m or "NOT LOADED" in m]
    if not_loaded:
        problems.append(f"{len(not_loaded)} LoRA keys not loaded, e.g. {not_loaded[:3]}")
    if len(patched.patches) != len(lora) // 3:
        problems.append(f"{len(patched.patches)} patched weights for {len(lora) // 3} LoRA modules")
    lora_out = run(patched, x, 0.5, kw)
    lora_effect = (lora_out - out).abs().max().item()
    if not torch.isfinite(lora_out).all() or lora_effect < 1e-4:
        problems.append(f"LoRA output: effect {lora_effect}, finite {bool(torch.isfinite(lora_out).all())}")
    base_again = (run(model, x, 0.5, kw) - out).abs().max().item()
    if base_again > 1e-5:
        problems.append(f"the base model's output moved after the LoRA run ({base_again})")

    key_map = _key_map_report(model)
    if set(key_map["styles"]) != set(EXPECTED_STYLES[family]):
        problems.append(f"key map styles {key_map['styles']}, expected {EXPECTED_STYLES[family]}")
    params = sum(p.numel() for p in model.model.diffusion_model.parameters())
    return {"apply_model_ms": round(1000 * sorted(times)[2], 1), "build_s": round(build_s, 3),
            "sample_2_steps_s": round(sample_s, 3), "params": params,
            "x": list(x.shape), "kwargs": {k: list(v.shape) if torch.is_tensor(v) else v for k, v in kw.items()},
            "lora_modules": len(lora) // 3, "lora_effect": round(lora_effect, 3), "rows_differ": round(rows_differ, 3),
            "key_map": key_map}, problems


def _self_check(comfy_dir: str) -> int:
    """Every family: build, apply_model on a batch of 2 at σ 0.5 (finite, rows differ, timing),
    2 euler steps at cfg 2, a random kohya LoRA through comfy.sd.load_lora_for_models (every key
    loaded, the output moves, the base model's does not); prints a line and a JSON report each."""
    import json
    import logging
    from testsupport.comfy.comfy_inprocess import comfy_setup
    comfy_setup(comfy_dir)
    import comfy.model_management
    import comfy.patcher_extension

    catch: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            catch.append(record.getMessage())
    logging.getLogger().addHandler(Catch(logging.WARNING))

    def run(patcher, x, sigma, kw):  # comfy_inprocess.denoise, with the kwargs as inputs() gives them
        comfy.model_management.load_models_gpu([patcher])
        options = comfy.patcher_extension.copy_nested_dicts(patcher.model_options.get("transformer_options", {}))
        comfy.patcher_extension.merge_nested_dicts(options.setdefault("wrappers", {}), patcher.wrappers,
                                                   copy_dict1=False)
        options["cond_or_uncond"] = [0]
        with torch.no_grad():
            return patcher.model.apply_model(x, torch.full((x.shape[0],), sigma), transformer_options=options, **kw)

    failures = []
    for family in FAMILIES:
        report, problems = _check(family, run, catch)
        print(f"{family:14s} apply_model {report['apply_model_ms']:5.1f} ms  "
              f"sample {report['sample_2_steps_s']:.3f} s  "
              f"key map {report['key_map']['keys']:5d}  LoRA modules {report['lora_modules']:4d}  "
              f"{'ok' if not problems else 'FAIL: ' + '; '.join(problems)}", flush=True)
        print(json.dumps({family: report}), flush=True)
        if problems:
            failures.append(family)
    print("FAILED: " + ", ".join(failures) if failures else f"all {len(FAMILIES)} families pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_self_check(sys.argv[1]))
