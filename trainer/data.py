"""Training data: prompts for text-to-image, (source image, instruction) pairs for editing.

- `data.prompts`: a .txt file (one prompt a line; blank lines and lines starting with # are
  skipped) or an inline list;
- `data.edits`: a .jsonl file of {"image": "path", "instruction": "text"} (image paths relative to
  the .jsonl), or a folder of images each with a same-name .txt holding the instruction.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .backbones.base import Sample
from .errors import MissingPathError, UserError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def load_image(path: str | Path) -> torch.Tensor:
    """(3, H, W) float in [0, 1]."""
    from PIL import Image
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def read_prompts(spec) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        return [str(p).strip() for p in spec if str(p).strip()]
    path = Path(str(spec)).expanduser()
    if not path.is_file():
        raise MissingPathError(f"data.prompts: {path} is not a file; give a .txt with one prompt a line "
                                "or an inline list")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def read_edits(spec: str) -> list[Sample]:
    path = Path(spec).expanduser()
    out: list[Sample] = []
    if path.is_file():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                img, text = rec["image"], rec["instruction"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UserError(f"data.edits: {path.name} line {i + 1} is not "
                                 '{"image": ..., "instruction": ...}') from None
            p = Path(img) if Path(img).is_absolute() else path.parent / img
            if not p.is_file():
                raise MissingPathError(f"data.edits: {path.name} line {i + 1}: image {p} not found")
            out.append(Sample(prompt=str(text), source=load_image(p), key=f"{p.name}|{text}"))
    elif path.is_dir():
        for p in sorted(path.iterdir()):
            if p.suffix.lower() in IMAGE_EXTS:
                txt = p.with_suffix(".txt")
                if not txt.is_file():
                    raise MissingPathError(f"data.edits: {p.name} has no instruction file {txt.name}")
                for text in read_prompts(txt):
                    out.append(Sample(prompt=text, source=load_image(p), key=f"{p.name}|{text}"))
    else:
        raise MissingPathError(f"data.edits: {path} is neither a .jsonl file nor a folder")
    return out


def load_samples(data_cfg) -> list[Sample]:
    """Samples from the config's data section (edits when given, else prompts)."""
    if data_cfg.edits:
        samples = read_edits(data_cfg.edits)
        if not samples:
            raise UserError(f"data.edits: no (image, instruction) pairs found in {data_cfg.edits}")
        return samples
    prompts = read_prompts(data_cfg.prompts)
    if not prompts:
        raise UserError("data.prompts: no prompts; give a .txt file (one prompt a line) or a list")
    return [Sample(prompt=p, key=p) for p in prompts]
