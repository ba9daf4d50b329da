"""Resumable checkpoints on disk: checkpoints/step-<N>/, written atomically, read back as the dict the
run gave (`Trainer.state_dict()` / `load_state_dict()`). This module only does the I/O:

- state.pt: `state["shared"]`, the same on every process (trainable θ, the old policy, the
  optimiser and the fp16 GradScaler), written once;
- rng-<rank>.pt: `state["rng"]`, each process's generators (each samples its own prompts, ω, noise);
- progress.json: step, NaN streak, process count and the resolved config;
- whatever `write_file(folder)` writes (the run: its ParetoSlider file as of this step, usable in
  ComfyUI while training goes on).
Written into a hidden temp folder and renamed: a crash never leaves a half checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from ..errors import MissingPathError, UserError


class Processes(Protocol):
    """The processes of a run (accelerate's Accelerator is one)."""
    is_main_process: bool
    process_index: int
    num_processes: int

    def wait_for_everyone(self) -> None: ...


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = sorted(p for p in checkpoint_dir(out_dir).glob("step-*") if (p / "state.pt").is_file())
    return found[-1] if found else None


def save_checkpoint(out_dir: str | Path, state: dict[str, Any], procs: Processes, *, keep: int,
                    config: dict | None = None, write_file: Callable[[Path], object] | None = None) -> Path:
    """Write `state` ({"step", "nan_streak", "shared", "rng"}) as checkpoints/step-<step>/ and keep the
    newest `keep` checkpoints. Every process calls it (each writes its own RNG file)."""
    root = checkpoint_dir(out_dir)
    step = int(state["step"])
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}"
    if procs.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    procs.wait_for_everyone()
    torch.save(state["rng"], tmp / f"rng-{procs.process_index}.pt")
    if procs.is_main_process:
        torch.save(state["shared"], tmp / "state.pt")
        if write_file is not None:
            write_file(tmp)
        (tmp / "progress.json").write_text(json.dumps(
            {"step": step, "nan_streak": int(state["nan_streak"]), "world": procs.num_processes,
             "config": config}, indent=1))
    procs.wait_for_everyone()
    if procs.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    procs.wait_for_everyone()
    return final


def resolve_checkpoint(out_dir: str | Path, path: str | Path) -> Path:
    """A checkpoint folder, or "latest" (also: the run folder itself) for the newest one."""
    path = Path(path)
    if path.name == "latest" or path == Path(out_dir):
        found = latest_checkpoint(out_dir)
        if found is None:
            raise MissingPathError(f"--resume: no checkpoint in {checkpoint_dir(out_dir)}")
        return found
    if not (path / "state.pt").is_file():
        raise MissingPathError(f"--resume: {path} is not a checkpoint folder (no state.pt)")
    return path


def load_checkpoint(out_dir: str | Path, path: str | Path, procs: Processes) -> dict[str, Any]:
    """Read a checkpoint ("latest" or a folder) back into the dict `save_checkpoint` was given, with
    this process's RNG states."""
    path = resolve_checkpoint(out_dir, path)
    progress = json.loads((path / "progress.json").read_text())
    if progress["world"] != procs.num_processes:
        raise UserError(f"--resume: the checkpoint was written by {progress['world']} processes, this run "
                        f"has {procs.num_processes}; resume with the same number of processes")
    return {"step": int(progress["step"]), "nan_streak": int(progress["nan_streak"]),
            "shared": torch.load(path / "state.pt", map_location="cpu", weights_only=True),
            "rng": torch.load(path / f"rng-{procs.process_index}.pt", map_location="cpu", weights_only=True)}
