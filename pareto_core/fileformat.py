"""The ParetoSlider file: one .safetensors with the LoRA, the preference modules and metadata.

Layout (format versions 1 to 3, see docs/FORMAT.md; a file is written with the oldest version
that holds its embedding config, so files without the version-2 conditioning forms stay readable
by older extensions, and a newer version than this code reads is refused with "update"):
- `transformer.<module>.lora_A.weight` / `.lora_B.weight` / `.alpha`: the LoRA, in the
  diffusers/peft key form that ComfyUI's LoRA loader maps for SD3 and Flux;
- `objective<k>.transformer.<module>...` (format version 3, `lora.per_objective`): objective k's own
  LoRA in the same key form, one per objective; the model at ω is W0 + Σ_k ω_k ΔW_k (plus the
  `transformer.` LoRA, if the file also has one);
- `paretoslider.<submodule>...`: the PreferenceModules state dict;
- `__metadata__["paretoslider"]`: one JSON document (ParetoSliderMetadata).
Never unpickles; the header is checked before any tensor is read.
"""
from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .atomic_file import atomic_path
from .errors import ParetoSliderError
from .preference import EmbeddingConfig, PreferenceModules

FORMAT_VERSION = 3                       # the newest version this code reads and writes
PER_OBJECTIVE_LORA_VERSION = 3           # the first version with per-objective LoRAs
METADATA_KEY = "paretoslider"
PREFERENCE_PREFIX = "paretoslider."
LORA_PREFIX = "transformer."
OBJECTIVE_LORA_PREFIX = "objective"      # objective<k>.transformer.<module>...
MAX_HEADER_BYTES = 100 * 1024 * 1024     # safetensors' own limit
MAX_METADATA_BYTES = 1024 * 1024          # a front of thousands of points fits in far less

# architecture id → what users call it (for messages)
ARCHITECTURES = {
    "sd3": "SD3 / SD3.5 (MMDiT)",
    "flux": "Flux / Flux Kontext",
    "ltx2": "LTX-2",
}


class ParetoSliderFileError(ParetoSliderError):
    """The file cannot be used: not safetensors, truncated, wrong version, inconsistent."""


class ParetoSliderMismatchError(ParetoSliderError):
    """The file is fine but was trained for another model."""


@dataclass
class Objective:
    name: str                 # short id, e.g. "photorealism"
    label: str = ""           # what the slider end shows, e.g. "Photo"
    reward: str = ""          # reward id used in training, e.g. "clip_score"

    def __post_init__(self):
        self.label = self.label or self.name


@dataclass
class TrainingMetadata:
    """How the file was trained: the fields other code reads are typed (a misspelt name is an
    AttributeError, not a silent None); hyperparameters that are only shown go in `settings`."""
    algorithm: str = ""                        # "nft" | "grpo"
    steps: int = 0                             # optimiser steps done when the file was written
    fixed_preference: list[float] | None = None  # the constant ω of a fixed-weight run; None = ω-conditioned
    processes: int = 1                         # data-parallel processes
    backbone: str = ""                         # trainer backbone id, e.g. "sd3"
    # how it was sampled in training, i.e. how to sample it (0 / None: not recorded, older files)
    resolution: int = 0                        # pixels (square)
    sample_steps: int = 0                      # denoising steps of the training rollouts
    guidance: float | None = None              # Flux distilled guidance; None where the model has none
    cfg: float = 1.0                           # classifier-free guidance scale (1.0: CFG-free, as trained)
    final_rewards: dict[str, float] = field(default_factory=dict)   # objective → mean reward, last step
    settings: dict[str, Any] = field(default_factory=dict)          # lr, beta, kl, group size, ...

    def __getitem__(self, key: str) -> Any:
        """`training["steps"]` reads a field or a setting; an unknown key is a KeyError."""
        if key in _TRAINING_FIELDS:
            return getattr(self, key)
        return self.settings[key]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "TrainingMetadata":
        """Reads this layout and format-1 files written before it (one flat dict, rewards under
        "final" as rewards_<name>_mean)."""
        d = dict(d or {})
        settings = dict(d.pop("settings", {}) or {})
        final = d.pop("final_rewards", None)
        if final is None:
            old = d.pop("final", None) or {}
            final = {k[len("rewards_"):-len("_mean")]: v for k, v in old.items()
                     if k.startswith("rewards_") and k.endswith("_mean")}
        known = {k: d.pop(k) for k in list(d) if k in _TRAINING_FIELDS}
        fixed = known.get("fixed_preference")
        return cls(algorithm=str(known.get("algorithm", "")), steps=int(known.get("steps", 0)),
                   fixed_preference=None if fixed is None else [float(v) for v in fixed],
                   processes=int(known.get("processes", 1)), backbone=str(known.get("backbone", "")),
                   resolution=int(known.get("resolution", 0)), sample_steps=int(known.get("sample_steps", 0)),
                   guidance=None if known.get("guidance") is None else float(known["guidance"]),
                   cfg=float(known.get("cfg", 1.0)),
                   final_rewards={str(k): float(v) for k, v in final.items()}, settings={**d, **settings})


