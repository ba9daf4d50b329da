"""What each slider method costs inside ComfyUI (issue 13), in-process under ComfyUI's python:
ParetoSlider (a trained file; `paretoslider_per_objective` one with per-objective LoRAs mixed by ω,
issue 26, at real width only), the LoRA slider's soups / blend / msdda over two LoRAs, and
ComfyUI's own LoraLoader strength change — on the tiny SD3 and at real width: `real` a
random-weight MMDiT with SD3.5 Medium's configuration (2.24 B parameters), `sdxl` a random-weight
SDXL UNet from SDXL's own unet config (2.57 B parameters, kohya-named LoRAs; no trained file:
ParetoSlider files exist for SD3 / Flux / LTX-2 only), both bf16 with a small latent and short text.
`formats` measures LoKr, LoHa and DoRA LoRAs in blend against a plain LoRA of the same layers
at SD3.5-Medium width (how each runs, per-step cost, build time, memory).

- per_step_ratio: one model call (cond + uncond batch) of the method / of the base model, the
  weights already patched; blocks of calls alternate base / method, median of paired block ratios.
- requeue_ratio: a re-queue with a new ω (new LoRA strength for LoraLoader) / a re-queue with the
  same ω, both with a new seed. Each re-queue is what the server does: the Apply node's work (its
  output reused when its inputs did not change, as ComfyUI's cache does), then sampling, which
  loads the model and re-patches weights when they changed.
- apply (LoRA slider methods): the Apply node alone, cold (the LoRAs' per-layer updates built from
  ComfyUI's key map and adapters: what every new ω cost before they were cached) and at a new ω
  (cached), and how many LoRA update builds the re-queues triggered (0: moving ω rebuilds nothing).

    COMFYUI_DIR=... python bench/runtime_methods.py BASE_DIR tiny|real|sdxl|formats --steps N ...   (ComfyUI's python)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from importlib import import_module
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

METHODS = ("paretoslider", "paretoslider_per_objective", "soups", "blend", "msdda", "lora_loader")
# SD3.5 Medium as ComfyUI's model detection describes it (MMDiT-X: dual attention in blocks 0-12)
SD35_MEDIUM = {"in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 24, "input_size": None,
               "adm_in_channels": 2048, "num_patches": 147456, "pos_embed_max_size": 384, "qk_norm": "rms",
               "pos_embed_scaling_factor": None, "x_block_self_attn_layers": list(range(13)),
               "context_embedder_config": {"target": "torch.nn.Linear",
                                           "params": {"in_features": 4096, "out_features": 1536}}}
# SDXL as ComfyUI's model detection describes it (comfy/model_detection.py; matches supported_models.SDXL)
SDXL_UNET = {"use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
             "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
             "model_channels": 320, "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 2, 2, 10, 10],
             "channel_mult": [1, 2, 4], "transformer_depth_middle": 10, "use_linear_in_transformer": True,
             "context_dim": 2048, "num_head_channels": 64, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
             "use_temporal_attention": False, "use_temporal_resblock": False}
SDXL_ATTN = (".attn1.to_q", ".attn1.to_k", ".attn1.to_v", ".attn1.to_out.0",
             ".attn2.to_q", ".attn2.to_k", ".attn2.to_v", ".attn2.to_out.0")
LORA_TARGETS = (".attn.to_q", ".attn.to_k", ".attn.to_v", ".attn.to_out.0", ".attn.add_q_proj",
                ".attn.add_k_proj", ".attn.add_v_proj", ".attn.to_add_out")


def real_width_model(dtype):
    """A ModelPatcher around a random-weight SD3.5-Medium-sized MMDiT (no state dict in memory)."""
    import comfy.model_detection
    import comfy.model_management as mm
    import comfy.model_patcher
    import torch
    config = comfy.model_detection.model_config_from_unet_config(dict(SD35_MEDIUM))
    config.set_inference_dtype(dtype, None)
    model = config.get_model({}, "")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.diffusion_model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).mul_(0.02).to(p.dtype))
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def sdxl_model(dtype):
    """A ModelPatcher around a random-weight SDXL UNet built by ComfyUI's classes from SDXL's unet
    config (matrices ~ N(0, 1/fan_in), norm gains 1, other vectors ~ N(0, 0.02²))."""
    import math
    import comfy.model_detection
    import comfy.model_management as mm
    import comfy.model_patcher
    import torch
    config = comfy.model_detection.model_config_from_unet_config(dict(SDXL_UNET))
    assert type(config).__name__ == "SDXL", type(config).__name__
    config.set_inference_dtype(dtype, None)
    model = config.get_model({}, "")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.diffusion_model.named_parameters():
            if p.ndim >= 2:
                r = torch.randn(p.shape, generator=g, dtype=torch.float32).div_(math.sqrt(p[0].numel()))
            elif "norm" in name and name.endswith(".weight"):
                r = torch.ones(p.shape)
            else:
                r = torch.randn(p.shape, generator=g, dtype=torch.float32).mul_(0.02)
            p.copy_(r.to(p.dtype))
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def kohya_attention_loras(patcher, rank: int, seeds: tuple[int, ...], scale: float = 0.01) -> list[dict]:
    """kohya-named LoRAs (lora_unet_<module path>, as kohya's sd-scripts write them for SDXL) on the
    attention Linears of every transformer block, named and shaped by ComfyUI's own key map."""
    import comfy.lora
    import torch
    key_map = comfy.lora.model_lora_keys_unet(patcher.model, {})
    sd = patcher.model.state_dict()
    shapes = {}
    for k, v in key_map.items():
        if not (k.startswith("lora_unet_") and isinstance(v, str) and v in sd):
            continue
        path = v[len("diffusion_model."):-len(".weight")]
        if ".transformer_blocks." in path and path.endswith(SDXL_ATTN) and k == "lora_unet_" + path.replace(".", "_"):
            shapes[k] = tuple(sd[v].shape)
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        lora = {}
        for k, (o, i) in sorted(shapes.items()):
            lora[f"{k}.lora_down.weight"] = torch.randn(rank, i, generator=g) * scale
            lora[f"{k}.lora_up.weight"] = torch.randn(o, rank, generator=g) * scale
            lora[f"{k}.alpha"] = torch.tensor(float(rank))
        out.append(lora)
    return out


def random_loras(patcher, rank: int, seeds: tuple[int, ...], scale: float = 0.01) -> list[dict]:
    """diffusers-named LoRAs (transformer.transformer_blocks.N.attn.*) on the attention Linears
    of every joint block, shaped by ComfyUI's own key map (fused qkv slices included)."""
    import comfy.lora
    import torch
    key_map = comfy.lora.model_lora_keys_unet(patcher.model, {})
    sd = patcher.model.state_dict()
    shapes = {}
    for k, v in key_map.items():
        if k.startswith("transformer.transformer_blocks.") and k.endswith(LORA_TARGETS):
            wkey, off = (v, None) if isinstance(v, str) else (v[0], v[1])
            if wkey not in sd:      # the last block's context stream has no attention output
                continue
            w = sd[wkey].shape
            shapes[k] = (off[2] if off else w[0], w[1])
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        lora = {}
        for k, (o, i) in sorted(shapes.items()):
            lora[f"{k}.lora_A.weight"] = torch.randn(rank, i, generator=g) * scale
            lora[f"{k}.lora_B.weight"] = torch.randn(o, rank, generator=g) * scale
            lora[f"{k}.alpha"] = torch.tensor(float(rank))
        out.append(lora)
    return out


class Setup:
    """Model, conditioning and the variants' node functions for one scale."""

    def __init__(self, ext, base: Path, scale: str, size: int, tokens: int):
        import comfy.sd
        import comfy.utils
        import torch
        from testsupport.comfy.comfy_inprocess import load_model
        from safetensors.torch import save_file
        self.torch = torch
        core = import_module(ext.__name__ + ".pareto_core")
        apply = import_module(ext.__name__ + ".nodes.apply")
        sliders = import_module(ext.__name__ + ".nodes.lora_slider")
        loader = import_module(ext.__name__ + ".nodes.loader")
        loras_dir = base / "models" / "loras"
        ps_path = po_path = None
        channels, adm_dim = 16, None
        if scale == "tiny":
            self.model = load_model(base / "models/diffusion_models/tiny_sd3.safetensors")
            names = ["tiny_sd3_lora_photo.safetensors", "tiny_sd3_lora_sketch.safetensors"]
            ps_path = base / "models/paretoslider/tiny_sd3_slider.safetensors"
            ctx_dim, pooled_dim, self.describe = 64, 32, "tiny random SD3 (2 joint blocks, width 128), fp32"
        elif scale == "sdxl":
            self.model = sdxl_model(torch.bfloat16)
            loras = kohya_attention_loras(self.model, 16, (1, 2))
            names = ["sdxl_lora_a.safetensors", "sdxl_lora_b.safetensors"]
            for name, lora in zip(names, loras):
                save_file(lora, str(loras_dir / name))
            layers = sum(k.endswith(".lora_down.weight") for k in loras[0])
            ctx_dim, pooled_dim, adm_dim, channels = 2048, 1280, 2816, 4
            params = sum(p.numel() for p in self.model.model.diffusion_model.parameters())
            self.describe = (f"random-weight SDXL UNet from SDXL's unet config by ComfyUI's classes "
                             f"({params / 1e9:.2f} B parameters), bf16, kohya-named LoRAs (lora_unet_*) rank 16 "
                             f"on the {layers} attention Linears of its transformer blocks")
        else:
            self.model = real_width_model(torch.bfloat16)
            lora_a, lora_b = random_loras(self.model, 16, (1, 2))
            names = ["real_lora_a.safetensors", "real_lora_b.safetensors"]
            for name, lora in zip(names, (lora_a, lora_b)):
                save_file(lora, str(loras_dir / name))
            ps_path = base / "models/paretoslider/real_sd35m_slider.safetensors"
            width = 1536
            cfg = core.EmbeddingConfig(num_objectives=2, width=width, hidden=256)
            mods = core.PreferenceModules(cfg)
            with torch.no_grad():
                for p in mods.parameters():
                    p.normal_(0, 0.02)
            meta = core.ParetoSliderMetadata(
                architecture="sd3", width=width, embedding=cfg, variant="random SD3.5 Medium",
                objectives=[core.Objective(n, n, n) for n in ("a", "b")], lora={"rank": 16, "alpha": 16})
            core.save_paretoslider(ps_path, meta, lora_a, mods)
            # the same two LoRAs as a trained file with per-objective LoRAs (lora.per_objective)
            po_path = base / "models/paretoslider/real_sd35m_per_objective.safetensors"
            meta.lora = {"rank": 16, "alpha": 16, "per_objective": True}
            core.save_paretoslider(po_path, meta, {}, mods, [lora_a, lora_b])
            ctx_dim, pooled_dim = 4096, 2048
            params = sum(p.numel() for p in self.model.model.diffusion_model.parameters())
            self.describe = (f"random-weight MMDiT with SD3.5 Medium's config ({params / 1e9:.2f} B parameters), "
                             "bf16, LoRAs rank 16 on every joint block's attention")
        self.params = sum(p.numel() for p in self.model.model.diffusion_model.parameters())
        def loaded(path):
            return None if path is None else \
                loader.LoadedSlider(path.name, loader.FileStamp.of(str(path)), core.load_paretoslider(path))
        self.ps, self.ps_per_objective = loaded(ps_path), loaded(po_path)
        self.lora_sliders = {m: sliders.build_slider(m, names, "", 1.0) for m in ("soups", "blend", "msdda")}
        self.lora_sd = comfy.utils.load_torch_file(str(loras_dir / names[0]), safe_load=True)
        self.apply = apply.apply_paretoslider
        self.load_lora = comfy.sd.load_lora_for_models
        self.msdda = import_module(ext.__name__ + ".nodes.msdda_sampler")
        self.multi_lora = import_module(ext.__name__ + ".nodes.multi_lora")
        self.flag = self.multi_lora.MSDDA_FLAG
        g = torch.Generator().manual_seed(0)
        lat = size // 8
        self.latent = torch.zeros(1, channels, lat, lat)
        self.pos = [[torch.randn(1, tokens, ctx_dim, generator=g), {"pooled_output": torch.randn(1, pooled_dim, generator=g)}]]
        self.neg = [[torch.randn(1, tokens, ctx_dim, generator=g), {"pooled_output": torch.randn(1, pooled_dim, generator=g)}]]
        # per-step calls: SDXL's y is the ADM vector (pooled + size embeddings), here random of its width
        y = torch.randn(2, adm_dim, generator=g) if adm_dim else \
            torch.cat([self.pos[0][1]["pooled_output"], self.neg[0][1]["pooled_output"]])
        self.call_inputs = (torch.randn(2, channels, lat, lat, generator=g),
                            torch.cat([self.pos[0][0], self.neg[0][0]]), y)

    def node(self, method: str, value: float):
        """What the graph's nodes hand KSampler for this method at ω = (value, 1 − value)
        (LoraLoader: strength = value)."""
        omega = self.torch.tensor([value, 1 - value])
        if method == "base":
            return self.model
        if method == "paretoslider":
            return self.apply(self.model, self.ps, omega)
        if method == "paretoslider_per_objective":
            return self.apply(self.model, self.ps_per_objective, omega)
        if method == "lora_loader":
            return self.load_lora(self.model, None, self.lora_sd, value, 0)[0]
        return self.apply(self.model, self.lora_sliders[method], omega)

    def sample(self, model, method: str, steps: int, seed: int):
        import comfy.sample
        import comfy.samplers
        noise = comfy.sample.prepare_noise(self.latent, seed)
        if method == "msdda":
            sampler = comfy.samplers.KSAMPLER(self.msdda.sample_msdda, extra_options={"eta": 0.7})
            sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", steps)
            return comfy.sample.sample_custom(model, noise, 2.0, sampler, sigmas, self.pos, self.neg, self.latent,
                                              disable_pbar=True, seed=seed)
        return comfy.sample.sample(model, noise, steps, 2.0, "euler", "simple", self.pos, self.neg, self.latent,
                                   disable_pbar=True, seed=seed)


def per_step(s: Setup, method: str, blocks: int, calls: int) -> dict:
    """Median paired ratio of (method block / base block) of `calls` model calls each."""
    from testsupport.comfy.comfy_inprocess import denoise
    m = s.node(method, 0.3 if method != "lora_loader" else 1.0)
    if method == "msdda":       # what the MSDDA sampler sets for its model calls
        m = m.clone()
        m.model_options.setdefault("transformer_options", {})[s.flag] = True
    x, ctx, pooled = s.call_inputs
    times = {"base": [], method: []}
    for b in range(blocks):
        for name, model in ((("base", s.model), (method, m)) if b % 2 == 0 else ((method, m), ("base", s.model))):
            denoise(model, x, 0.6, ctx, pooled, None, [0, 1])          # load (re-patch) + warm, untimed
            t0 = time.perf_counter()
            for _ in range(calls):
                denoise(model, x, 0.6, ctx, pooled, None, [0, 1], load=False)
            times[name].append((time.perf_counter() - t0) / calls)
    ratios = [a / b for a, b in zip(times[method], times["base"])]
    return {"ratio": statistics.median(ratios), "method_s": statistics.median(times[method]),
            "base_s": statistics.median(times["base"]), "blocks": blocks, "calls_per_block": calls}


def requeue(s: Setup, method: str, steps: int, repeats: int, seeds) -> dict:
    """new value vs same value re-queues, each with a new seed; the node output is reused when
    its value did not change (ComfyUI's cache). LoRA slider methods: the Apply node's own time,
    cold (the per-layer updates dropped from the input model's cache first, so the warm-up builds
    them: what every new ω paid before they were cached) and at each new ω, and the count of LoRA
    update builds (nodes/lora_updates.layer_updates) during the timed re-queues."""
    memo: dict = {}
    applies: list[float] = []
    lora_slider = method in ("soups", "blend", "msdda", "paretoslider_per_objective")

    def queue(value: float) -> float:
        t0 = time.perf_counter()
        if memo.get("value") != value:
            memo.update(value=value, model=s.node(method, value))
            applies.append(time.perf_counter() - t0)
        s.sample(memo["model"], method, steps, next(seeds))
        return time.perf_counter() - t0

    values = iter([1.0, 0.9] * repeats * 2) if method == "lora_loader" else \
        iter([round((i * 0.137) % 1.0, 3) for i in range(1, 4 * repeats + 4)])
    v = next(values)
    if lora_slider:                           # the warm-up's Apply builds the updates from scratch
        for attr in ("_paretoslider_lora_updates", "_paretoslider_soup_clones", "_paretoslider_lora_clones"):
            s.model.__dict__.pop(attr, None)
    queue(v)                                  # warm-up: first load and patch
    builds = {"n": 0}
    original = s.multi_lora.layer_updates

    def counting(*a, **k):
        builds["n"] += 1
        return original(*a, **k)
    s.multi_lora.layer_updates = counting
    same, new = [], []
    try:
        for _ in range(repeats):
            same.append(queue(v))
            v = next(values)
            new.append(queue(v))
    finally:
        s.multi_lora.layer_updates = original
    out = {"ratio": statistics.median(n / m for n, m in zip(new, same)), "new_s": statistics.median(new),
           "same_s": statistics.median(same), "extra_s": statistics.median(n - m for n, m in zip(new, same)),
           "repeats": repeats, "steps": steps}
    if lora_slider:
        out.update(apply_cold_s=applies[0], apply_new_omega_s=statistics.median(applies[1:]),
                   update_builds_in_requeues=builds["n"])
    return out


FORMATS = ("lokr", "loha", "dora_kohya")       # against "kohya", a plain LoRA of the same layers
SD3_KOHYA_ATTN = ("_attn_qkv", "_attn_proj", "_attn2_qkv", "_attn2_proj")


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def live_rss() -> int:
    """RSS after a collection, with freed heap handed back to the OS (glibc keeps the freed chunks
    of many mid-sized temporaries, which would count as growth)."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return rss_bytes()


def attention_format_loras(model, fmt: str, seeds: tuple[int, ...]) -> list[dict]:
    """testsupport/comfy/lora_formats.make_lora's random LoRAs of `fmt` (kohya names, rank 4),
    kept on the attention Linears of the joint blocks (fused qkv and proj, both streams, attn2)."""
    from testsupport.comfy.lora_formats import make_lora
    return [{k: v for k, v in make_lora(model, fmt, seed).items() if k.split(".")[0].endswith(SD3_KOHYA_ATTN)}
            for seed in seeds]


def formats_in_blend(ext, base: Path, size: int, tokens: int, blocks: int, calls: int) -> dict:
    """LoKr, LoHa and DoRA LoRAs in blend at SD3.5-Medium width, each against a plain (kohya) LoRA
    of the same layers and the base model: how their updates run (factored / dense), the Apply
    node's build time cold and at a new ω, the memory the updates take, and the per-step cost
    (blocks of `calls` model calls, the three variants in rotating order, medians of ratios)."""
    import gc
    from collections import Counter
    import torch
    from testsupport.comfy.comfy_inprocess import denoise
    from safetensors.torch import save_file
    apply = import_module(ext.__name__ + ".nodes.apply").apply_paretoslider
    sliders = import_module(ext.__name__ + ".nodes.lora_slider")
    multi_lora = import_module(ext.__name__ + ".nodes.multi_lora")
    t0 = time.time()
    model = real_width_model(torch.bfloat16)
    dm = model.model.diffusion_model
    params = sum(p.numel() for p in dm.parameters())
    loras_dir = base / "models" / "loras"
    g = torch.Generator().manual_seed(0)
    lat = size // 8
    x = torch.randn(2, 16, lat, lat, generator=g)
    ctx = torch.randn(2, tokens, 4096, generator=g)
    pooled = torch.randn(2, 2048, generator=g)
    omega, omega_new = torch.tensor([0.3, 0.7]), torch.tensor([0.6, 0.4])

    def call(m, load: bool = False) -> float:
        t = time.perf_counter()
        denoise(m, x, 0.6, ctx, pooled, None, [0, 1], load=load)
        return time.perf_counter() - t

    def slider_of(fmt: str):
        names = [f"fmt_{fmt}_{i}.safetensors" for i in (1, 2)]
        for name, lora in zip(names, attention_format_loras(model, fmt, (1, 2))):
            save_file({k: v.contiguous() for k, v in lora.items()}, str(loras_dir / name))
        return sliders.build_slider("blend", names, "", 1.0)

    def describe(slider, patched, build_s: float, rss_before: int) -> dict:
        rss_built = live_rss()
        updates = [multi_lora.prepared(model, f)[1] for f in slider.files]     # cached: the wrapper's
        first = call(patched, load=True)                                          # places them
        rss_placed = live_rss()
        steady = min(call(patched) for _ in range(2))
        t = time.perf_counter()
        apply(model, slider, omega_new)
        apply_new = time.perf_counter() - t
        touched = {(u.module, u.param) for ups in updates for u in ups}
        touched_bytes = sum(getattr(dm.get_submodule(m), p).numel() * getattr(dm.get_submodule(m), p).element_size()
                            for m, p in touched)
        placed = 0      # device copies that are not the update's own tensors (same device and dtype: none)
        for ups in updates:
            for u in ups:
                own = {t.data_ptr() for t in ([u.delta] if u.delta is not None else
                                              [w for w in getattr(u.patch, "weights", ()) if torch.is_tensor(w)])}
                for pu in u.placed.values():
                    ts = [pu.delta] if pu.delta is not None else [w for w in pu.adapter.weights if torch.is_tensor(w)]
                    placed += sum(t.numel() * t.element_size() for t in ts if t.data_ptr() not in own)
        return {"kinds": dict(Counter(u.kind for ups in updates for u in ups)),
                "adapters": dict(Counter(type(u.patch).__name__ for ups in updates for u in ups)),
                "dora_layers": sum(u.dora for ups in updates for u in ups),
                "layers_touched": len(touched), "touched_weights_bytes": touched_bytes,
                "updates_bytes": sum(u.nbytes for ups in updates for u in ups),
                "device_copy_bytes": placed, "rss_growth_build_bytes": rss_built - rss_before,
                "rss_growth_build_and_place_bytes": rss_placed - rss_before,
                "apply_cold_s": build_s, "apply_new_omega_s": apply_new,
                "first_call_s": first, "steady_call_s": steady}

    def built(fmt: str):
        rss0 = live_rss()
        slider = slider_of(fmt)
        t = time.perf_counter()
        patched = apply(model, slider, omega)
        return slider, patched, time.perf_counter() - t, rss0

    def timed_blocks(variants: list) -> dict[str, list[float]]:
        """Per-call seconds of each variant per block, the variants in rotating order."""
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        for b in range(blocks):
            for name, m in variants[b % 3:] + variants[:b % 3]:
                call(m, load=True)                                   # load (re-patch) + warm, untimed
                t = time.perf_counter()
                for _ in range(calls):
                    call(m)
                times[name].append((time.perf_counter() - t) / calls)
        return times

    plain_slider, plain, plain_build, rss0 = built("kohya")
    out = {"model": f"random-weight MMDiT with SD3.5 Medium's config ({params / 1e9:.2f} B parameters), bf16; "
                    "two LoRAs per format from testsupport/comfy/lora_formats.make_lora (kohya names, rank 4) on "
                    "the joint blocks' attention Linears; blend at ω = (0.3, 0.7)",
           "parameters": params, "image_size": size, "text_tokens": tokens, "torch_threads": torch.get_num_threads(),
           "setup_s": round(time.time() - t0, 1), "formats": {}}
    out["formats"]["kohya"] = describe(plain_slider, plain, plain_build, rss0)
    for fmt in FORMATS:
        t1 = time.time()
        slider, patched, build_s, rss0 = built(fmt)
        info = describe(slider, patched, build_s, rss0)
        times = timed_blocks([("base", model), ("kohya", plain), (fmt, patched)])
        med = statistics.median
        info["per_step"] = {
            "ratio_vs_base": med(f / b for f, b in zip(times[fmt], times["base"])),
            "ratio_vs_plain_lora": med(f / k for f, k in zip(times[fmt], times["kohya"])),
            "plain_lora_ratio_vs_base": med(k / b for k, b in zip(times["kohya"], times["base"])),
            "method_s": med(times[fmt]), "plain_lora_s": med(times["kohya"]), "base_s": med(times["base"]),
            "blocks": blocks, "calls_per_block": calls}
        info["measured_s"] = round(time.time() - t1, 1)
        out["formats"][fmt] = info
        print(f"formats {fmt}: {info['kinds']} per-step {info['per_step']['ratio_vs_base']:.3f} vs base, "
              f"{info['per_step']['ratio_vs_plain_lora']:.3f} vs plain LoRA; updates "
              f"{info['updates_bytes'] / 2**20:.1f} MiB + {info['device_copy_bytes'] / 2**20:.1f} MiB device copies; "
              f"touched weights {info['touched_weights_bytes'] / 2**20:.1f} MiB; RSS +"
              f"{info['rss_growth_build_and_place_bytes'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
        del slider, patched
        model.__dict__.pop("_paretoslider_lora_updates", None)     # drop this format's updates
        gc.collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base", type=Path)
    ap.add_argument("scale", choices=("tiny", "real", "sdxl", "formats"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=77)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    from testsupport.comfy.comfy_inprocess import comfy_setup, import_extension
    comfy_setup(os.environ["COMFYUI_DIR"], ("--use-pytorch-cross-attention", "--base-directory", str(args.base)))
    import torch
    ext = import_extension(REPO)
    if args.scale == "formats":
        print(json.dumps(formats_in_blend(ext, args.base, args.size, args.tokens, args.blocks, args.calls)))
        return
    t0 = time.time()
    s = Setup(ext, args.base, args.scale, args.size, args.tokens)
    out = {"model": s.describe, "parameters": s.params, "image_size": args.size, "text_tokens": args.tokens,
           "torch_threads": torch.get_num_threads(), "setup_s": round(time.time() - t0, 1), "methods": {}}
    seeds = iter(range(1000, 10**6))
    for method in args.methods.split(","):
        if (method == "paretoslider" and s.ps is None) or (method == "paretoslider_per_objective"
                                                            and s.ps_per_objective is None):
            continue                      # no trained file for this family (SD3 / Flux / LTX-2 only)
        t1 = time.time()
        out["methods"][method] = {"per_step": per_step(s, method, args.blocks, args.calls),
                                  "requeue": requeue(s, method, args.steps, args.repeats, seeds),
                                  "measured_s": round(time.time() - t1, 1)}
        print(f"{args.scale} {method}: per-step {out['methods'][method]['per_step']['ratio']:.3f}, requeue "
              f"{out['methods'][method]['requeue']['ratio']:.3f}", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
