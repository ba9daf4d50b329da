"""Where a path in a config points: one rule for every path field, and the data shipped by name.

The rule (RULE below; stated in every shipped config, in `config-help` and docs/TRAINING.md):
a relative path is read from the folder the command runs in, exactly as a path typed on the
command line (`--set model.path=...`) is, never from the config file's folder; `~` is your home.
A bare name (no folder, no extension) that is not a file or folder there names data shipped with
the trainer: `data.prompts: photo_vs_sketch` is trainer/configs/prompts/photo_vs_sketch.txt. So a
config copied to another folder means the same thing, and the shipped ones work from anywhere.

The config is resolved once, at loading: every path field holds an absolute path afterwards
(`--print-config` shows them), and a message about a path shows what it was resolved to.
Nothing here imports torch.
"""
from __future__ import annotations

import os
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# the toy backbone's pretrained base (a repository file, not in the wheel): `model.path` of a toy
# config may be left empty for it
TOY_BASE = Path(__file__).resolve().parents[2] / "bench" / "toytask" / "base" / "toy_base.safetensors"

RULE = ("relative paths are read from the folder you run the command in, not from the config's folder; "
        "a bare name such as photo_vs_sketch names data shipped in trainer/configs/")

# field → the shipped data a bare name may name: (folder in trainer/configs, file extension)
SHIPPED = {("data", "prompts"): ("prompts", ".txt"), ("data", "edits"): ("edits", ".jsonl")}
# every field that holds a path (reward options that are paths are listed in rewards_catalogue.py)
PATH_FIELDS = (("model", "path"), ("model", "config_path"), ("model", "text_cache"),
               ("data", "prompts"), ("data", "edits"), ("output", "dir"))


def shipped_names(field: tuple[str, str]) -> list[str]:
    """The bare names a field accepts, e.g. ['ltx2_heldout', 'ltx2_motion', 'photo_vs_sketch']."""
    folder, ext = SHIPPED[field]
    return sorted(p.stem for p in (CONFIGS / folder).glob(f"*{ext}"))


def _bare(text: str) -> bool:
    return not any(sep in text for sep in ("/", "\\")) and not Path(text).suffix and not text.startswith("~")


def resolve(value: str, field: tuple[str, str] | None = None, cwd: str | Path | None = None) -> str:
    """The absolute path a config value means (see the module docstring); '' stays ''."""
    if not value:
        return value
    base = Path(cwd) if cwd is not None else Path.cwd()
    p = Path(os.path.expanduser(value))
    if p.is_absolute():
        return str(p)
    local = base / p
    if field in SHIPPED and _bare(value) and not local.exists():
        folder, ext = SHIPPED[field]
        shipped = CONFIGS / folder / f"{value}{ext}"
        if shipped.is_file():
            return str(shipped)
    return os.path.normpath(str(local))


def resolve_config_paths(cfg, cwd: str | Path | None = None) -> None:
    """Make every path field of a TrainerConfig absolute, in place (an inline prompt list stays a list)."""
    for section, key in PATH_FIELDS:
        sec = getattr(cfg, section)
        value = getattr(sec, key)
        if isinstance(value, str):
            setattr(sec, key, resolve(value, (section, key), cwd))


class PathProblem(str):
    """A problem line about a path: the message that lists it also states RULE."""


def shown(written: str, resolved: str) -> str:
    """How a message names a path: the resolved one, and what the config said when that differs."""
    return resolved if written in ("", resolved) else f"{resolved} (written {written!r})"