_TRAINING_FIELDS = ("algorithm", "steps", "fixed_preference", "processes", "backbone", "resolution",
                    "sample_steps", "guidance", "cfg", "final_rewards")


@dataclass
class ParetoSliderMetadata:
    architecture: str                         # one of ARCHITECTURES
    width: int                                # timestep-embedding width the modules produce
    objectives: list[Objective]
    embedding: EmbeddingConfig
    variant: str = ""                         # e.g. "sd3.5-medium", "flux-kontext-dev"
    lora: dict[str, Any] = field(default_factory=dict)       # rank, alpha, targets
    training: TrainingMetadata = field(default_factory=TrainingMetadata)
    front: dict[str, Any] | None = None       # {"omega": [[..]], "scores": {name: [..]}, ...}
    format_version: int | None = None         # None: the oldest version that holds the embedding config
    # LTX-2: ω enters the video stream's timestep embedding only; a file saying True would also
    # condition the audio stream, which this version does not apply (such files are refused)
    audio_stream: bool = False
    # where the file came from when it was not trained by this trainer, e.g. {"kind": "reference",
    # "checkpoint": "checkpoint-1000", "pretrained_model": "...", "tool": "trainer import-reference"}
    source: dict[str, Any] | None = None

    def __post_init__(self):
        if self.format_version is None:
            self.format_version = self.oldest_version
        if not isinstance(self.training, TrainingMetadata):     # a plain dict from a caller
            self.training = TrainingMetadata.from_dict(self.training)

    @property
    def num_objectives(self) -> int:
        return len(self.objectives)

    @property
    def per_objective_lora(self) -> bool:
        """One LoRA per objective, mixed by ω (the trainer's lora.per_objective)."""
        return bool(self.lora.get("per_objective", False))

    @property
    def oldest_version(self) -> int:
        """The oldest format version that holds this file (older extensions keep reading older files)."""
        return max(self.embedding.format_version, PER_OBJECTIVE_LORA_VERSION if self.per_objective_lora else 1)

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objectives]

    @property
    def imported_from(self) -> str:
        """"the reference code (checkpoint-1000)" for an imported file, "" for a trained one."""
        src = self.source or {}
        if not src:
            return ""
        what = {"reference": "the reference code"}.get(src.get("kind", ""), str(src.get("kind", "another tool")))
        return what + (f" ({src['checkpoint']})" if src.get("checkpoint") else "")

    def to_json(self) -> str:
        d = asdict(self)
        d["embedding"] = self.embedding.to_dict()
        d["format_version"] = self.oldest_version
        if self.source is None:
            d.pop("source")
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, source: str = "file") -> "ParetoSliderMetadata":
        try:
            d = json.loads(text)
            version = int(d.get("format_version", -1))
            if not 1 <= version <= FORMAT_VERSION:
                raise ParetoSliderFileError(
                    f"{source}: ParetoSlider format version {version} is not supported by this version "
                    f"of ComfyUI-ParetoSlider (it reads versions 1 to {FORMAT_VERSION}); update the extension")
            objectives = [Objective(**o) for o in d["objectives"]]
            meta = cls(architecture=d["architecture"], width=int(d["width"]), objectives=objectives,
                       embedding=EmbeddingConfig.from_dict(d["embedding"]), variant=d.get("variant", ""),
                       lora=d.get("lora", {}), training=TrainingMetadata.from_dict(d.get("training")),
                       front=d.get("front"), audio_stream=bool(d.get("audio_stream", False)),
                       source=d.get("source"), format_version=version)
            if meta.oldest_version > version:
                raise ValueError(f"it uses format version {meta.oldest_version} fields but the file says "
                                 f"version {version}")
        except ParetoSliderFileError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise ParetoSliderFileError(f"{source}: the ParetoSlider metadata is malformed ({err})") from None
        meta.check(source)
        return meta

    def check(self, source: str = "file") -> None:
        if self.architecture not in ARCHITECTURES:
            raise ParetoSliderFileError(f"{source}: unknown architecture {self.architecture!r}; "
                                        f"expected one of {sorted(ARCHITECTURES)}")
        if self.num_objectives < 2:
            raise ParetoSliderFileError(f"{source}: a ParetoSlider needs at least 2 objectives, "
                                        f"found {self.num_objectives}")
        if len({o.name for o in self.objectives}) != self.num_objectives:
            raise ParetoSliderFileError(f"{source}: objective names must be unique")
        if self.audio_stream and self.architecture != "ltx2":
            raise ParetoSliderFileError(f"{source}: audio_stream is an LTX-2 field; this file is for "
                                        f"{ARCHITECTURES[self.architecture]}")
        if self.embedding.num_objectives != self.num_objectives or self.embedding.width != self.width:
            raise ParetoSliderFileError(
                f"{source}: embedding config ({self.embedding.num_objectives} objectives, width "
                f"{self.embedding.width}) disagrees with the file ({self.num_objectives}, {self.width})")


