"""Will it fit? The memory model's prediction for a config, looked up without weights or torch.

    print(prediction_report(load_config("my.yaml"), gpu="24"))

bench/memory.py runs the trainer's real step on meta tensors for SD3.5 Medium / Large and FLUX.1
Kontext [dev] at 512 and 1024 px under several memory settings, and writes every result to
bench/results/memory.json (peak, its largest parts, the FLOPs of each phase). A config is matched
to the result of its model, resolution and memory settings; the seconds per step are recomputed
for the config's own sample counts with bench/memory.py's formula (FLOPs / (the card's dense bf16
peak × MFU), plus an fp8 base's upcast traffic / bandwidth; tests/trainer/test_preflight.py checks
the two give the same numbers). Predictions, not measurements; LTX-2 and the toy model are not
modelled. The file is part of the repository (not of an installed wheel): without it, the report says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREDICTIONS = Path(__file__).resolve().parents[2] / "bench" / "results" / "memory.json"
GB = 2 ** 30

# the settings that change the peak, then the ones that only change the time (bench/memory.py's names)
MEMORY_KEYS = ("model.dtype", "model.gradient_checkpointing", "model.text_cache", "model.quantize",
               "train.minibatch", "train.sample_batch", "train.decode_batch")
TIME_KEYS = ("train.train_timesteps", "train.prompts_per_step", "preference.omegas_per_prompt",
             "train.group_size", "train.sample_steps")


@dataclass
class Prediction:
    model: str                         # bench/memory.py's model key, e.g. sd35_medium
    label: str                         # e.g. SD3.5 Medium
    resolution: int
    peak_gb: float
    parts: list[tuple[str, float]]     # the largest parts at the peak, GB
    seconds: dict[str, float]          # GPU size key (gpu_16gb ...) → predicted s/step for this config
    gpus: dict[str, dict[str, Any]]    # GPU size key → {"card", "memory_gb", ...}
    headroom_gb: float
    option_set: str                    # which modelled settings matched
    differs: list[str]                 # memory settings of the config that the matched result does not have


def settings_of(cfg) -> dict[str, Any]:
    """The config's values under bench/memory.py's setting names (dtype auto = bf16 on a GPU)."""
    m, t, p = cfg.model, cfg.train, cfg.preference
    return {"model.dtype": "bf16" if m.dtype == "auto" else m.dtype,
            "model.gradient_checkpointing": bool(m.gradient_checkpointing), "model.text_cache": bool(m.text_cache),
            "model.quantize": m.quantize, "train.minibatch": t.minibatch, "train.sample_batch": t.sample_batch,
            "train.decode_batch": t.decode_batch, "train.train_timesteps": t.train_timesteps,
            "train.prompts_per_step": t.prompts_per_step, "preference.omegas_per_prompt": p.omegas_per_prompt,
            "train.group_size": t.group_size, "train.sample_steps": t.sample_steps}


def model_of(cfg) -> str | None:
    """bench/memory.py's model for the config's backbone and variant; None when it is not modelled."""
    if cfg.model.backbone == "sd3":
        return "sd35_large" if "large" in cfg.model.variant.lower() else "sd35_medium"
    if cfg.model.backbone == "flux_kontext":
        return "flux_kontext_dev"
    return None


def step_work(result: dict, settings: dict, measured_timesteps: int) -> dict:
    """One training step of `settings` from bench/memory.py's measurement `result` (the ONE formula, used by
    bench/memory.py's `predict_time` too): the FLOPs measured for a few samples scaled to the config's
    samples, rollout steps and training timesteps, and an fp8 base's per-forward upcast traffic (read 1 B
    + write 2 B per weight; each rollout forward, and per update point θ forward + backward, old, ref, plus
    the recomputation under checkpointing)."""
    f, run = result["flops"], result["run"]
    n = settings["train.prompts_per_step"] * settings["preference.omegas_per_prompt"] * settings["train.group_size"]
    scale = n / run["samples"]
    tt = settings["train.train_timesteps"]
    rollout = f.get("rollout", 0) * settings["train.sample_steps"] / run["rollout_steps"] * scale
    flops = rollout + (f.get("decode", 0) + f.get("encode", 0) + f.get("optimizer", 0)
                       + f.get("update", 0) * tt / measured_timesteps) * scale
    sb, mb = settings["train.sample_batch"] or n, settings["train.minibatch"]
    upcasts = settings["train.sample_steps"] * -(-n // sb) + -(-n // mb) * tt * (
        4 + int(bool(settings["model.gradient_checkpointing"])))
    fp8_bytes = result["frozen_transformer_gb"].get("float8_e4m3fn", 0) * GB * 3 * upcasts
    return {"flops": flops, "rollout_flops": rollout, "samples": n, "fp8_bytes": fp8_bytes}


def seconds_per_step(result: dict, settings: dict, gpu: dict, mfu: float, measured_timesteps: int) -> float:
    """bench/memory.py's `predict_time` for one GPU: `step_work` at `mfu` of the card's dense bf16 peak,
    plus the fp8 upcast traffic at its bandwidth."""
    w = step_work(result, settings, measured_timesteps)
    return round(w["flops"] / (gpu["bf16_dense_tflops"] * 1e12 * mfu) + w["fp8_bytes"] / (gpu["bandwidth_gbs"] * 1e9), 1)


def predict(cfg, path: Path = PREDICTIONS) -> Prediction | str:
    """The prediction for `cfg`, or a sentence saying why there is none."""
    model = model_of(cfg)
    if model is None:
        return (f"no memory prediction for backbone {cfg.model.backbone} (the memory model covers SD3.5 Medium / "
                "Large and FLUX.1 Kontext dev; bench/memory.py)")
    if not path.is_file():
        return f"no memory predictions here ({path} is in the repository checkout: run `python -m bench.memory`)"
    data = json.loads(path.read_text())
    results = [r for r in data["results"] if r["model"] == model and r["resolution"] == cfg.model.resolution]
    if not results:
        sizes = sorted({r["resolution"] for r in data["results"] if r["model"] == model})
        return (f"no memory prediction for {model} at {cfg.model.resolution} px (modelled: "
                f"{', '.join(map(str, sizes))} px; add it with `python -m bench.memory --models {model} "
                f"--resolutions {cfg.model.resolution}`)")
    mine = settings_of(cfg)

    def differs(r: dict) -> list[str]:
        return [k for k in MEMORY_KEYS if r["settings"].get(k) != mine[k]]
    best = min(results, key=lambda r: (len(differs(r)), r["peak_gb"]))
    measured_tt = data.get("option_sets", {}).get("defaults", {}).get("train.train_timesteps", 2)
    seconds = {k: seconds_per_step(best, mine, g, data["mfu"], measured_tt) for k, g in data["gpus"].items()}
    parts = sorted(best["peak_by"].items(), key=lambda kv: -kv[1])[:3]
    unmodelled = ([f"lora.per_objective ({cfg.num_objectives} LoRAs: about {cfg.num_objectives}× the LoRA's "
                   "weights, gradients and AdamW state)"] if cfg.lora.per_objective else [])
    return Prediction(model, best.get("label", model), cfg.model.resolution, best["peak_gb"], parts, seconds,
                      data["gpus"], data.get("headroom_gb", 1.0), best.get("option_set", ""),
                      differs(best) + unmodelled)


def gpu_key(text: str | None, gpus: dict[str, dict]) -> str | None:
    """'24', '24gb', 'gpu_24gb' or 'h200' → the memory model's GPU key; None for none given."""
    if not text:
        return None
    t = text.lower().replace(" ", "")
    for key, g in gpus.items():
        if t in (key, key.removeprefix("gpu_"), str(g["memory_gb"]), f"{g['memory_gb']}gb"):
            return key
    return ""


