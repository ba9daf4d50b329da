"""Resumable checkpoints on disk: checkpoints/step-<N>/, written atomically, read back as the dict the
run gave (`Trainer.state_dict()` / `load_state_dict()`). This module only does the I/O:

- state.pt: `state["shared"]`, the same on every process (trainable θ, the old policy, the
  optimiser and the fp16 GradScaler), written once;
- rng-<rank>.pt: `state["rng"]`, each process's generators (each samples its own prompts, ω, noise);
- progress.json: step, NaN streak, process count and the resolved config;
- whatever `write_file(folder)` writes (the run: its ParetoSlider file as of this step, usable in
  ComfyUI while training goes on).
Written into a hidden temp folder and renamed: a crash never leaves a half checkpoint, and a write
that fails (a full disk) removes its temp folder and raises `OutputWriteError`, one line naming the
step, the folder and the last complete checkpoint. `remove_stray_temp` clears what a killed run left.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Protocol

import torch

from pareto_core.atomic_file import as_os_error, is_disk_full, stray_temp_files

from ..errors import MissingPathError, UserError, log


class OutputWriteError(UserError):
    """A checkpoint or the file could not be written (disk full, permissions): the run's data so far is kept."""


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


def write_failed(err: BaseException, what: str, folder: Path, out_dir: str | Path) -> OutputWriteError:
    """The one-line message for a write that failed, naming the last complete checkpoint to resume from."""
    last = latest_checkpoint(out_dir)
    resume = (f"the last complete checkpoint is {last.name}; free space and run again with --resume" if last else
              "there is no complete checkpoint to resume from; free space and run again")
    if is_disk_full(err):
        return OutputWriteError(f"no space left on {folder} while writing {what}; {resume}")
    os_err = as_os_error(err)
    return OutputWriteError(f"could not write {what} in {folder} ({os_err.strerror or os_err}); "
                            + resume.replace("free space", "fix that"))


def _torch_save(obj: Any, path: Path) -> None:
    with open(path, "wb") as f:          # through a Python file: a full disk is an OSError (ENOSPC), not
        torch.save(obj, f)               # torch's "unexpected pos" from its own writer


def save_checkpoint(out_dir: str | Path, state: dict[str, Any], procs: Processes, *, keep: int,
                    config: dict | None = None, write_file: Callable[[Path], object] | None = None) -> Path:
    """Write `state` ({"step", "nan_streak", "shared", "rng"}) as checkpoints/step-<step>/ and keep the
    newest `keep` checkpoints. Every process calls it (each writes its own RNG file)."""
    root = checkpoint_dir(out_dir)
    step = int(state["step"])
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}"
    try:
        if procs.is_main_process:
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        procs.wait_for_everyone()
        _torch_save(state["rng"], tmp / f"rng-{procs.process_index}.pt")
        if procs.is_main_process:
            _torch_save(state["shared"], tmp / "state.pt")
            if write_file is not None:
                write_file(tmp)
            (tmp / "progress.json").write_text(json.dumps(
                {"step": step, "nan_streak": int(state["nan_streak"]), "world": procs.num_processes,
                 "config": config}, indent=1))
    except Exception as err:
        if as_os_error(err) is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_failed(err, f"checkpoint step {step}", root, out_dir) from err
    procs.wait_for_everyone()
    if procs.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    procs.wait_for_everyone()
    return final


def remove_stray_temp(out_dir: str | Path) -> list[Path]:
    """Delete the temp files and folders a killed run left (the caller holds the folder's lock)."""
    found = stray_temp_files(out_dir) + sorted(p for p in checkpoint_dir(out_dir).glob(".tmp-step-*"))
    for p in found:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    if found:
        log.warning(f"removed {len(found)} temp file(s) a stopped run left in {out_dir}: "
                    + ", ".join(p.name for p in found[:5]))
    return found


def read_progress(path: Path) -> dict[str, Any]:
    return json.loads((path / "progress.json").read_text())


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
    progress = read_progress(path)
    if progress["world"] != procs.num_processes:
        raise UserError(f"--resume: the checkpoint was written by {progress['world']} processes, this run "
                        f"has {procs.num_processes}; resume with the same number of processes")
    return {"step": int(progress["step"]), "nan_streak": int(progress["nan_streak"]),
            "shared": torch.load(path / "state.pt", map_location="cpu", weights_only=True),
            "rng": torch.load(path / f"rng-{procs.process_index}.pt", map_location="cpu", weights_only=True)}
