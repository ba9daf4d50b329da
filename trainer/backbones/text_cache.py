"""Prompt embeddings computed once and kept on disk, so the text encoders are never resident while training.

    fill(cfg.model, prompts, device, dtype)      # encodes only the prompts the file lacks
    install(backbone, cfg.model, prompts)        # the backbone reads them instead of encoding

`model.text_cache` names a .safetensors file holding, per prompt, `<sha256>.<name>` tensors (SD3:
prompt_embeds, pooled; Flux Kontext: also text_ids) and in its metadata the prompts and what made
them (backbone, model folder, max_sequence_length, dtype). A cache made by another model or setting
is refused with a message. Filling loads the pipeline with its tokenizers and text encoders only
(no transformer, no VAE), encodes in chunks with the backbone's own `encode_text`, writes the file
atomically and frees the encoders before the transformer loads; the training pipeline is then
loaded without text encoders (model.text_cache set → build_backbone passes text_encoders=False).
With T5-XXL that keeps ~9.5 GB of bf16 weights off the GPU for the whole run.
"""
from __future__ import annotations

import gc
import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import UserError

META_KEY = "paretoslider_text_cache"
PIPELINES = {"sd3": "StableDiffusion3Pipeline", "flux_kontext": "FluxKontextPipeline"}


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:32]


def identity(model_cfg, dtype: torch.dtype) -> dict:
    """What the embeddings depend on: a cache made under other values is not reused."""
    folder = _text_folder(model_cfg)
    return {"backbone": model_cfg.backbone, "model": str(Path(folder).expanduser().resolve()),
            "max_sequence_length": int(model_cfg.max_sequence_length), "dtype": str(dtype).replace("torch.", "")}


def _text_folder(model_cfg) -> str:
    # a single-file checkpoint's text encoders live in config_path's diffusers folder
    p = Path(model_cfg.path).expanduser()
    return model_cfg.path if p.is_dir() or not model_cfg.config_path else model_cfg.config_path


def _backbone_class(name: str):
    from . import BACKBONES
    if name not in PIPELINES:
        raise UserError(f"model.text_cache: supported for backbones {sorted(PIPELINES)}, not {name!r}; "
                        "leave model.text_cache empty")
    module, cls = BACKBONES[name]
    return getattr(importlib.import_module(module), cls)


def read(path: str | Path, ident: dict | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """{prompt: {name: tensor}} from the file (empty when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {}
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(META_KEY, "null"))
            if not isinstance(meta, dict):
                raise UserError(f"model.text_cache {path}: not a ParetoSlider text cache; delete it or "
                                "point model.text_cache at a new file")
            if ident is not None and meta.get("identity") != ident:
                raise UserError(f"model.text_cache {path} was made for {meta.get('identity')}, not {ident}; "
                                "delete it or point model.text_cache at a new file")
            out: dict[str, dict[str, torch.Tensor]] = {}
            names = meta.get("names", [])
            for key, prompt in meta["prompts"].items():
                out[prompt] = {n: f.get_tensor(f"{key}.{n}") for n in names}
            return out
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        raise UserError(f"model.text_cache {path}: unreadable ({err}); delete it to rebuild it") from None


def write(path: str | Path, entries: dict[str, dict[str, torch.Tensor]], ident: dict) -> None:
    """Atomically (temp file + rename)."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(next(iter(entries.values())).keys()) if entries else []
    tensors, prompts = {}, {}
    for prompt, t in entries.items():
        key = prompt_key(prompt)
        prompts[key] = prompt
        for n in names:
            tensors[f"{key}.{n}"] = t[n].detach().cpu().contiguous()
    meta = {META_KEY: json.dumps({"identity": ident, "names": names, "prompts": prompts})}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


def fill(model_cfg, prompts: Sequence[str], device: torch.device | str, dtype: torch.dtype,
         chunk: int = 16, pipeline=None) -> int:
    """Encode the prompts `model_cfg.text_cache` lacks with the text encoders alone, then free them.
    Returns how many were encoded. `pipeline`: a ready text-encoder pipeline (tests)."""
    from tqdm.auto import tqdm

    from .sd3 import load_pipeline
    cls = _backbone_class(model_cfg.backbone)
    ident = identity(model_cfg, dtype)
    entries = read(model_cfg.text_cache, ident)
    todo = sorted({p for p in prompts if p not in entries})
    if not todo:
        return 0
    pipe = pipeline
    if pipe is None:
        import diffusers
        pipe = load_pipeline(getattr(diffusers, PIPELINES[model_cfg.backbone]), _text_folder(model_cfg), "", dtype,
                             transformer=None, vae=None)
        pipe.to(device)
    with torch.no_grad():
        for i in tqdm(range(0, len(todo), chunk), desc="text cache", unit="chunk", disable=len(todo) <= chunk):
            part = todo[i:i + chunk]
            for p, t in zip(part, cls.encode_text(pipe, part, device, model_cfg.max_sequence_length)):
                entries[p] = t
    write(model_cfg.text_cache, entries, ident)
    del pipe
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return len(todo)


def install(backbone, model_cfg, prompts: Sequence[str], dtype: torch.dtype) -> int:
    """Give the backbone the cached embeddings of `prompts`; returns how many."""
    if not hasattr(backbone, "add_text_embedding"):
        raise UserError(f"model.text_cache: {type(backbone).__name__} does not take cached embeddings; "
                        "leave model.text_cache empty")
    entries = read(model_cfg.text_cache, identity(model_cfg, dtype))
    missing = [p for p in prompts if p not in entries]
    if missing:
        raise UserError(f"model.text_cache {model_cfg.text_cache} lacks the prompt {missing[0]!r}; "
                        "delete the file to rebuild it")
    for p in set(prompts):
        backbone.add_text_embedding(p, entries[p])
    return len(set(prompts))
