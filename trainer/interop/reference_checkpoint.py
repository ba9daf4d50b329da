"""Reading a checkpoint folder written by the reference code (github Shelley-Golan/ParetoSlider, T2I).

Its training script saves `checkpoint-<step>/` with
- `lora/` in one of two layouts:
  - PEFT (today): `adapter_config.json` + `adapter_model.safetensors`, keys
    `base_model.model.<module>.lora_{A,B}.weight` and the preference modules (PEFT's modules to
    save) as `base_model.model.pref_mlp.*` / `base_model.model.pref_blk_projector.*`;
  - legacy: the conditioned diffusers model's own save_pretrained, `config.json` (the conditioning
    fields registered in it) + `diffusion_pytorch_model*.safetensors` with the whole model: base
    weights, peft-injected `<module>.lora_{A,B}.default.weight` and `pref_*`;
- `metadata.json`: objective names, the conditioning settings, the base model's name.
This module only reads and checks (never unpickles: a `.bin` state dict is refused); turning that
into a ParetoSlider file is `reference_import.py`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from ..errors import UserError

PREF_PREFIXES = ("pref_mlp.", "pref_blk_projector.")
_LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<kind>[AB])(?:\.(?P<adapter>[^.]+))?\.weight$")
_ADAPTER = "default"


class ReferenceCheckpointError(UserError):
    """The folder is not a reference checkpoint we can import; the message says why and what to do."""


@dataclass
class ReferenceCheckpoint:
    folder: Path                          # the checkpoint-<step> folder
    layout: str                           # "peft" | "legacy"
    lora: dict[str, dict[str, torch.Tensor]]   # module → {"A": (r, in), "B": (out, r)}
    preference: dict[str, torch.Tensor]   # the reference's keys: pref_mlp.0.weight, pref_blk_projector...
    metadata: dict[str, Any] = field(default_factory=dict)        # metadata.json ({} when absent)
    model_config: dict[str, Any] = field(default_factory=dict)    # legacy lora/config.json
    adapter_config: dict[str, Any] = field(default_factory=dict)  # PEFT adapter_config.json

    @property
    def step(self) -> int:
        m = re.fullmatch(r"checkpoint-(\d+)", self.folder.name)
        return int(m.group(1)) if m else 0

    def setting(self, key: str, default: Any = None) -> Any:
        """A conditioning setting from metadata.json, else the legacy model config."""
        if key in self.metadata:
            return self.metadata[key]
        return self.model_config.get(key, default)


def _not_a_checkpoint(folder: Path, why: str) -> ReferenceCheckpointError:
    return ReferenceCheckpointError(
        f"{folder} is not a checkpoint of the reference ParetoSlider code ({why}); give the "
        "checkpoint-<step> folder its training script wrote (it holds lora/ and metadata.json)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReferenceCheckpointError(f"{path}: cannot read it as JSON ({err}); the checkpoint is damaged")
    if not isinstance(data, dict):
        raise ReferenceCheckpointError(f"{path}: expected a JSON object; the checkpoint is damaged")
    return data


def _tensors(files: list[Path]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    out[key] = f.get_tensor(key)
        except Exception as err:  # safetensors raises its own error types for corrupt data
            raise ReferenceCheckpointError(f"{path}: not a readable safetensors file ({err}); the checkpoint "
                                           "is damaged or incomplete") from None
    return out


def locate(path: str | Path) -> tuple[Path, Path]:
    """(checkpoint folder, its lora/ folder). `path` may be either of them."""
    path = Path(path)
    if not path.exists():
        raise ReferenceCheckpointError(f"{path}: no such folder; give the reference's checkpoint-<step> folder")
    if not path.is_dir():
        raise _not_a_checkpoint(path, "a file, not a folder")
    if (path / "lora").is_dir():
        return path, path / "lora"
    if (path / "adapter_config.json").is_file() or list(path.glob("diffusion_pytorch_model*.safetensors")):
        return path.parent, path
    raise _not_a_checkpoint(path, "no lora/ folder in it")


def read_reference_checkpoint(path: str | Path) -> ReferenceCheckpoint:
    folder, lora_dir = locate(path)
    metadata = _read_json(folder / "metadata.json") if (folder / "metadata.json").is_file() else {}
    if (lora_dir / "adapter_config.json").is_file():
        layout, adapter_config, model_config = "peft", _read_json(lora_dir / "adapter_config.json"), {}
        files = [lora_dir / "adapter_model.safetensors"]
        if not files[0].is_file():
            if (lora_dir / "adapter_model.bin").is_file():
                raise ReferenceCheckpointError(
                    f"{lora_dir}/adapter_model.bin is a pickle; ParetoSlider never unpickles files. Re-save the "
                    "adapter as safetensors (peft's save_pretrained(..., safe_serialization=True)) and import again")
            raise _not_a_checkpoint(lora_dir, "adapter_config.json without adapter_model.safetensors")
    else:
        layout, adapter_config = "legacy", {}
        files = sorted(lora_dir.glob("*.safetensors"))
        if not files:
            if list(lora_dir.glob("*.bin")):
                raise ReferenceCheckpointError(
                    f"{lora_dir} holds only .bin (pickle) weights; ParetoSlider never unpickles files. Re-save "
                    "the model with save_pretrained(..., safe_serialization=True) and import again")
            raise _not_a_checkpoint(lora_dir, "no adapter_config.json and no .safetensors weights in lora/")
        model_config = _read_json(lora_dir / "config.json") if (lora_dir / "config.json").is_file() else {}
    lora, preference, others = _split(_tensors(files), lora_dir)
    if not preference:
        raise _not_a_checkpoint(folder, "no pref_mlp / pref_blk_projector tensors: not a preference-conditioned "
                                        "model. A plain LoRA goes in ComfyUI's LoRA loader")
    if not lora:
        if layout == "legacy" and others:
            raise ReferenceCheckpointError(
                f"{lora_dir} is a full fine-tune of the transformer (its weights, no LoRA tensors): a ParetoSlider "
                "file carries a LoRA, so import-reference supports the reference's LoRA runs (use_lora: true) only")
        raise _not_a_checkpoint(folder, "no LoRA tensors in lora/")
    return ReferenceCheckpoint(folder, layout, lora, preference, metadata, model_config, adapter_config)


def _split(state: dict[str, torch.Tensor], source: Path):
    """The LoRA by module, the preference tensors by the reference's names, and the rest (base
    weights of the legacy layout) by name."""
    lora: dict[str, dict[str, torch.Tensor]] = {}
    pref: dict[str, torch.Tensor] = {}
    others: dict[str, torch.Tensor] = {}
    for raw, tensor in state.items():
        key = raw[len("base_model.model."):] if raw.startswith("base_model.model.") else raw
        if ".original_module." in key:          # PEFT's untouched copy of a module to save
            continue
        saved = re.search(r"\.modules_to_save\.([^.]+)\.", key)
        if saved:
            if saved.group(1) != _ADAPTER:      # the copy of another adapter ("old" / "ref")
                continue
            key = key[:saved.start()] + "." + key[saved.end():]
        if key.startswith(PREF_PREFIXES):
            pref[key] = tensor
            continue
        if ".lora_magnitude_vector" in key or ".lora_embedding_" in key:
            raise ReferenceCheckpointError(
                f"{source}: tensor {raw!r} is a DoRA / embedding-LoRA tensor; import-reference supports plain "
                "LoRA on Linear layers (the reference's default), not this option")
        m = _LORA_KEY.match(key)
        if m:
            if m.group("adapter") not in (None, _ADAPTER):
                continue                        # another adapter (the reference's "old" / "ref" copies)
            lora.setdefault(m.group("module"), {})[m.group("kind")] = tensor
            continue
        if ".lora_" in key:
            raise ReferenceCheckpointError(f"{source}: unexpected LoRA tensor {raw!r} (a LoRA bias or another "
                                           "PEFT option); import-reference supports plain LoRA only")
        others[key] = tensor
    for module, ab in lora.items():
        if set(ab) != {"A", "B"}:
            raise ReferenceCheckpointError(f"{source}: module {module!r} has only lora_{''.join(ab)}; the "
                                           "checkpoint is incomplete")
    return lora, pref, others