def prediction_report(cfg, gpu: str | None = None, path: Path = PREDICTIONS) -> list[str]:
    """Lines for `trainer check`: the peak, its parts, and per GPU size whether it fits and s/step."""
    pred = predict(cfg, path)
    if isinstance(pred, str):
        return [pred]
    n = cfg.train.prompts_per_step * cfg.preference.omegas_per_prompt * cfg.train.group_size
    lines = [f"predicted peak {pred.peak_gb:.1f} GB (torch.cuda.max_memory_allocated, GB = 2^30 B) for "
             f"{pred.label} at {pred.resolution} px; largest parts: "
             + ", ".join(f"{k} {v:.1f}" for k, v in pred.parts)
             + f"; keep ~{pred.headroom_gb:g} GB more free, plus your reward models"]
    if pred.differs:
        lines.append(f"  (modelled with the {pred.option_set!r} memory settings; yours differ in "
                     f"{', '.join(pred.differs)}: the nearest prediction, not yours)")
    key = gpu_key(gpu, pred.gpus)
    if key == "":
        lines.append(f"unknown GPU size {gpu!r}; the memory model knows "
                     + ", ".join(f"{g['memory_gb']} ({g['card']})" for g in pred.gpus.values()))
        key = None
    for k, g in pred.gpus.items():
        if key and k != key:
            continue
        fits = pred.peak_gb + pred.headroom_gb <= g["memory_gb"]
        lines.append(f"  {g['memory_gb']:>3} GB ({g['card']}): {'fits' if fits else 'does NOT fit'}; "
                     f"~{pred.seconds[k]:g} s/step predicted ({n} samples, {cfg.train.sample_steps} rollout steps)")
    return lines