@dataclass
class ParetoSliderFile:
    metadata: ParetoSliderMetadata
    lora: dict[str, torch.Tensor]             # transformer.* keys
    preference_state: dict[str, torch.Tensor]  # PreferenceModules state dict (no prefix)
    # lora.per_objective files: objective k's LoRA (transformer.* keys), one per objective; else empty
    objective_loras: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def preference_modules(self, dtype: torch.dtype = torch.float32,
                           device: torch.device | str = "cpu") -> PreferenceModules:
        modules = PreferenceModules(self.metadata.embedding)
        modules.load_state_dict(self.preference_state, strict=True)
        return modules.to(device=device, dtype=dtype).eval().requires_grad_(False)

    def check_compatible(self, architecture: str, width: int, model_name: str = "") -> None:
        """Raise ParetoSliderMismatchError if this file was trained for another model."""
        m = self.metadata
        if m.architecture != architecture or m.width != width:
            got = ARCHITECTURES.get(architecture, architecture) + (f" {model_name}" if model_name else "")
            raise ParetoSliderMismatchError(
                f"this ParetoSlider file was trained for {ARCHITECTURES[m.architecture]} "
                f"(width {m.width}) but the model is {got} (width {width}); load a ParetoSlider "
                f"file trained for this model")
        if m.audio_stream:
            raise ParetoSliderMismatchError(
                "this ParetoSlider file conditions LTX-2's audio stream too (audio_stream: true); this version "
                "of ComfyUI-ParetoSlider conditions the video stream only: update the extension")


