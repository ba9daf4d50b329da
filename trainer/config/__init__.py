"""The trainer's configuration: dataclasses with help text, YAML loading, dotted overrides, validation.

    cfg = load_config("my.yaml", overrides=["train.lr=3e-3", "lora.rank=16"])

Every field carries `metadata={"help": ...}`; `describe()` prints them (`python -m trainer
config-help`). Validation errors are `ConfigError`s that name the field, e.g.
"train.lr: must be > 0 (got -1.0)".
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError


class ConfigError(UserError):
    """A config value that cannot be used; the message names the field."""


def _f(default: Any = dataclasses.MISSING, help: str = "", factory: Any = None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    backbone: str = _f("sd3", "backbone adapter: sd3 (SD3/SD3.5 text-to-image) | flux_kontext (editing) | "
                              "ltx2 (LTX-2 text-to-video); "
                              "ignored when a ready backbone is passed to trainer.run.train.run")
    path: str = _f("", "local diffusers folder (with model_index.json) or single-file checkpoint (.safetensors)")
    config_path: str = _f("", "with a single-file model.path: the local diffusers folder of the same model "
                              "(configs, tokenizers, VAE, text encoders)")
    variant: str = _f("", "free text written to the file's metadata, e.g. sd3.5-medium, flux-kontext-dev")
    dtype: str = _f("auto", "weights/autocast dtype: auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16")
    resolution: int = _f(512, "training image size in pixels (square; sources are resized to it)")
    num_frames: int = _f(9, "ltx2: frames per video (1 + k × the VAE's temporal compression, e.g. 9, 17, 121)")
    frame_rate: float = _f(25.0, "ltx2: frames per second (positions in time, audio length)")
    max_sequence_length: int = _f(256, "T5 token length")
    guidance: float = _f(2.5, "Flux guidance-embedding value (distilled guidance)")
    shift: float = _f(3.0, "SD3 timestep shift of the sampling schedule (Flux computes its own)")
    timestep_dtype: str = _f("fp32", "dtype of the timestep handed to the transformer: fp32 (as diffusers' "
                                     "pipelines) | model (the weights' dtype: bf16 rounds σ·1000, the old behaviour)")
    gradient_checkpointing: bool = _f(False, "recompute transformer activations in backward (saves memory)")
    offload_text_encoders: bool = _f(False, "encode every training prompt once at the start, then keep the text "
                                            "encoders in CPU memory (saves ~10 GB of GPU memory with T5-XXL)")
    text_cache: str = _f("", "a .safetensors file of prompt embeddings: prompts missing from it are encoded once "
                             "(text encoders loaded alone, then freed) and the training pipeline is loaded "
                             "without text encoders, so they are never resident while training ('' = off)")
    quantize: str = _f("none", "frozen transformer weights: none | fp8 (float8 storage with a per-row scale, "
                               "upcast to model.dtype per forward; LoRA and preference modules stay fp32)")


@dataclass
class LoraSettings:
    rank: int = _f(32, "LoRA rank r")
    alpha: float = _f(64.0, "LoRA alpha (scale alpha/r); written as transformer.<module>.alpha tensors")
    targets: list[str] | None = _f(None, "peft target_modules; default: the backbone's attention projections")
    dropout: float = _f(0.0, "LoRA dropout (keep 0 for bit-identical resume)")


@dataclass
class PreferenceSettings:
    hidden: int = _f(256, "hidden width of the ω → temb MLP")
    block_modulation: bool = _f(False, "also add gate_mlp ⊙ m(ω) to every joint block's image stream")
    num_frequencies: int = _f(8, "sinusoidal features per ω component for block modulation")
    fixed: list[float] | None = _f(None, "train at one constant ω (fixed-weight baseline), e.g. [0.25, 0.75]")
    omegas_per_prompt: int = _f(2, "distinct ω sampled per prompt in each step")
    corner_prob: float = _f(0.1, "2 objectives: probability of a corner (one-hot) ω; else Dirichlet(1,1)")
    vertex_prob: float = _f(0.5, ">=3 objectives: probability of a vertex (one-hot) ω (reference: 0.5; was 0.1)")
    edge_prob: float = _f(0.35, ">=3 objectives: probability of an edge ω (two objectives, uniform mix; "
                                "reference: 0.35, was 0.3); the rest is Dirichlet(1,…,1)")
    lr_scale: float = _f(1.0, "learning-rate multiplier for the preference modules")


@dataclass
class ObjectiveSpec:
    name: str = _f("", "objective id (unique), e.g. photorealism")
    reward: str = _f("", "reward id in trainer.rewards' registry, or 'package.module:function'")
    label: str = _f("", "what the slider end shows in ComfyUI (default: name)")
    kwargs: dict = _f(None, "keyword arguments for the reward's constructor", factory=dict)


@dataclass
class DataConfig:
    prompts: Any = _f(None, "text-to-image: a .txt file (one prompt a line) or an inline list of prompts")
    edits: str = _f("", "editing: a .jsonl file of {\"image\": path, \"instruction\": text} (paths relative "
                        "to the file) or a folder of images with same-name .txt instructions")


@dataclass
class TrainSettings:
    algorithm: str = _f("nft", "nft (DiffusionNFT, forward process) | grpo (Flow-GRPO, SDE sampling)")
    steps: int = _f(100, "training steps (each: sample, score, optimise)")
    prompts_per_step: int = _f(2, "prompts (or edit pairs) drawn per step and per process")
    group_size: int = _f(4, "samples per (prompt, ω) group; advantages are normalised inside a group")
    sample_steps: int = _f(10, "denoising steps when sampling")
    train_timesteps: int = _f(2, "NFT: timesteps per sample for the loss; GRPO: trajectory steps trained")
    minibatch: int = _f(4, "samples per optimiser update (one forward/backward per training timestep)")
    sample_batch: int = _f(0, "rows per forward pass when sampling and decoding (0 = the whole step at once)")
    decode_batch: int = _f(0, "rows per VAE decode for the rewards (0 = sample_batch): 1 bounds the decoder's "
                              "memory at 1024 px")
    inner_epochs: int = _f(1, "optimiser passes over each step's samples")
    lr: float = _f(3e-3, "AdamW learning rate for the LoRA")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    grad_clip: float = _f(1.0, "gradient-norm clip (0 = off)")
    beta: float = _f(1.0, "NFT β: v+ = (1-β) v_old + β v_θ, v- = (1+β) v_old - β v_θ")
    adv_clip: float = _f(5.0, "A_max: NFT weight r = ½ + ½ clip(A/A_max, -1, 1); GRPO clips A to ±A_max")
    kl: float = _f(0.1, "weight of ‖v_θ - v_ref‖² (v_ref = base model, adapters and preference off)")
    ema_schedule: str = _f("ramp", "NFT old-policy decay after step n: ramp = min(ema_ramp·n, ema_max) (the "
                                   "references: nearly on-policy early) | constant = ema_decay")
    ema_ramp: float = _f(0.001, "NFT, ema_schedule ramp: decay grows by this per step")
    ema_max: float = _f(0.5, "NFT, ema_schedule ramp: the largest decay")
    ema_decay: float = _f(0.9, "NFT, ema_schedule constant: old (sampling) policy ← decay·old + (1-decay)·θ")
    policy_loss_scale: str = _f("adv_clip", "NFT: adv_clip = the policy loss × A_max before the KL term is "
                                            "added (the references) | none = unscaled (KL A_max× stronger)")
    adv_eps: float = _f(1e-4, "ε in the group z-score (R − mean) / (std + ε) (references: 1e-4; was 1e-6)")
    timestep_sampling: str = _f("schedule", "NFT training σ: schedule = the sampler's (shifted) σ, the first "
                                            "timestep_fraction of its steps, shuffled per sample (the "
                                            "references) | uniform = σ ~ U(timestep_range)")
    timestep_fraction: float = _f(0.99, "NFT, timestep_sampling schedule: fraction of the sampling steps "
                                        "whose σ are trained on")
    grpo_eta: float = _f(0.7, "GRPO: SDE noise level a in σ_t = a·sqrt(t/(1-t))")
    grpo_clip: float = _f(1e-4, "GRPO: PPO ratio clip ε")
    timestep_range: list[float] = _f(None, "NFT, timestep_sampling uniform: σ range sampled for the loss",
                                     factory=lambda: [0.0, 1.0])
    seed: int = _f(0, "seed for every random choice (prompts, ω, noise, timesteps)")
    max_nan_steps: int = _f(3, "stop after this many consecutive steps with a non-finite loss")


def schedule_timesteps(t: "TrainSettings") -> int:
    """How many of the sampler's σ (from σ = 1 down) NFT trains on with timestep_sampling schedule."""
    return max(1, int(t.sample_steps * t.timestep_fraction))


