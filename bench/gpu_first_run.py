"""The first real-size run on a GPU, against the memory model's prediction (needs CUDA; ~3 minutes).

    .venv/bin/python -m bench.gpu_first_run [--config gpu_16gb] [--steps 3] [--runtime]

SD3.5 Medium (its published config, random bf16 weights: nothing downloaded) at 512 px trains
with the memory settings of trainer/configs/<config>.yaml through the trainer's own Trainer:
cached text embeddings (random, of the real shapes; no text encoder is built), the real VAE
architecture, the config's LoRA, micro-batch, rollout and decode batches, and weight-free rewards
on the GPU (image brightness and saturation: a reward model's memory is not part of the prediction).
One warm-up step (AdamW's state is allocated), then `--steps` measured steps:
- peak `torch.cuda.max_memory_allocated` over the measured steps vs bench/results/memory.json's
  predicted peak for (sd35_medium, 512, <config>);
- seconds per step vs the prediction for this GPU (FLOPs / (dense bf16 peak × MFU); the card is
  looked up by name in memory.json's "gpus", else the H200's figures are used and said so).
Writes bench/results/gpu_first_run.json. `--runtime` also runs bench/runtime.py (see its note below).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

from bench import memory as M

OUT = REPO / "bench" / "results" / "gpu_first_run.json"
RUNTIME_NOTE = ("bench/runtime.py starts ComfyUI with --cpu (testsupport/comfy/comfy_server.py and "
                "comfy_inprocess.py pass it); on a GPU it needs COMFYUI_DIR/COMFYUI_PYTHON and those helpers "
                "taught a device option, so its numbers here are CPU numbers unless that is done")


def build(config: str):
    from dataclasses import replace

    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    from trainer.backbones.sd3 import SD3Backbone
    from trainer.config import load_config
    from trainer.data import load_samples
    cfg = load_config(M.CONFIGS / f"{config}.yaml")
    if cfg.model.backbone != "sd3":
        cfg = replace(cfg, model=replace(cfg.model, backbone="sd3", resolution=512, quantize="none"))
    # embeddings are installed below (random, real shapes), so no cache file is read or written
    cfg = replace(cfg, model=replace(cfg.model, text_cache="", dtype="bf16", resolution=512),
                  output=replace(cfg.output, dir=str(REPO / "runs" / "gpu_first_run"), checkpoint_every=0,
                                 tensorboard=False))
    torch.manual_seed(0)
    with torch.device("cuda"):
        transformer = SD3Transformer2DModel(**M.SD35_MEDIUM).to(torch.bfloat16)
        vae = AutoencoderKL(**M.SD3_VAE).to(torch.bfloat16)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=vae, text_encoder=None, tokenizer=None, text_encoder_2=None,
                                    tokenizer_2=None, text_encoder_3=None, tokenizer_3=None)
    bb = SD3Backbone("", pipeline=pipe, device="cuda", dtype=torch.bfloat16, resolution=512,
                     max_sequence_length=cfg.model.max_sequence_length, quantize=cfg.model.quantize)
    samples = load_samples(cfg.data)
    g = torch.Generator().manual_seed(1)
    for s in {s.prompt for s in samples}:
        bb.add_text_embedding(s, {"prompt_embeds": torch.randn(77 + cfg.model.max_sequence_length, 4096, generator=g),
                                  "pooled": torch.randn(2048, generator=g)})
    return cfg, bb, samples


def brightness(images, prompts, sources):
    return images.mean(dim=(1, 2, 3))


def saturation(images, prompts, sources):
    return (images.amax(1) - images.amin(1)).mean(dim=(1, 2))


def prediction(config: str) -> dict | None:
    if not M.RESULTS.is_file():
        return None
    data = json.loads(M.RESULTS.read_text())
    rows = [r for r in data["results"] if r["model"] == "sd35_medium" and r["resolution"] == 512
            and r["option_set"] == config]
    return {"row": rows[0], "gpus": data["gpus"], "mfu": data["mfu"]} if rows else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="gpu_16gb")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--runtime", action="store_true", help="also run bench/runtime.py (see RUNTIME_NOTE)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: this script measures a GPU run (the prediction is bench/memory.py's)")
        return 2
    from trainer.run.train import Trainer
    cfg, bb, samples = build(args.config)
    trainer = Trainer(cfg, backbone=bb, rewards={cfg.objectives[0].name: brightness,
                                                 cfg.objectives[1].name: saturation}, samples=samples)
    trainer.step()                                   # warm-up: AdamW state, cuBLAS / attention kernels
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        trainer.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / M.GB
    reserved = torch.cuda.max_memory_reserved() / M.GB
    name = torch.cuda.get_device_name()
    out = {"gpu": name, "config": args.config, "measured_peak_allocated_gb": peak,
           "measured_peak_reserved_gb": reserved, "seconds_per_step": times,
           "samples_per_step": len(trainer._draw_batch()[0]), "torch": torch.__version__,
           "machine": platform.node()}
    pred = prediction(args.config)
    if pred is not None:
        row = pred["row"]
        key = next((k for k, v in pred["gpus"].items() if v["card"].split()[0] in name), "h200")
        tflops = pred["gpus"][key]["bf16_dense_tflops"]
        out.update({"predicted_peak_gb": row["peak_gb"], "peak_ratio_measured_over_predicted": peak / row["peak_gb"],
                    "predicted_seconds_per_step": row["time"]["step_tflop"] / (tflops * pred["mfu"]),
                    "time_prediction_card": pred["gpus"][key]["card"]})
    if args.runtime:
        if os.environ.get("COMFYUI_DIR"):
            r = subprocess.run([sys.executable, "-m", "bench.runtime",
                                "--out", str(REPO / "bench" / "results" / "runtime_gpu_session.json")], check=False,
                               cwd=str(REPO))
            out["runtime_bench_rc"] = r.returncode
        out["runtime_bench_note"] = RUNTIME_NOTE
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(OUT)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