def save_paretoslider(path: str | os.PathLike, metadata: ParetoSliderMetadata,
                      lora: dict[str, torch.Tensor], preference: PreferenceModules | dict,
                      objective_loras: list[dict[str, torch.Tensor]] | None = None) -> Path:
    """Write atomically (temp file in the same folder, then rename). `objective_loras`: one LoRA per
    objective, for a file whose metadata says lora.per_objective."""
    metadata.check(str(path))
    state = preference.state_dict() if isinstance(preference, torch.nn.Module) else preference
    _check_preference_state(metadata, state, str(path))
    objective_loras = list(objective_loras or [])
    _check_objective_loras(metadata, objective_loras, str(path))
    for part in [lora, *objective_loras]:
        bad = [k for k in part if not k.startswith(LORA_PREFIX)]
        if bad:
            raise ParetoSliderFileError(f"LoRA keys must start with {LORA_PREFIX!r}; got e.g. {bad[0]!r}")
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in lora.items()}
    for k, part in enumerate(objective_loras):
        tensors.update({f"{OBJECTIVE_LORA_PREFIX}{k}.{key}": v.detach().to("cpu").contiguous()
                        for key, v in part.items()})
    tensors.update({PREFERENCE_PREFIX + k: v.detach().to("cpu", torch.float32).contiguous()
                    for k, v in state.items()})
    meta_json = metadata.to_json()
    if len(meta_json.encode()) > MAX_METADATA_BYTES:
        raise ParetoSliderFileError(f"metadata is {len(meta_json)} bytes, over the {MAX_METADATA_BYTES} limit; "
                                    "store fewer front points")
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={METADATA_KEY: meta_json, "format": "pt"})
    return path


