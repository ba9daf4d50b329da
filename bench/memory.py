"""Exact memory model of a training step: the real transformers, the trainer's real NFT step, on meta.

    .venv/bin/python -m bench.memory                       # everything → bench/results/memory.json + docs table
    .venv/bin/python -m bench.memory --models sd35_medium --resolutions 512 --options gpu_16gb --no-write

SD3.5 Medium, SD3.5 Large and FLUX.1 Kontext [dev] are built from their published configs (literal
dicts below; nothing is downloaded) on the meta device: every tensor has its real shape and dtype and
no memory. Then the trainer itself runs one step (`trainer.run.train.Trainer.step`: encode, the rollout
with the EMA policy, VAE decode for the rewards, the NFT updates: θ / old / ref passes, backward,
AdamW) with the LoRA (rank 32, default targets) and the preference modules as a run builds them.
`bench/memtrack.py` counts what a GPU would hold:
- every storage the code creates, while it lives (rounded to 512 B as CUDA's allocator does), so
  the peak is of what `torch.cuda.max_memory_allocated` reports, split by what the bytes are;
- the bytes autograd saves for backward (saved-tensor hooks) in the θ forward;
- the FLOPs of every matmul / convolution / attention, by phase (for the time prediction).
On a GPU the trainer autocasts to bf16 and SDPA runs the flash kernel; on meta both are emulated
(`memtrack.EmulatedAutocast` with CUDA's op table, `memtrack.flash_attention("cuda")`); the
optimiser takes the foreach path as on CUDA and its state exists (a steady-state step). A step
here has max(2, minibatch) samples, 2 training timesteps each, and 1 rollout step: the peak does
not depend on the number of rollout steps (no grad) nor on the number of updates.
Not counted: the CUDA context (~0.5 GB outside torch's allocator), allocator fragmentation (reserved
minus allocated; `headroom_gb`), reward models (e.g. CLIP-L for clip_score: +0.9 GB bf16).
Seconds per step are a prediction: FLOPs / (the GPU's dense bf16 tensor throughput × MFU).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

from bench.memtrack import (
    CUDA_POLICY,
    EmulatedAutocast,
    LiveBytes,
    SavedBytes,
    checkpoint_with_emulation,
    flash_attention,
)
from trainer.config.gpu_prediction import step_work

GB = 2 ** 30
RESULTS = REPO / "bench" / "results" / "memory.json"
DOC = REPO / "docs" / "TRAINING.md"
CONFIGS = REPO / "trainer" / "configs"

# ----------------------------------------------------------------------------- the published configs
SD35_MEDIUM = {"attention_head_dim": 64, "caption_projection_dim": 1536, "in_channels": 16,
               "joint_attention_dim": 4096, "num_attention_heads": 24, "num_layers": 24, "out_channels": 16,
               "patch_size": 2, "pooled_projection_dim": 2048, "pos_embed_max_size": 384, "qk_norm": "rms_norm",
               "sample_size": 128, "dual_attention_layers": list(range(13))}
SD35_LARGE = {"attention_head_dim": 64, "caption_projection_dim": 2432, "in_channels": 16,
              "joint_attention_dim": 4096, "num_attention_heads": 38, "num_layers": 38, "out_channels": 16,
              "patch_size": 2, "pooled_projection_dim": 2048, "pos_embed_max_size": 192, "qk_norm": "rms_norm",
              "sample_size": 128}
FLUX_KONTEXT_DEV = {"attention_head_dim": 128, "guidance_embeds": True, "in_channels": 64,
                    "joint_attention_dim": 4096, "num_attention_heads": 24, "num_layers": 19,
                    "num_single_layers": 38, "patch_size": 1, "pooled_projection_dim": 768,
                    "axes_dims_rope": [16, 56, 56], "out_channels": None}
VAE_16CH = {"in_channels": 3, "out_channels": 3, "latent_channels": 16, "block_out_channels": [128, 256, 512, 512],
            "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
            "layers_per_block": 2, "norm_num_groups": 32, "act_fn": "silu", "sample_size": 1024,
            "use_quant_conv": False, "use_post_quant_conv": False, "mid_block_add_attention": True}
SD3_VAE = {**VAE_16CH, "scaling_factor": 1.5305, "shift_factor": 0.0609}
FLUX_VAE = {**VAE_16CH, "scaling_factor": 0.3611, "shift_factor": 0.1159}
CLIP_L = {"vocab_size": 49408, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
          "num_attention_heads": 12, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
          "projection_dim": 768, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
CLIP_G = {"vocab_size": 49408, "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32,
          "num_attention_heads": 20, "max_position_embeddings": 77, "hidden_act": "gelu", "projection_dim": 1280,
          "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
T5_XXL = {"vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
          "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
          "feed_forward_proj": "gated-gelu", "is_gated_act": True, "dense_act_fn": "gelu_new",
          "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}

MODELS = {
    "sd35_medium": {"label": "SD3.5 Medium", "backbone": "sd3", "transformer": SD35_MEDIUM, "vae": SD3_VAE,
                    "text": [("CLIPTextModelWithProjection", CLIP_L), ("CLIPTextModelWithProjection", CLIP_G),
                             ("T5EncoderModel", T5_XXL)]},
    "sd35_large": {"label": "SD3.5 Large", "backbone": "sd3", "transformer": SD35_LARGE, "vae": SD3_VAE,
                   "text": [("CLIPTextModelWithProjection", CLIP_L), ("CLIPTextModelWithProjection", CLIP_G),
                            ("T5EncoderModel", T5_XXL)]},
    "flux_kontext_dev": {"label": "FLUX.1 Kontext dev", "backbone": "flux_kontext", "transformer": FLUX_KONTEXT_DEV,
                         "vae": FLUX_VAE, "text": [("CLIPTextModel", CLIP_L), ("T5EncoderModel", T5_XXL)]},
}

# ----------------------------------------------------------------------------- option sets
# the trainer's settings that move memory; every other setting is the trainer's default
DEFAULTS = {"model.dtype": "bf16", "model.gradient_checkpointing": False, "model.text_cache": False,
            "model.quantize": "none", "train.minibatch": 4, "train.sample_batch": 0, "train.decode_batch": 0,
            "train.train_timesteps": 2, "train.prompts_per_step": 2, "preference.omegas_per_prompt": 2,
            "train.group_size": 4, "train.sample_steps": 10}
LADDER = {
    "defaults": {},
    "cache": {"model.text_cache": True},
    "cache+ckpt": {"model.text_cache": True, "model.gradient_checkpointing": True, "train.sample_batch": 4,
                   "train.decode_batch": 2},
    "cache+ckpt+mb1": {"model.text_cache": True, "model.gradient_checkpointing": True, "train.minibatch": 1,
                       "train.sample_batch": 2, "train.decode_batch": 1},
    "cache+ckpt+mb1+fp8": {"model.text_cache": True, "model.gradient_checkpointing": True, "train.minibatch": 1,
                           "train.sample_batch": 2, "train.decode_batch": 1, "model.quantize": "fp8"},
}
GPU_CONFIGS = ("gpu_16gb", "gpu_24gb", "gpu_48gb", "gpu_80gb")

# dense bf16 tensor throughput (fp32 accumulate) and memory bandwidth of a representative card per size
GPUS = {"gpu_16gb": ("RTX 4080 16 GB", 48.7e12, 717e9, 16), "gpu_24gb": ("RTX 4090 24 GB", 82.6e12, 1008e9, 24),
        "gpu_48gb": ("RTX A6000 48 GB", 154.8e12, 768e9, 48), "gpu_80gb": ("A100 80 GB", 312e12, 2039e9, 80),
        "h200": ("H200 141 GB", 989e12, 4800e9, 141)}
MFU = 0.40            # assumed share of the dense peak the transformer's matmuls reach
HEADROOM_GB = 1.0     # CUDA context, allocator fragmentation and kernel workspaces beyond the peak
CONFIG_TARGETS = {"gpu_16gb": ("sd35_medium", 512), "gpu_24gb": ("flux_kontext_dev", 512),
                  "gpu_48gb": ("flux_kontext_dev", 1024), "gpu_80gb": ("flux_kontext_dev", 1024)}


def settings_from_config(name: str) -> dict:
    """The memory settings of trainer/configs/<name>.yaml."""
    import yaml
    data = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    out = {}
    for key in DEFAULTS:
        sec, field = key.split(".")
        if field in (data.get(sec) or {}):
            value = data[sec][field]
            out[key] = bool(value) if field == "text_cache" else value
    return out


def option_sets() -> dict[str, dict]:
    sets = {k: {**DEFAULTS, **v} for k, v in LADDER.items()}
    for name in GPU_CONFIGS:
        if (CONFIGS / f"{name}.yaml").is_file():
            sets[name] = {**DEFAULTS, **settings_from_config(name)}
    return sets


# ----------------------------------------------------------------------------- building on meta
def _text_encoders(spec):
    import transformers
    out = []
    for cls_name, cfg in spec:
        config_cls = transformers.T5Config if cls_name.startswith("T5") else transformers.CLIPTextConfig
        out.append(getattr(transformers, cls_name)(config_cls(**cfg)).eval())
    return out


def build_backbone(model: str, resolution: int, settings: dict, tracker: LiveBytes):
    """The real backbone class around meta modules of the real sizes (text encoders only when resident)."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    from testsupport.tiny import tiny_clip_tokenizer, tiny_t5_tokenizer
    spec = MODELS[model]
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[settings["model.dtype"]]
    resident = not settings["model.text_cache"]
    with torch.device("meta"):
        if spec["backbone"] == "sd3":
            transformer = SD3Transformer2DModel(**spec["transformer"])
        else:
            transformer = FluxTransformer2DModel(**spec["transformer"])
        vae = AutoencoderKL(**spec["vae"])
        encoders = _text_encoders(spec["text"]) if resident else []
    transformer.to(dtype).eval()
    vae.to(dtype).eval()
    for e in encoders:
        e.to(dtype)
    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    if spec["backbone"] == "sd3":
        from trainer.backbones.sd3 import SD3Backbone
        te = encoders + [None] * (3 - len(encoders))
        toks = [tiny_clip_tokenizer(), tiny_clip_tokenizer(), tiny_t5_tokenizer()] if resident else [None] * 3
        pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=sched, vae=vae,
                                        text_encoder=te[0], tokenizer=toks[0], text_encoder_2=te[1],
                                        tokenizer_2=toks[1], text_encoder_3=te[2], tokenizer_3=toks[2])
        bb = SD3Backbone("", pipeline=pipe, device="meta", dtype=dtype, resolution=resolution,
                         quantize=settings["model.quantize"])
    else:
        from trainer.backbones.flux_kontext import FluxKontextBackbone
        te = encoders + [None] * (2 - len(encoders))
        toks = [tiny_clip_tokenizer(), tiny_t5_tokenizer()] if resident else [None] * 2
        pipe = FluxKontextPipeline(transformer=transformer, scheduler=sched, vae=vae, text_encoder=te[0],
                                   tokenizer=toks[0], text_encoder_2=te[1], tokenizer_2=toks[1])
        bb = FluxKontextBackbone("", pipeline=pipe, device="meta", dtype=dtype, resolution=resolution,
                                 quantize=settings["model.quantize"])
    return bb, encoders


