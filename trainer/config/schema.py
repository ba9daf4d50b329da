"""The trainer's config schema: one dataclass per YAML section (model, lora, preference, objectives,
data, train, output). Every field carries its help text (`python -m trainer config-help`); choices
are `Literal` types; each section's checks (`check()`) sit right after its fields, and
`TrainerConfig.check()` adds the rules that span sections. A failed check is a `ConfigError` that
names the field: "train.lr: must be > 0 (got -1.0)". Loading (YAML, `--set` overrides, coercion) is
loading.py's.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Literal

from ..errors import UserError
from .paths import RULE, PathProblem


class ConfigError(UserError):
    """A config value that cannot be used; the message names the field. `problems` holds one line per
    problem found (a config with several mistakes is reported in one message, one line each)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]

    @classmethod
    def of(cls, problems: list[str], source: str = "") -> "ConfigError":
        """One problem: its line as it is. Several: a count, then one indented line each. With a
        problem about a path, the path rule follows in brackets."""
        note = f"paths: {RULE}" if any(isinstance(p, PathProblem) for p in problems) else ""
        if len(problems) == 1:
            return cls(problems[0] + (f" ({note})" if note else ""), problems)
        where = f" in {source}" if source else ""
        lines = [f"{len(problems)} problems{where}:"] + [f"  - {p}" for p in problems]
        lines += [f"  ({note})"] if note else []
        return cls("\n".join(lines), problems)


# While `collecting()` is active, a failed check is recorded here instead of raised, so every
# problem of a config is reported at once.
_collector: ContextVar[list[str] | None] = ContextVar("paretoslider_config_problems", default=None)


@contextmanager
def collecting() -> Iterator[list[str]]:
    """Record failed checks instead of raising at the first: `with collecting() as problems: cfg.check()`."""
    token = _collector.set([])
    try:
        yield _collector.get()
    finally:
        _collector.reset(token)


def problem(line: str) -> None:
    """A failed check: recorded while collecting, else raised as a ConfigError."""
    found = _collector.get()
    if found is None:
        raise ConfigError(line)
    found.append(line)


def _f(default: Any = dataclasses.MISSING, help: str = "", factory: Any = None):
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


def _need(cond: bool, where: str, msg: str, value: Any) -> None:
    if not cond:
        problem(f"{where}: {msg} (got {value!r})")


