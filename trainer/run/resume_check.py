"""Resume only the run that was checkpointed: the checkpoint's recorded config against this one.

Silently continuing after a change is worse than refusing: a 10x lr is ignored (the optimiser
state keeps the old one) while the file records the new one; a renamed objective makes the file
claim a pair it was not trained on; a new seed makes the run unreproducible. So every change is
refused with one line listing each difference, except the few that cannot alter what is learned:
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import UserError

# fields a resumed run may change (dotted paths; [] is any list index; a trailing * is a prefix)
SAFE_CHANGES = (
    "train.steps",                  # train longer (or stop earlier)
    "train.max_nan_steps",
    "output.*",                     # where and how often it logs, checkpoints and exports
    "objectives[].label",            # what the slider end shows
    "model.gradient_checkpointing",  # memory only: the same maths
    "model.offload_text_encoders",
    "model.text_cache",
)


# fields added after checkpoints recorded their config: a checkpoint without one was trained with this value
FIELDS_ADDED = {
    "preference.block_projector": "sinusoidal",
    "preference.block_form": "residual",
    "preference.block_fraction": 1.0,
    "train.optimizer_step": "minibatch",
    "train.ema_count": "step",
    "train.export_weights": "theta",
    "train.export_ema_max": 0.9,
    "train.timestep_pool": "leading",
    "train.kl_per_objective": None,
    "lora.per_objective": False,
}


class ResumeConfigMismatch(UserError):
    """--resume with a config that changes the run."""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1}, "objectives": [{"name": "a"}]} → {"train.lr": 1, "objectives[0].name": "a"}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        out = {f"{prefix}#": len(value)}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _safe(key: str) -> bool:
    generic = re.sub(r"\[\d+\]", "[]", key)          # objectives[1].label → objectives[].label
    return any(generic.startswith(p[:-1]) if p.endswith("*") else generic == p for p in SAFE_CHANGES)


def run_changes(saved: dict, current: dict) -> list[str]:
    """'key: old → new' for every field that differs and is not a safe change."""
    a, b = flatten(saved), flatten(current)
    a = {**{k: v for k, v in FIELDS_ADDED.items() if k in b}, **a}      # an older checkpoint's implied values
    changes = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, "(absent)"), b.get(key, "(absent)")
        if old != new and not _safe(key):
            changes.append(f"{key.replace('#', ' count')}: {old!r} → {new!r}")
    return changes


def check_resume_config(saved: dict | None, current: dict, checkpoint: str) -> None:
    """Refuse a resume whose config alters the run (one line, every difference named)."""
    if saved is None:
        return              # a checkpoint from before configs were recorded: nothing to compare
    changes = run_changes(saved, current)
    if changes:
        raise ResumeConfigMismatch(
            f"--resume: the config differs from the one checkpoint {checkpoint} was trained with: "
            f"{'; '.join(changes)}. Resuming may change only {', '.join(SAFE_CHANGES)}; put the other values back "
            f"(the checkpoint's config is in {checkpoint}/progress.json) or start a new run in another output.dir")