def _cached_text(backbone, prompt: str) -> None:
    """What trainer.backbones.text_cache.install gives the backbone: the embeddings of the real shapes (CPU)."""
    L, c = backbone.max_sequence_length, backbone.transformer.config
    if backbone.architecture == "sd3":
        t = {"prompt_embeds": torch.zeros(77 + L, c.joint_attention_dim), "pooled": torch.zeros(c.pooled_projection_dim)}
    else:
        t = {"prompt_embeds": torch.zeros(L, c.joint_attention_dim), "pooled": torch.zeros(c.pooled_projection_dim),
             "text_ids": torch.zeros(L, 3)}
    backbone.add_text_embedding(prompt, t)


def _count(params) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in params:
        key = str(p.dtype).replace("torch.", "")
        out[key] = out.get(key, 0) + p.numel() * p.element_size()
    return out


def trainer_config(bb, settings: dict, run_dir: str):
    from trainer.config import config_from_dict
    mb = settings["train.minibatch"]
    return config_from_dict({
        "model": {"backbone": "flux_kontext" if bb.architecture == "flux" else "sd3", "dtype": settings["model.dtype"],
                  "resolution": bb.resolution,
                  "gradient_checkpointing": settings["model.gradient_checkpointing"],
                  "quantize": settings["model.quantize"]},
        "objectives": [{"name": "a"}, {"name": "b"}],
        "train": {"minibatch": mb, "group_size": max(2, mb), "prompts_per_step": 1, "sample_steps": 1,
                  "train_timesteps": settings["train.train_timesteps"], "timestep_sampling": "uniform", "sample_batch": settings["train.sample_batch"],
                  "decode_batch": settings["train.decode_batch"]},
        "preference": {"omegas_per_prompt": 1},
        "output": {"dir": run_dir, "tensorboard": False, "progress": False, "checkpoint_every": 0},
    })