def one_of(choices: typing.Sequence[Any]) -> str:
    """"a, b or c"."""
    names = [str(c) for c in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class Section:
    """A config section. `check()` refuses a value outside a `Literal` field's choices; subclasses add
    their own checks after calling it."""
    section: ClassVar[str] = ""

    def check(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            tp = hints[f.name]
            if typing.get_origin(tp) is Literal:
                value = getattr(self, f.name)
                _need(value in typing.get_args(tp), f"{self.section}.{f.name}",
                      f"must be {one_of(typing.get_args(tp))}", value)


@dataclass
class ModelConfig(Section):
    section = "model"

    backbone: Literal["sd3", "flux_kontext", "ltx2", "toy"] = _f(
        "sd3", "backbone: sd3 (SD3/SD3.5 text-to-image) | flux_kontext (editing) | ltx2 (LTX-2 text-to-video) | "
               "toy (the CPU demo's 16 px model); a ready backbone passed to trainer.run.train.run is used instead")
    path: str = _f("", "local diffusers folder (with model_index.json) or single-file checkpoint (.safetensors); "
                       "toy: empty = the shipped toy base")
    config_path: str = _f("", "with a single-file model.path: the local diffusers folder of the same model "
                              "(configs, tokenizers, VAE, text encoders)")
    variant: str = _f("", "free text written to the file's metadata, e.g. sd3.5-medium, flux-kontext-dev")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = _f(
        "auto", "weights/autocast dtype: auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16")
    resolution: int = _f(512, "training image size in pixels (square; sources are resized to it)")
    num_frames: int = _f(9, "ltx2: frames per video (1 + k × the VAE's temporal compression, e.g. 9, 17, 121)")
    frame_rate: float = _f(25.0, "ltx2: frames per second (positions in time, audio length)")
    max_sequence_length: int = _f(256, "T5 token length")
    guidance: float = _f(2.5, "Flux guidance-embedding value (distilled guidance)")
    shift: float = _f(3.0, "SD3 timestep shift of the sampling schedule (Flux computes its own)")
    timestep_dtype: Literal["fp32", "model"] = _f(
        "fp32", "dtype of the timestep handed to the transformer: fp32 (as diffusers' pipelines) | model (the "
                "weights' dtype: bf16 rounds σ·1000, the old behaviour)")
    gradient_checkpointing: bool = _f(False, "recompute transformer activations in backward (saves memory)")
    offload_text_encoders: bool = _f(False, "encode every training prompt once at the start, then keep the text "
                                            "encoders in CPU memory (saves ~10 GB of GPU memory with T5-XXL)")
    text_cache: str = _f("", "a .safetensors file of prompt embeddings: prompts missing from it are encoded once "
                             "(text encoders loaded alone, then freed) and the training pipeline is loaded "
                             "without text encoders, so they are never resident while training ('' = off)")
    quantize: Literal["none", "fp8"] = _f(
        "none", "frozen transformer weights: none | fp8 (float8 storage with a per-row scale, upcast to model.dtype "
                "per forward; LoRA and preference modules stay fp32)")

    def check(self) -> None:
        super().check()
        _need(self.resolution > 0 and self.resolution % 16 == 0, "model.resolution",
              "must be a positive multiple of 16", self.resolution)
        _need(self.num_frames >= 1, "model.num_frames", "must be >= 1", self.num_frames)
        _need(self.frame_rate > 0, "model.frame_rate", "must be > 0", self.frame_rate)
        _need(not self.text_cache or self.text_cache.endswith(".safetensors"), "model.text_cache",
              "must be a .safetensors file path (or empty: off)", self.text_cache)


@dataclass
class LoraSettings(Section):
    section = "lora"

    rank: int = _f(32, "LoRA rank r")
    alpha: float = _f(64.0, "LoRA alpha (scale alpha/r); written as transformer.<module>.alpha tensors")
    targets: list[str] | None = _f(None, "peft target_modules; default: the backbone's attention projections")
    dropout: float = _f(0.0, "LoRA dropout (keep 0 for bit-identical resume)")
    per_objective: bool = _f(False, "one LoRA per objective, mixed by ω: W = W0 + Σ_k ω_k ΔW_k (a soup of the "
                             "objectives' LoRAs learned in one run; ComfyUI re-mixes the weights when ω moves)")

    def check(self) -> None:
        super().check()
        _need(self.rank >= 1, "lora.rank", "must be >= 1", self.rank)
        _need(self.alpha > 0, "lora.alpha", "must be > 0", self.alpha)
        _need(0 <= self.dropout < 1, "lora.dropout", "must be in [0, 1)", self.dropout)


@dataclass
class PreferenceSettings(Section):
    section = "preference"

    hidden: int = _f(256, "hidden width of the ω → temb MLP")
    block_modulation: bool | None = _f(
        None, "also modulate the joint blocks' image stream with a vector m(ω), the references' SD3 conditioning: "
              "empty (null) = on for backbone sd3, as the references, off for flux_kontext, ltx2 and toy | true | false")
    block_projector: Literal["fourier", "sinusoidal"] = _f(
        "fourier", "m(ω)'s projector: fourier = the references' (sin/cos(π·2^k·ω) → 768 → 4 layers, ReLU) | "
                   "sinusoidal = file-format version 1's MLP (the old behaviour)")
    num_frequencies: int | None = _f(None, "frequencies per ω component of the block projector; empty = the "
                                           "projector's own: fourier 1 (the references' num_freqs), sinusoidal 8")
    block_form: Literal["residual", "affine", "scale_only", "shift_only"] = _f(
        "residual", "how m(ω) enters a block: residual = h += gate_mlp ⊙ m (the references' default) | affine = "
                    "(scale_mlp, shift_mlp) += m | scale_only | shift_only")
    block_fraction: float = _f(1.0, "the first max(1, int(n × fraction)) of the n joint blocks are modulated "
                                    "(the references' mod_block_fraction)")
    fixed: list[float] | None = _f(None, "train at one constant ω (fixed-weight baseline), e.g. [0.25, 0.75]")
    omegas_per_prompt: int = _f(2, "distinct ω sampled per prompt in each step")
    corner_prob: float = _f(0.1, "2 objectives: probability of a corner (one-hot) ω; else Dirichlet(1,1)")
    vertex_prob: float = _f(0.5, ">=3 objectives: probability of a vertex (one-hot) ω (reference: 0.5; was 0.1)")
    edge_prob: float = _f(0.35, ">=3 objectives: probability of an edge ω (two objectives, uniform mix; "
                                "reference: 0.35, was 0.3); the rest is Dirichlet(1,…,1)")
    lr_scale: float = _f(1.0, "learning-rate multiplier for the preference modules")

    def uses_block_modulation(self, backbone: str) -> bool:
        """block_modulation, or when empty the references' choice: on for SD3 (their model), off elsewhere."""
        return self.block_modulation if self.block_modulation is not None else backbone == "sd3"

    @property
    def frequencies(self) -> int:
        """num_frequencies, or the projector's own (fourier: the references' 1; sinusoidal: 8)."""
        return self.num_frequencies or (1 if self.block_projector == "fourier" else 8)

    def check(self, num_objectives: int) -> None:
        super().check()
        _need(self.hidden >= 1, "preference.hidden", "must be >= 1", self.hidden)
        _need(self.num_frequencies is None or self.num_frequencies >= 1, "preference.num_frequencies",
              "must be >= 1 (or empty: the projector's own)", self.num_frequencies)
        _need(0 < self.block_fraction <= 1, "preference.block_fraction", "must be in (0, 1]", self.block_fraction)
        _need(self.omegas_per_prompt >= 1, "preference.omegas_per_prompt", "must be >= 1", self.omegas_per_prompt)
        _need(0 <= self.corner_prob <= 1, "preference.corner_prob", "must be in [0, 1]", self.corner_prob)
        _need(self.vertex_prob >= 0 and self.edge_prob >= 0 and self.vertex_prob + self.edge_prob <= 1,
              "preference.vertex_prob", "vertex_prob + edge_prob must be in [0, 1]", (self.vertex_prob, self.edge_prob))
        if self.fixed is not None:
            _need(len(self.fixed) == num_objectives, "preference.fixed",
                  f"needs one weight per objective ({num_objectives})", self.fixed)
            _need(all(math.isfinite(w) and w >= 0 for w in self.fixed) and sum(self.fixed) > 0, "preference.fixed",
                  "weights must be finite, >= 0 and not all zero", self.fixed)


@dataclass
class ObjectiveSpec(Section):
    section = "objectives"

    name: str = _f("", "objective id (unique), e.g. photorealism")
    reward: str = _f("", "reward id in trainer.rewards' registry, or 'package.module:function'")
    label: str = _f("", "what the slider end shows in ComfyUI (default: name)")
    kwargs: dict = _f(None, "keyword arguments for the reward's constructor", factory=dict)

    def check(self, index: int) -> None:
        super().check()
        _need(bool(self.name), f"objectives[{index}].name", "must be set", self.name)


@dataclass
class DataConfig(Section):
    section = "data"

    prompts: Any = _f(None, "text-to-image: a .txt file (one prompt a line), a shipped set by name (photo_vs_sketch, "
                            "ltx2_motion, ltx2_heldout) or an inline list of prompts")
    edits: str = _f("", "editing: a .jsonl file of {\"image\": path, \"instruction\": text} (image paths relative "
                        "to the .jsonl), a folder of images with same-name .txt instructions, or the shipped "
                        "example by name (edits: one placeholder pair)")


@dataclass
class TrainSettings(Section):
    section = "train"

    algorithm: Literal["nft", "grpo"] = _f(
        "nft", "nft (DiffusionNFT, forward process) | grpo (Flow-GRPO, SDE sampling)")
    steps: int = _f(100, "training steps (each: sample, score, optimise)")
    prompts_per_step: int = _f(2, "prompts (or edit pairs) drawn per step and per process")
    group_size: int = _f(4, "samples per (prompt, ω) group; advantages are normalised inside a group")
    sample_steps: int = _f(10, "denoising steps when sampling")
    train_timesteps: int = _f(2, "NFT: timesteps per sample for the loss; GRPO: trajectory steps trained; 0 = what "
                                 "the references train: int(sample_steps × timestep_fraction) (GRPO: all steps)")
    minibatch: int = _f(4, "samples per forward/backward (one per training timestep)")
    optimizer_step: Literal["rollout", "minibatch"] = _f(
        "rollout", "rollout = one AdamW step per pass over the step's samples, gradients accumulated over its "
                   "minibatches and timesteps (the references) | minibatch = one step per minibatch (the old "
                   "behaviour: steps × samples/minibatch updates)")
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
    kl_per_objective: list[float] | None = _f(
        None, "one KL weight per objective, in objective order: a row's KL weight is Σ_k ω_k·kl_k (a stronger "
              "pull toward the base where a reward can be won by destroying the image); empty = train.kl for every ω")
    ema_schedule: Literal["ramp", "constant"] = _f(
        "ramp", "NFT old-policy decay after step n: ramp = min(ema_ramp·n, ema_max) (the references: nearly "
                "on-policy early) | constant = ema_decay")
    ema_ramp: float = _f(0.001, "NFT, ema_schedule ramp: decay grows by this per step")
    ema_max: float = _f(0.5, "NFT, ema_schedule ramp: the largest decay")
    ema_decay: float = _f(0.9, "NFT, ema_schedule constant: old (sampling) policy ← decay·old + (1-decay)·θ")
    ema_count: Literal["optimizer", "step"] = _f(
        "optimizer", "NFT, ema_schedule ramp: n counts optimiser steps taken so far, this step's included (the "
                     "references' global_step) | step = training steps before this one (the old behaviour)")
    export_weights: Literal["ema", "theta"] = _f(
        "ema", "what the file (and each checkpoint's file) holds: ema = an EMA of θ over optimiser steps, decay "
               "min((1+n)/(10+n), export_ema_max) after step n (what the references save) | theta = θ as trained")
    export_ema_max: float = _f(0.9, "export_weights ema: the largest decay of the exported EMA (references: 0.9)")
    policy_loss_scale: Literal["adv_clip", "none"] = _f(
        "adv_clip", "NFT: adv_clip = the policy loss × A_max before the KL term is added (the references) | "
                    "none = unscaled (KL A_max× stronger)")
    adv_eps: float = _f(1e-4, "ε in the group z-score (R − mean) / (std + ε) (references: 1e-4; was 1e-6)")
    timestep_sampling: Literal["schedule", "uniform"] = _f(
        "schedule", "NFT training σ: schedule = the sampler's (shifted) σ, the first timestep_fraction of its "
                    "steps, shuffled per sample (the references) | uniform = σ ~ U(timestep_range)")
    timestep_pool: Literal["all", "leading"] = _f(
        "all", "NFT, timestep_sampling schedule: all = every σ of the sampler's schedule, a random permutation per "
               "sample whose first train_timesteps are trained (the references, smallest σ included) | leading = "
               "only the first int(sample_steps × timestep_fraction) σ (the old behaviour: never the smallest)")
    timestep_fraction: float = _f(0.99, "NFT: int(sample_steps × timestep_fraction) is train_timesteps 0's count "
                                        "(and with timestep_pool leading, the σ it draws from)")
    grpo_eta: float = _f(0.7, "GRPO: SDE noise level a in σ_t = a·sqrt(t/(1-t))")
    grpo_clip: float = _f(1e-4, "GRPO: PPO ratio clip ε")
    timestep_range: list[float] = _f(None, "NFT, timestep_sampling uniform: σ range sampled for the loss",
                                     factory=lambda: [0.0, 1.0])
    seed: int = _f(0, "seed for every random choice (prompts, ω, noise, timesteps)")
    max_nan_steps: int = _f(3, "stop after this many consecutive steps with a non-finite loss")

    def check(self) -> None:
        super().check()
        for name in ("steps", "prompts_per_step", "sample_steps", "minibatch", "inner_epochs"):
            _need(getattr(self, name) >= 1, f"train.{name}", "must be >= 1", getattr(self, name))
        _need(self.train_timesteps >= 0, "train.train_timesteps", "must be >= 1, or 0 (the references' count)",
              self.train_timesteps)
        _need(self.sample_batch >= 0, "train.sample_batch", "must be >= 0 (0 = all at once)", self.sample_batch)
        _need(self.decode_batch >= 0, "train.decode_batch", "must be >= 0 (0 = sample_batch)", self.decode_batch)
        _need(self.algorithm != "grpo" or self.sample_steps >= 2, "train.sample_steps",
              "GRPO needs at least 2 sampling steps (the last one is deterministic)", self.sample_steps)
        _need(self.group_size >= 2, "train.group_size", "must be >= 2 (advantages are normalised inside a group)",
              self.group_size)
        _need(self.lr > 0 and math.isfinite(self.lr), "train.lr", "must be > 0", self.lr)
        _need(self.beta > 0, "train.beta", "must be > 0", self.beta)
        _need(self.adv_clip > 0, "train.adv_clip", "must be > 0", self.adv_clip)
        _need(self.kl >= 0, "train.kl", "must be >= 0", self.kl)
        _need(self.kl_per_objective is None or all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
                                                    for v in self.kl_per_objective),
              "train.kl_per_objective", "must be numbers >= 0, one per objective", self.kl_per_objective)
        _need(0 <= self.ema_decay < 1, "train.ema_decay", "must be in [0, 1)", self.ema_decay)
        _need(self.ema_ramp >= 0 and 0 <= self.ema_max < 1, "train.ema_ramp / ema_max", "need ema_ramp >= 0 and "
              "ema_max in [0, 1)", [self.ema_ramp, self.ema_max])
        _need(self.adv_eps > 0, "train.adv_eps", "must be > 0", self.adv_eps)
        _need(0 < self.timestep_fraction <= 1, "train.timestep_fraction", "must be in (0, 1]", self.timestep_fraction)
        pool = timestep_pool_size(self)
        _need(self.algorithm != "nft" or self.timestep_sampling != "schedule" or trained_timesteps(self) <= pool,
              "train.train_timesteps", f"must be <= the {pool} schedule σ it draws from ("
              + ("sample_steps" if self.timestep_pool == "all" else "sample_steps × timestep_fraction") + ")",
              self.train_timesteps)
        _need(self.algorithm != "grpo" or trained_timesteps(self) <= self.sample_steps - 1, "train.train_timesteps",
              f"GRPO: must be <= the {self.sample_steps - 1} trajectory steps", self.train_timesteps)
        _need(0 <= self.export_ema_max < 1, "train.export_ema_max", "must be in [0, 1)", self.export_ema_max)
        _need(self.grad_clip >= 0, "train.grad_clip", "must be >= 0", self.grad_clip)
        _need(self.grpo_clip > 0, "train.grpo_clip", "must be > 0", self.grpo_clip)
        _need(self.grpo_eta >= 0, "train.grpo_eta", "must be >= 0", self.grpo_eta)
        _need(len(self.timestep_range) == 2 and 0 <= self.timestep_range[0] < self.timestep_range[1] <= 1,
              "train.timestep_range", "must be [lo, hi] with 0 <= lo < hi <= 1", self.timestep_range)
        _need(self.max_nan_steps >= 1, "train.max_nan_steps", "must be >= 1", self.max_nan_steps)


def schedule_timesteps(t: "TrainSettings") -> int:
    """int(sample_steps × timestep_fraction), at least 1: the references' training σ per sample."""
    return max(1, int(t.sample_steps * t.timestep_fraction))


def timestep_pool_size(t: "TrainSettings") -> int:
    """How many of the sampler's σ (from σ = 1 down) NFT's schedule sampling draws from."""
    return t.sample_steps if t.timestep_pool == "all" else schedule_timesteps(t)


def trained_timesteps(t: "TrainSettings") -> int:
    """Training points per sample: train_timesteps, or for 0 the references' count (NFT: int(sample_steps ×
    timestep_fraction); GRPO: every trajectory step)."""
    if t.train_timesteps:
        return t.train_timesteps
    return schedule_timesteps(t) if t.algorithm == "nft" else max(1, t.sample_steps - 1)


@dataclass
class OutputConfig(Section):
    section = "output"

    dir: str = _f("runs/paretoslider", "run folder: logs, checkpoints/, and the exported file")
    name: str = _f("paretoslider.safetensors", "exported file name (inside dir)")
    checkpoint_every: int = _f(50, "write a resumable checkpoint every N steps (0 = none: the run cannot be resumed)")
    keep_checkpoints: int = _f(2, "how many checkpoints to keep")
    log_every: int = _f(1, "log metrics every N steps")
    tensorboard: bool = _f(True, "write TensorBoard event files (logs/) besides metrics.csv")
    progress: bool = _f(True, "show a tqdm progress bar")

    def check(self) -> None:
        super().check()
        _need(self.checkpoint_every >= 0, "output.checkpoint_every", "must be >= 0", self.checkpoint_every)
        _need(self.keep_checkpoints >= 1, "output.keep_checkpoints", "must be >= 1", self.keep_checkpoints)
        _need(self.log_every >= 1, "output.log_every", "must be >= 1", self.log_every)
        _need(self.name.endswith(".safetensors"), "output.name", "must end with .safetensors", self.name)


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

    def check(self) -> None:
        """Every section's checks, then the rules that span sections. Raises one ConfigError naming
        every bad field (one line each); inside `collecting()` it records them instead."""
        if _collector.get() is None:
            with collecting() as problems:
                self.check()
            if problems:
                raise ConfigError.of(problems)
            return
        m, p = self.model, self.preference
        m.check()
        _need(not (m.backbone == "ltx2" and p.block_modulation is True), "preference.block_modulation",
              "is for SD3 and Flux; LTX-2 takes ω through its video timestep embedding only", p.block_modulation)
        self.lora.check()
        self.train.check()
        _need(len(self.objectives) >= 2, "objectives", "a ParetoSlider needs at least 2 objectives",
              [x.name for x in self.objectives])
        seen = set()
        for i, ob in enumerate(self.objectives):
            ob.check(i)
            _need(ob.name not in seen, f"objectives[{i}].name", "must be unique", ob.name)
            seen.add(ob.name)
        p.check(self.num_objectives)
        _need(not (self.lora.per_objective and p.fixed is not None), "lora.per_objective",
              "is for an ω-conditioned run; a fixed-weight run (preference.fixed) trains one LoRA", True)
        kls = self.train.kl_per_objective
        _need(kls is None or len(kls) == self.num_objectives, "train.kl_per_objective",
              f"needs one weight per objective ({self.num_objectives})", kls)
        self.data.check()
        self.output.check()