@dataclass
class OutputConfig:
    dir: str = _f("runs/paretoslider", "run folder: logs, checkpoints/, and the exported file")
    name: str = _f("paretoslider.safetensors", "exported file name (inside dir)")
    checkpoint_every: int = _f(50, "write a resumable checkpoint every N steps (0 = none: the run cannot be resumed)")
    keep_checkpoints: int = _f(2, "how many checkpoints to keep")
    log_every: int = _f(1, "log metrics every N steps")
    tensorboard: bool = _f(True, "write TensorBoard event files (logs/) besides metrics.csv")
    progress: bool = _f(True, "show a tqdm progress bar")


@dataclass
class TrainerConfig:
    model: ModelConfig = _f(None, "the backbone", factory=ModelConfig)
    lora: LoraSettings = _f(None, "the LoRA adapter", factory=LoraSettings)
    preference: PreferenceSettings = _f(None, "ω conditioning and sampling", factory=PreferenceSettings)
    objectives: list[ObjectiveSpec] = _f(None, "the objectives in ω order (≥2)", factory=list)
    data: DataConfig = _f(None, "training prompts / edit pairs", factory=DataConfig)
    train: TrainSettings = _f(None, "the RL algorithm and optimiser", factory=TrainSettings)
    output: OutputConfig = _f(None, "where results go", factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def num_objectives(self) -> int:
        return len(self.objectives)


# ----------------------------------------------------------------------------- building from dicts

def _strip_optional(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(value: Any, tp: Any, where: str) -> Any:
    tp = _strip_optional(tp)
    if value is None or tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and item is not str:
            value = [value]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())
                                           or isinstance(value, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _build(cls, data: dict, where: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{unknown[0]}: unknown field; {cls.__name__} has {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    return cls(**kwargs)


def config_from_dict(data: dict) -> TrainerConfig:
    data = dict(data or {})
    cfg = _build(TrainerConfig, data)
    validate(cfg)
    return cfg


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` (value parsed as YAML: 3e-3, true, [0.3, 0.7]) to a nested dict."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: write it as section.field=value, e.g. train.lr=3e-3")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            if isinstance(node, list):
                try:
                    node = node[int(p)]
                    continue
                except (ValueError, IndexError):
                    raise ConfigError(f"override {key}: {p!r} is not a valid list index") from None
            node = node.setdefault(p, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {key}: {p!r} is not a section")
        value = _parse_scalar(raw)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "e" in raw.lower():
            value = float(value)
        if isinstance(node, list):
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainerConfig:
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        with open(path) as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (model, train, ...)")
        data = _resolve_relative_paths(data, path.parent)
    data = apply_overrides(data, overrides or [])
    return config_from_dict(data)


def _resolve_relative_paths(data: dict, base: Path) -> dict:
    """Paths in a config file are relative to the file (not to where the command runs)."""
    def fix(section: str, key: str):
        sec = data.get(section)
        if isinstance(sec, dict) and isinstance(sec.get(key), str) and sec[key]:
            p = Path(sec[key]).expanduser()
            if not p.is_absolute() and (base / p).exists():
                sec[key] = str(base / p)
    for section, key in (("data", "prompts"), ("data", "edits"), ("model", "path"), ("model", "config_path")):
        fix(section, key)
    return data


# ----------------------------------------------------------------------------- validation

def _need(cond: bool, where: str, msg: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"{where}: {msg} (got {value!r})")


def validate(cfg: TrainerConfig) -> None:
    m, t, p, o, lo = cfg.model, cfg.train, cfg.preference, cfg.output, cfg.lora
    _need(m.dtype in ("auto", "fp32", "bf16", "fp16"), "model.dtype", "must be auto, fp32, bf16 or fp16", m.dtype)
    _need(m.timestep_dtype in ("fp32", "model"), "model.timestep_dtype", "must be fp32 or model", m.timestep_dtype)
    _need(m.resolution > 0 and m.resolution % 16 == 0, "model.resolution", "must be a positive multiple of 16",
          m.resolution)
    _need(m.num_frames >= 1, "model.num_frames", "must be >= 1", m.num_frames)
    _need(m.frame_rate > 0, "model.frame_rate", "must be > 0", m.frame_rate)
    _need(not (m.backbone == "ltx2" and p.block_modulation), "preference.block_modulation",
          "is for SD3 and Flux; LTX-2 takes ω through its video timestep embedding only", p.block_modulation)
    _need(lo.rank >= 1, "lora.rank", "must be >= 1", lo.rank)
    _need(lo.alpha > 0, "lora.alpha", "must be > 0", lo.alpha)
    _need(0 <= lo.dropout < 1, "lora.dropout", "must be in [0, 1)", lo.dropout)
    _need(t.algorithm in ("nft", "grpo"), "train.algorithm", "must be nft or grpo", t.algorithm)
    for name in ("steps", "prompts_per_step", "sample_steps", "train_timesteps", "minibatch", "inner_epochs"):
        _need(getattr(t, name) >= 1, f"train.{name}", "must be >= 1", getattr(t, name))
    _need(t.sample_batch >= 0, "train.sample_batch", "must be >= 0 (0 = all at once)", t.sample_batch)
    _need(t.decode_batch >= 0, "train.decode_batch", "must be >= 0 (0 = sample_batch)", t.decode_batch)
    _need(m.quantize in ("none", "fp8"), "model.quantize", "must be none or fp8", m.quantize)
    _need(not m.text_cache or m.text_cache.endswith(".safetensors"), "model.text_cache",
          "must be a .safetensors file path (or empty: off)", m.text_cache)
    _need(t.algorithm != "grpo" or t.sample_steps >= 2, "train.sample_steps",
          "GRPO needs at least 2 sampling steps (the last one is deterministic)", t.sample_steps)
    _need(t.group_size >= 2, "train.group_size", "must be >= 2 (advantages are normalised inside a group)",
          t.group_size)
    _need(t.lr > 0 and math.isfinite(t.lr), "train.lr", "must be > 0", t.lr)
    _need(t.beta > 0, "train.beta", "must be > 0", t.beta)
    _need(t.adv_clip > 0, "train.adv_clip", "must be > 0", t.adv_clip)
    _need(t.kl >= 0, "train.kl", "must be >= 0", t.kl)
    _need(0 <= t.ema_decay < 1, "train.ema_decay", "must be in [0, 1)", t.ema_decay)
    _need(t.ema_schedule in ("ramp", "constant"), "train.ema_schedule", "must be ramp or constant", t.ema_schedule)
    _need(t.ema_ramp >= 0 and 0 <= t.ema_max < 1, "train.ema_ramp / ema_max", "need ema_ramp >= 0 and "
          "ema_max in [0, 1)", [t.ema_ramp, t.ema_max])
    _need(t.policy_loss_scale in ("adv_clip", "none"), "train.policy_loss_scale", "must be adv_clip or none",
          t.policy_loss_scale)
    _need(t.adv_eps > 0, "train.adv_eps", "must be > 0", t.adv_eps)
    _need(t.timestep_sampling in ("schedule", "uniform"), "train.timestep_sampling", "must be schedule or uniform",
          t.timestep_sampling)
    _need(0 < t.timestep_fraction <= 1, "train.timestep_fraction", "must be in (0, 1]", t.timestep_fraction)
    _need(t.algorithm != "nft" or t.timestep_sampling != "schedule"
          or t.train_timesteps <= schedule_timesteps(t), "train.train_timesteps",
          f"must be <= the {schedule_timesteps(t)} schedule σ trained on (sample_steps × timestep_fraction)",
          t.train_timesteps)
    _need(t.grad_clip >= 0, "train.grad_clip", "must be >= 0", t.grad_clip)
    _need(t.grpo_clip > 0, "train.grpo_clip", "must be > 0", t.grpo_clip)
    _need(t.grpo_eta >= 0, "train.grpo_eta", "must be >= 0", t.grpo_eta)
    _need(len(t.timestep_range) == 2 and 0 <= t.timestep_range[0] < t.timestep_range[1] <= 1,
          "train.timestep_range", "must be [lo, hi] with 0 <= lo < hi <= 1", t.timestep_range)
    _need(t.max_nan_steps >= 1, "train.max_nan_steps", "must be >= 1", t.max_nan_steps)
    _need(len(cfg.objectives) >= 2, "objectives", "a ParetoSlider needs at least 2 objectives",
          [x.name for x in cfg.objectives])
    seen = set()
    for i, ob in enumerate(cfg.objectives):
        _need(bool(ob.name), f"objectives[{i}].name", "must be set", ob.name)
        _need(ob.name not in seen, f"objectives[{i}].name", "must be unique", ob.name)
        seen.add(ob.name)
    _need(p.hidden >= 1, "preference.hidden", "must be >= 1", p.hidden)
    _need(p.omegas_per_prompt >= 1, "preference.omegas_per_prompt", "must be >= 1", p.omegas_per_prompt)
    _need(0 <= p.corner_prob <= 1, "preference.corner_prob", "must be in [0, 1]", p.corner_prob)
    _need(p.vertex_prob >= 0 and p.edge_prob >= 0 and p.vertex_prob + p.edge_prob <= 1,
          "preference.vertex_prob", "vertex_prob + edge_prob must be in [0, 1]", (p.vertex_prob, p.edge_prob))
    if p.fixed is not None:
        _need(len(p.fixed) == len(cfg.objectives), "preference.fixed",
              f"needs one weight per objective ({len(cfg.objectives)})", p.fixed)
        _need(all(math.isfinite(w) and w >= 0 for w in p.fixed) and sum(p.fixed) > 0, "preference.fixed",
              "weights must be finite, >= 0 and not all zero", p.fixed)
    _need(o.checkpoint_every >= 0, "output.checkpoint_every", "must be >= 0", o.checkpoint_every)
    _need(o.keep_checkpoints >= 1, "output.keep_checkpoints", "must be >= 1", o.keep_checkpoints)
    _need(o.log_every >= 1, "output.log_every", "must be >= 1", o.log_every)
    _need(o.name.endswith(".safetensors"), "output.name", "must end with .safetensors", o.name)


def describe(cls=TrainerConfig, prefix: str = "") -> str:
    """Every field with its default and help text (for `python -m trainer config-help`)."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _strip_optional(hints[f.name])
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            lines.append(f"{key}:  {f.metadata.get('help', '')}")
            lines.append(describe(tp, key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        lines.append(f"  {key} = {default!r}  -- {f.metadata.get('help', '')}")
    return "\n".join(lines)