def read_header(path: str | os.PathLike) -> dict:
    """Parse and sanity-check the safetensors header without reading tensors."""
    path = Path(path)
    if not path.is_file():
        raise ParetoSliderFileError(f"{path}: no such file; put ParetoSlider files in "
                                    "ComfyUI/models/paretoslider/")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ParetoSliderFileError(f"{path.name}: file is empty or truncated ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        # a zip (torch.save) or a raw pickle (b"\x80" + protocol). Not decided on the first byte
        # alone: a safetensors header of length 0x..80 starts with b"\x80" too, and a JSON "{" follows it
        first_json = f.read(1) if 8 + n <= size else b""
        if first_json != b"{" and (head[:2] == b"PK" or (head[:1] == b"\x80" and 2 <= head[1] <= 5)):
            raise ParetoSliderFileError(f"{path.name}: this is a pickle/.ckpt file, not safetensors; "
                                        "ParetoSlider never unpickles files, export it as .safetensors")
        f.seek(8)
        if n > MAX_HEADER_BYTES:
            raise ParetoSliderFileError(f"{path.name}: not a safetensors file (header length {n} is "
                                        "impossible); ParetoSlider only reads .safetensors")
        if 8 + n > size:
            raise ParetoSliderFileError(f"{path.name}: file is truncated (header needs {8 + n} bytes, "
                                        f"file has {size}); download or export it again")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ParetoSliderFileError(f"{path.name}: not a safetensors file (header is not JSON); "
                                    "ParetoSlider only reads .safetensors") from None
    if not isinstance(header, dict):
        raise ParetoSliderFileError(f"{path.name}: not a safetensors file (header is not a JSON object)")
    meta = header.get("__metadata__") or {}
    meta_bytes = sum(len(str(k)) + len(str(v)) for k, v in meta.items())
    if meta_bytes > MAX_METADATA_BYTES:
        raise ParetoSliderFileError(f"{path.name}: metadata is {meta_bytes} bytes, over the "
                                    f"{MAX_METADATA_BYTES}-byte limit; this is not a file the trainer writes")
    end = 0
    for k, info in header.items():
        if k == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise ParetoSliderFileError(f"{path.name}: corrupt safetensors header at tensor {k!r}") from None
    if 8 + n + end > size:
        raise ParetoSliderFileError(f"{path.name}: file is truncated (tensors need {8 + n + end} bytes, "
                                    f"file has {size}); download or export it again")
    return header


def read_metadata(path: str | os.PathLike) -> ParetoSliderMetadata:
    """Only the metadata (cheap): for listing files and labelling widgets."""
    header = read_header(path)
    text = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if text is None:
        raise ParetoSliderFileError(f"{Path(path).name}: a safetensors file but not a ParetoSlider file "
                                    "(no 'paretoslider' metadata); a plain LoRA goes in a LoRA loader")
    return ParetoSliderMetadata.from_json(text, Path(path).name)


def load_paretoslider(path: str | os.PathLike) -> ParetoSliderFile:
    metadata = read_metadata(path)
    name = Path(path).name
    lora, pref = {}, {}
    per_objective: dict[int, dict[str, torch.Tensor]] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():
                if key.startswith(PREFERENCE_PREFIX):
                    pref[key[len(PREFERENCE_PREFIX):]] = f.get_tensor(key)
                elif key.startswith(LORA_PREFIX):
                    lora[key] = f.get_tensor(key)
                elif (k := _objective_index(key)) is not None:
                    per_objective.setdefault(k, {})[key.split(".", 1)[1]] = f.get_tensor(key)
                else:
                    raise ParetoSliderFileError(f"{name}: unexpected tensor {key!r}")
    except ParetoSliderFileError:
        raise
    except Exception as err:  # safetensors raises its own error types for corrupt data
        raise ParetoSliderFileError(f"{name}: corrupt safetensors data ({err})") from None
    _check_preference_state(metadata, pref, name)
    if sorted(per_objective) != list(range(len(per_objective))):
        raise ParetoSliderFileError(f"{name}: per-objective LoRAs {sorted(per_objective)} are not numbered 0..n-1")
    objective_loras = [per_objective[k] for k in range(len(per_objective))]
    _check_objective_loras(metadata, objective_loras, name)
    every = list(lora.items()) + list(pref.items()) + [kv for part in objective_loras for kv in part.items()]
    for k, v in every:
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ParetoSliderFileError(f"{name}: tensor {k!r} contains NaN or infinity; the training "
                                        "run that wrote it diverged")
    return ParetoSliderFile(metadata, lora, pref, objective_loras)


def _objective_index(key: str) -> int | None:
    """k of an `objective<k>.transformer.` key, else None."""
    head, _, rest = key.partition(".")
    digits = head[len(OBJECTIVE_LORA_PREFIX):]
    if head.startswith(OBJECTIVE_LORA_PREFIX) and digits.isdigit() and rest.startswith(LORA_PREFIX):
        return int(digits)
    return None


def _check_objective_loras(metadata: ParetoSliderMetadata, loras: list, source: str) -> None:
    """A per-objective file has exactly one non-empty LoRA per objective; any other file has none."""
    if not metadata.per_objective_lora:
        if loras:
            raise ParetoSliderFileError(f"{source}: per-objective LoRA tensors in a file whose metadata does "
                                        "not say lora.per_objective")
        return
    if len(loras) != metadata.num_objectives or not all(loras):
        raise ParetoSliderFileError(f"{source}: lora.per_objective needs one LoRA per objective "
                                    f"({metadata.num_objectives}), found {sum(1 for p in loras if p)}")


def _check_preference_state(metadata: ParetoSliderMetadata, state: dict, source: str) -> None:
    expected = PreferenceModules(metadata.embedding).state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise ParetoSliderFileError(f"{source}: preference tensors do not match the metadata "
                                    f"(missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ParetoSliderFileError(f"{source}: preference tensor {k!r} has shape {tuple(state[k].shape)}, "
                                        f"expected {tuple(v.shape)} for {metadata.num_objectives} objectives "
                                        f"and width {metadata.width}")
