"""What each slider method costs inside ComfyUI (issue 13), in-process under ComfyUI's python:
ParetoSlider (a trained file), the LoRA slider's soups / blend / msdda over two LoRAs, and
ComfyUI's own LoraLoader strength change — on the tiny SD3 and at real width (a random-weight
MMDiT with SD3.5 Medium's configuration, 2.5 B parameters, bf16, small latent and short text).

- per_step_ratio: one model call (cond + uncond batch) of the method / of the base model, the
  weights already patched; blocks of calls alternate base / method, median of paired block ratios.
- requeue_ratio: a re-queue with a new ω (new LoRA strength for LoraLoader) / a re-queue with the
  same ω, both with a new seed. Each re-queue is what the server does: the Apply node's work (its
  output reused when its inputs did not change, as ComfyUI's cache does), then sampling, which
  loads the model and re-patches weights when they changed.

    COMFYUI_DIR=... python bench/runtime_methods.py BASE_DIR tiny|real --steps N ...   (ComfyUI's python)
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
sys.path.insert(0, str(REPO / "tests" / "integration"))

METHODS = ("paretoslider", "soups", "blend", "msdda", "lora_loader")
# SD3.5 Medium as ComfyUI's model detection describes it (MMDiT-X: dual attention in blocks 0-12)
SD35_MEDIUM = {"in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 24, "input_size": None,
               "adm_in_channels": 2048, "num_patches": 147456, "pos_embed_max_size": 384, "qk_norm": "rms",
               "pos_embed_scaling_factor": None, "x_block_self_attn_layers": list(range(13)),
               "context_embedder_config": {"target": "torch.nn.Linear",
                                           "params": {"in_features": 4096, "out_features": 1536}}}
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
    """Model, conditioning and the five variants' node functions for one scale."""

    def __init__(self, ext, base: Path, scale: str, size: int, tokens: int):
        import comfy.sd
        import comfy.utils
        import torch
        from comfy_inprocess import load_model
        from safetensors.torch import save_file
        self.torch = torch
        core = import_module(ext.__name__ + ".pareto_core")
        apply = import_module(ext.__name__ + ".nodes.apply")
        sliders = import_module(ext.__name__ + ".nodes.lora_slider")
        loader = import_module(ext.__name__ + ".nodes.loader")
        loras_dir = base / "models" / "loras"
        if scale == "tiny":
            self.model = load_model(base / "models/diffusion_models/tiny_sd3.safetensors")
            names = ["tiny_sd3_lora_photo.safetensors", "tiny_sd3_lora_sketch.safetensors"]
            ps_path = base / "models/paretoslider/tiny_sd3_slider.safetensors"
            ctx_dim, pooled_dim, self.describe = 64, 32, "tiny random SD3 (2 joint blocks, width 128), fp32"
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
            ctx_dim, pooled_dim = 4096, 2048
            params = sum(p.numel() for p in self.model.model.diffusion_model.parameters())
            self.describe = (f"random-weight MMDiT with SD3.5 Medium's config ({params / 1e9:.2f} B parameters), "
                             "bf16, LoRAs rank 16 on every joint block's attention")
        self.params = sum(p.numel() for p in self.model.model.diffusion_model.parameters())
        self.ps = loader.LoadedSlider(ps_path.name, loader.FileStamp.of(str(ps_path)), core.load_paretoslider(ps_path))
        self.lora_sliders = {m: sliders.build_slider(m, names, "", 1.0) for m in ("soups", "blend", "msdda")}
        self.lora_sd = comfy.utils.load_torch_file(str(loras_dir / names[0]), safe_load=True)
        self.apply = apply.apply_paretoslider
        self.load_lora = comfy.sd.load_lora_for_models
        self.msdda = import_module(ext.__name__ + ".nodes.msdda_sampler")
        self.flag = import_module(ext.__name__ + ".nodes.multi_lora").MSDDA_FLAG
        g = torch.Generator().manual_seed(0)
        lat = size // 8
        self.latent = torch.zeros(1, 16, lat, lat)
        self.pos = [[torch.randn(1, tokens, ctx_dim, generator=g), {"pooled_output": torch.randn(1, pooled_dim, generator=g)}]]
        self.neg = [[torch.randn(1, tokens, ctx_dim, generator=g), {"pooled_output": torch.randn(1, pooled_dim, generator=g)}]]
        self.call_inputs = (torch.randn(2, 16, lat, lat, generator=g), torch.cat([self.pos[0][0], self.neg[0][0]]),
                            torch.cat([self.pos[0][1]["pooled_output"], self.neg[0][1]["pooled_output"]]))

    def node(self, method: str, value: float):
        """What the graph's nodes hand KSampler for this method at ω = (value, 1 − value)
        (LoraLoader: strength = value)."""
        omega = self.torch.tensor([value, 1 - value])
        if method == "base":
            return self.model
        if method == "paretoslider":
            return self.apply(self.model, self.ps, omega)
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
    from comfy_inprocess import denoise
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
    its value did not change (ComfyUI's cache)."""
    memo: dict = {}

    def queue(value: float) -> float:
        t0 = time.perf_counter()
        if memo.get("value") != value:
            memo.update(value=value, model=s.node(method, value))
        s.sample(memo["model"], method, steps, next(seeds))
        return time.perf_counter() - t0

    values = iter([1.0, 0.9] * repeats * 2) if method == "lora_loader" else \
        iter([round((i * 0.137) % 1.0, 3) for i in range(1, 4 * repeats + 4)])
    v = next(values)
    queue(v)                                  # warm-up: first load and patch
    same, new = [], []
    for _ in range(repeats):
        same.append(queue(v))
        v = next(values)
        new.append(queue(v))
    return {"ratio": statistics.median(n / m for n, m in zip(new, same)), "new_s": statistics.median(new),
            "same_s": statistics.median(same), "extra_s": statistics.median(n - m for n, m in zip(new, same)),
            "repeats": repeats, "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base", type=Path)
    ap.add_argument("scale", choices=("tiny", "real"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=77)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    from comfy_inprocess import comfy_setup, import_extension
    comfy_setup(os.environ["COMFYUI_DIR"], ("--use-pytorch-cross-attention", "--base-directory", str(args.base)))
    import torch
    ext = import_extension(REPO)
    t0 = time.time()
    s = Setup(ext, args.base, args.scale, args.size, args.tokens)
    out = {"model": s.describe, "parameters": s.params, "image_size": args.size, "text_tokens": args.tokens,
           "torch_threads": torch.get_num_threads(), "setup_s": round(time.time() - t0, 1), "methods": {}}
    seeds = iter(range(1000, 10**6))
    for method in args.methods.split(","):
        t1 = time.time()
        out["methods"][method] = {"per_step": per_step(s, method, args.blocks, args.calls),
                                  "requeue": requeue(s, method, args.steps, args.repeats, seeds),
                                  "measured_s": round(time.time() - t1, 1)}
        print(f"{args.scale} {method}: per-step {out['methods'][method]['per_step']['ratio']:.3f}, requeue "
              f"{out['methods'][method]['requeue']['ratio']:.3f}", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