# ----------------------------------------------------------------------------- one measurement
def measure(model: str, resolution: int, settings: dict) -> dict:
    """The predicted GPU memory of one training step of `model` at `resolution` under `settings`."""
    tracker = LiveBytes("meta", round_to=512)
    t0 = time.perf_counter()
    with tracker, flash_attention("cuda"):
        bb, encoders = build_backbone(model, resolution, settings, tracker)
        out = step_memory(bb, encoders, settings, tracker, policy=CUDA_POLICY)
    out.update({"model": model, "label": MODELS[model]["label"], "resolution": resolution, "settings": settings,
                "seconds": time.perf_counter() - t0})
    out["time"] = predict_time(out, settings)
    return out


def step_memory(bb, encoders, settings: dict, tracker: LiveBytes, policy: dict | None,
                around_step=contextlib.nullcontext) -> dict:
    """Run `Trainer.step()` once on backbone `bb` under `tracker` and report what it held.
    policy: the autocast table to emulate on meta (None: the device's real autocast);
    around_step: a context for the step alone (the tests' independent allocator measurement)."""
    from trainer.backbones.base import Sample
    from trainer.run.train import Trainer
    with tempfile.TemporaryDirectory() as run_dir:
        tr = bb.transformer
        frozen = _count(tr.parameters())
        tracker.retag(list(tr.parameters()) + list(tr.buffers()), "frozen transformer")
        tracker.retag(list(bb.vae.parameters()), "VAE")
        text_bytes = _count(p for e in encoders for p in e.parameters())
        tracker.retag([p for e in encoders for p in e.parameters()], "text encoders")
        res = bb.resolution
        source = torch.rand(3, res, res) if bb.architecture == "flux" else None
        sample = Sample(prompt="a prompt", source=source, key="a prompt")
        if settings["model.text_cache"]:
            _cached_text(bb, sample.prompt)
        cfg = trainer_config(bb, settings, run_dir)

        def reward(images, prompts, sources):
            return torch.zeros(images.shape[0])
        with torch.device(tracker.device_type):
            trainer = Trainer(cfg, backbone=bb, rewards={"a": reward, "b": reward}, samples=[sample])
        if policy is not None:
            trainer.autocast = lambda: EmulatedAutocast(trainer.dtype, policy) if trainer.dtype != torch.float32 \
                else contextlib.nullcontext()
        if cfg.model.gradient_checkpointing:
            tr.enable_gradient_checkpointing(checkpoint_with_emulation())
        for g in trainer.optimizer.param_groups:
            g["foreach"] = True          # CUDA's default AdamW path (one pass over the tensor list)
        params = trainer.policy.params
        tracker.retag(params, "trainable (LoRA + preference)")
        tracker.retag(trainer.policy.old, "EMA old policy")
        tracker.retag(trainer.policy.ema or [], "exported EMA")
        for p in params:
            p.register_post_accumulate_grad_hook(lambda p: tracker.retag([p.grad], "gradients"))
        saved = SavedBytes(exclude=list(tr.parameters()) + params)
        with tracker.tagged("AdamW state"):
            # a steady-state step: AdamW's state exists (as after the first update of a run)
            for p in params:
                p.grad = torch.zeros_like(p)
            trainer.optimizer.step()
            trainer.optimizer.zero_grad(set_to_none=True)
        _instrument(trainer, tracker, saved)
        tracker.reset_peak()
        start = tracker.current
        with around_step():
            trainer.step()
        opt_bytes = sum(t.numel() * t.element_size() for s in trainer.optimizer.state.values()
                        for t in s.values() if isinstance(t, torch.Tensor) and t.device.type == tracker.device_type)
        trainable = sum(p.numel() for p in params)
        lora = sum(p.numel() for n, p in trainer.policy.named if n.startswith("transformer."))
        n_quant = sum(1 for m in tr.modules() if type(m).__name__ == "FP8Linear")
        samples = cfg.train.prompts_per_step * cfg.preference.omegas_per_prompt * cfg.train.group_size
    out = {
        "peak_gb": tracker.peak / GB, "start_gb": start / GB,
        "peak_by": {k: v / GB for k, v in sorted(tracker.peak_by_tag.items(), key=lambda kv: -kv[1]) if v > 0},
        "phases": {ph: {"peak_gb": v / GB} for ph, v in tracker.phase_peak.items() if ph != "setup"},
        "frozen_transformer_gb": {k: v / GB for k, v in frozen.items()},
        "frozen_buffers_gb": sum(b.numel() * b.element_size() for b in tr.buffers()) / GB,
        "frozen_transformer_params": sum(p.numel() for p in tr.parameters() if not p.requires_grad),
        "quantised_linears": n_quant,
        "vae_gb": sum(p.numel() * p.element_size() for p in bb.vae.parameters()) / GB,
        "text_encoders_resident_gb": sum(text_bytes.values()) / GB,
        "trainable_params": trainable, "lora_params": lora,
        "trainable_gb": trainable * 4 / GB, "gradients_gb": trainable * 4 / GB, "adamw_state_gb": opt_bytes / GB,
        "saved_for_backward_gb": saved.max_per_forward / GB,
        "flops": dict(tracker.flops),
        "run": {"samples": samples, "updates": samples // cfg.train.minibatch, "rollout_steps": cfg.train.sample_steps},
    }
    out["dominant"] = next(iter(out["peak_by"]), "")
    return out


def _instrument(trainer, tracker: LiveBytes, saved: SavedBytes) -> None:
    """Name the phases of a step and tag what each allocates (instance attributes shadow the methods)."""
    bb, algo = trainer.backbone, trainer.algorithm

    def phase(name, fn, tag=None):
        def wrapped(*a, **k):
            with tracker.in_phase(name), tracker.tagged(tag or name):
                return fn(*a, **k)
        return wrapped

    bb.encode = phase("encode", bb.encode)
    algo.rollout = phase("rollout", algo.rollout, "rollout working set")
    bb.decode = phase("decode", bb.decode, "VAE decode working set")
    update = algo.update

    def update_phase(*a, **k):
        with tracker.in_phase("update"), tracker.tagged("old/ref passes"):
            u = update(*a, **k)
        forward = u.forward

        def theta_forward():
            with tracker.tagged("activations (θ forward)"), saved.forward():
                return forward()
        u.forward = theta_forward
        return u
    algo.update = update_phase
    trainer._backward = phase("update", trainer._backward, "loss + backward working set")
    step = trainer._optimizer_step

    def optimizer_step(*a, **k):
        with tracker.in_phase("optimizer"), tracker.tagged("AdamW state"):
            out = step(*a, **k)
        tracker.retag([t for s in trainer.optimizer.state.values() for t in s.values()
                       if isinstance(t, torch.Tensor)], "AdamW state")
        return out
    trainer._optimizer_step = optimizer_step


# ----------------------------------------------------------------------------- time per step
def predict_time(result: dict, settings: dict) -> dict:
    """Seconds per step of the real config (its prompts × ω × group samples, its rollout steps and
    training timesteps) per representative GPU: the FLOPs counted here / (dense bf16 peak × MFU),
    plus, with an fp8 base, the upcast traffic (read 1 B + write 2 B per weight per forward) /
    bandwidth. A prediction, not a measurement."""
    w = step_work(result, settings, DEFAULTS["train.train_timesteps"])
    flops, rollout, n, fp8_bytes = w["flops"], w["rollout_flops"], w["samples"], w["fp8_bytes"]
    out = {"step_tflop": flops / 1e12, "rollout_tflop": rollout / 1e12, "samples_per_step": n,
           "fp8_upcast_gb_per_step": fp8_bytes / GB}
    for key, (_, peak, bandwidth, _) in GPUS.items():
        out[key] = round(flops / (peak * MFU) + fp8_bytes / bandwidth, 1)
    return out


# ----------------------------------------------------------------------------- outputs
LADDER_NAMES = {"defaults": "trainer defaults (bf16, micro-batch 4)", "cache": "+ text cache",
                "cache+ckpt": "+ checkpointing, rollout 4 / decode 2 rows",
                "cache+ckpt+mb1": "+ micro-batch 1, rollout 2 / decode 1 rows", "cache+ckpt+mb1+fp8": "+ fp8 base"}


def table(results: list[dict], sets: dict) -> str:
    """Two markdown tables: the option ladder (each column adds one option) and the GPU configs."""
    by = {(r["model"], r["resolution"], r["option_set"]): r for r in results}
    ladder = [o for o in LADDER if any(k[2] == o for k in by)]
    lines = [("Predicted peak `torch.cuda.max_memory_allocated` of one training step, GB (2^30 B); each column "
              "adds one option to the one before; in brackets: the largest part at that peak."), "",
             "| model | px | " + " | ".join(LADDER_NAMES[o] for o in ladder) + " |",
             "|---|---|" + "---|" * len(ladder)]
    models = list(dict.fromkeys((r["model"], r["resolution"]) for r in results))
    for m, px in models:
        cells = []
        for o in ladder:
            r = by.get((m, px, o))
            cells.append(f"{r['peak_gb']:.1f} ({r['dominant'].split(' (')[0]})" if r else "")
        lines.append(f"| {MODELS[m]['label']} | {px} | " + " | ".join(cells) + " |")
    configs = [o for o in GPU_CONFIGS if any(k[2] == o for k in by)]
    if configs:
        lines += ["", ("| config | GPU (time assumed on) | model, px | predicted peak GB | + headroom fits? | "
                       "largest parts at the peak | predicted s/step |"), "|---|---|---|---|---|---|---|"]
        for o in configs:
            m, px = CONFIG_TARGETS[o]
            r = by.get((m, px, o))
            if r is None:
                continue
            card, _, _, size = GPUS[o]
            fits = "yes" if r["peak_gb"] + HEADROOM_GB <= size else "**no**"
            parts = ", ".join(f"{k} {v:.1f}" for k, v in list(r["peak_by"].items())[:3])
            lines.append(f"| `{o}.yaml` | {size} GB ({card}) | {MODELS[m]['label']}, {px} | **{r['peak_gb']:.1f}** "
                         f"| {fits} | {parts} | {r['time'][o]:.0f} ({r['time']['samples_per_step']} samples) |")
    return "\n".join(lines)


def write_doc_table(text: str) -> None:
    start, end = "<!-- memory-table:start -->", "<!-- memory-table:end -->"
    doc = DOC.read_text()
    if start not in doc:
        return
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{start}\n{text}\n{end}{tail}")
    tmp.replace(DOC)


MEMORY_KEYS = ("model.dtype", "model.gradient_checkpointing", "model.text_cache", "model.quantize",
               "train.minibatch", "train.sample_batch", "train.decode_batch", "train.train_timesteps")


def text_encoder_bytes(model: str, dtype: str = "bf16") -> int:
    """The text encoders' weights (CLIP-L/G, T5-XXL) built on meta from their configs."""
    with torch.device("meta"):
        encoders = _text_encoders(MODELS[model]["text"])
    size = {"bf16": 2, "fp16": 2, "fp32": 4}[dtype]
    return sum(p.numel() for e in encoders for p in e.parameters()) * size


def with_resident_text_encoders(cached: dict, enc_bytes: int, settings: dict) -> dict:
    """A run without the text cache: the encoders sit on the GPU for the whole step, so every moment
    of the cached run's timeline holds `enc_bytes` more (the peak moves by exactly that); the encode
    phase also runs them (no grad, a few prompts), which stays below the update's peak."""
    r = copy.deepcopy(cached)
    add = enc_bytes / GB
    r["settings"] = settings
    r["peak_gb"] += add
    r["peak_by"] = dict(sorted({**r["peak_by"], "text encoders": add}.items(), key=lambda kv: -kv[1]))
    for ph in r["phases"].values():
        ph["peak_gb"] += add
    r["text_encoders_resident_gb"] = add
    r["dominant"] = next(iter(r["peak_by"]))
    r["derived"] = "the text-cache run + the resident text encoders (same timeline, shifted)"
    r["time"] = predict_time(r, settings)
    return r


def _measure_job(job):
    model, res, settings = job
    return measure(model, res, settings)


def run_all(models, resolutions, chosen: list[str], sets: dict, jobs: int = 2) -> list[dict]:
    """Every model × resolution × option set; runs with the same memory settings are measured once."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    def mem_key(st):
        return tuple(st[k] for k in MEMORY_KEYS)
    todo: dict = {}
    for m in models:
        for r in resolutions:
            for o in chosen:
                st = {**sets[o], "model.text_cache": True}    # resident encoders: derived, see above
                todo.setdefault((m, r, mem_key(st)), (m, r, st))
    keys = list(todo)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("fork")) as pool:
        measured = dict(zip(keys, tqdm(pool.map(_measure_job, [todo[k] for k in keys]), total=len(keys),
                                       desc="memory model", unit="run")))
    enc = {m: text_encoder_bytes(m) for m in models}
    results = []
    for m in models:
        for r in resolutions:
            for o in chosen:
                st = sets[o]
                base = measured[(m, r, mem_key({**st, "model.text_cache": True}))]
                if st["model.text_cache"]:
                    res = copy.deepcopy(base)
                    res["settings"] = st
                    res["time"] = predict_time(res, st)
                else:
                    res = with_resident_text_encoders(base, enc[m], st)
                res["option_set"] = o
                results.append(res)
                print(f"{m:18s} {r:5d} {o:20s} peak {res['peak_gb']:6.2f} GB  ({res['dominant']})", flush=True)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--resolutions", nargs="*", type=int, default=[512, 1024])
    ap.add_argument("--options", nargs="*", default=None, help="option sets (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="measurements in parallel (processes)")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    sets = option_sets()
    chosen = args.options or list(sets)
    t0 = time.perf_counter()
    results = run_all(args.models, args.resolutions, chosen, sets, args.jobs)
    print(table(results, sets))
    if not args.no_write:
        payload = {"what": "predicted peak torch.cuda.max_memory_allocated of one training step (GB = 2^30 B)",
                   "gpus": {k: {"card": v[0], "bf16_dense_tflops": v[1] / 1e12, "bandwidth_gbs": v[2] / 1e9,
                                "memory_gb": v[3]} for k, v in GPUS.items()},
                   "mfu": MFU, "headroom_gb": HEADROOM_GB, "option_sets": sets, "results": results,
                   "torch": torch.__version__, "wall_s": round(time.perf_counter() - t0, 1)}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        tmp = RESULTS.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(RESULTS)
        write_doc_table(table(results, sets))
    print(f"wall {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
