"""Resumable checkpoints: checkpoints/step-<N>/ with everything a bit-identical resume needs.

- state.pt: trainable θ, the old (sampling) policy, the optimiser and the fp16 GradScaler;
- rng-<rank>.pt: every process's generators (each samples its own prompts, ω and noise);
- progress.json: step, NaN streak, process count and the resolved config;
- the ParetoSlider file as of this step, usable in ComfyUI while training goes on.
Written into a hidden temp folder and renamed: a crash never leaves a half checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import MissingPathError, UserError

if TYPE_CHECKING:
    from .train import Trainer


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    found = sorted(p for p in checkpoint_dir(out_dir).glob("step-*") if (p / "state.pt").is_file())
    return found[-1] if found else None


def save_checkpoint(tr: "Trainer") -> Path:
    tr.check_in_sync()
    root = checkpoint_dir(tr.out_dir)
    final = root / f"step-{tr.step_index:07d}"
    tmp = root / f".tmp-step-{tr.step_index:07d}"
    acc = tr.acc
    if acc.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    rng = {"generator": tr.generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state(tr.device)
    torch.save(rng, tmp / f"rng-{acc.process_index}.pt")
    if acc.is_main_process:
        torch.save({"current": tr.policy.current_state(), "old": tr.policy.old_state(),
                    "optimizer": tr.optimizer.state_dict(), "scaler": tr.scaler.state_dict()}, tmp / "state.pt")
        tr.export(tmp / tr.cfg.output.name)
        (tmp / "progress.json").write_text(json.dumps(
            {"step": tr.step_index, "nan_streak": tr.nan_streak, "world": acc.num_processes,
             "config": tr.cfg.to_dict()}, indent=1))
    acc.wait_for_everyone()
    if acc.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-tr.cfg.output.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()
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


def load_checkpoint(tr: "Trainer", path: str | Path) -> int:
    """Restore `tr` from a checkpoint; returns the step it was written at."""
    path = resolve_checkpoint(tr.out_dir, path)
    progress = json.loads((path / "progress.json").read_text())
    if progress["world"] != tr.acc.num_processes:
        raise UserError(f"--resume: the checkpoint was written by {progress['world']} processes, this run "
                        f"has {tr.acc.num_processes}; resume with the same number of processes")
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    tr.policy.load_current_state(state["current"])
    tr.policy.load_old_state(state["old"])
    tr.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        tr.scaler.load_state_dict(state["scaler"])
    rng = torch.load(path / f"rng-{tr.acc.process_index}.pt", map_location="cpu", weights_only=True)
    tr.generator.set_state(rng["generator"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"], tr.device)
    tr.step_index = int(progress["step"])
    tr.nan_streak = int(progress["nan_streak"])
    return tr.step_index
