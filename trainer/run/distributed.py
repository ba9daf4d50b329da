"""Data-parallel helpers over accelerate's process group (one process per GPU, or gloo on CPU).

Every process samples its own prompts; the parameters stay equal because gradients are
averaged before every update (`average_gradients`) and every process then takes the same
decision to step or skip (`all_true`). `check_in_sync` proves it at checkpoints and export.
"""
from __future__ import annotations

from typing import Sequence

import torch


def average_gradients(acc, params: Sequence[torch.nn.Parameter]) -> None:
    """Mean of every parameter's gradient over the processes (a missing grad counts as zero)."""
    if acc.num_processes == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = acc.reduce(torch.cat([g.reshape(-1) for g in grads]), reduction="mean")   # one collective
    for p, g in zip(params, torch.split(flat, [g.numel() for g in grads])):
        p.grad = g.view_as(p).clone()


def all_true(acc, flag: bool) -> bool:
    """True only if `flag` is true on every process."""
    if acc.num_processes == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=acc.device)
    return bool(acc.reduce(t, reduction="sum").item() > acc.num_processes - 0.5)


def check_in_sync(acc, params: Sequence[torch.nn.Parameter], step: int) -> None:
    """Every process must hold the same θ; a difference is a bug in the gradient averaging."""
    if acc.num_processes == 1:
        return
    flat = torch.cat([p.detach().reshape(-1).double() for p in params])
    sums = acc.gather(torch.stack([flat.sum(), flat.abs().sum()]).to(acc.device).reshape(1, 2)).cpu()
    if not torch.equal(sums.min(0).values, sums.max(0).values):
        raise RuntimeError(f"step {step}: the processes' parameters diverged ({sums.tolist()}); "
                           "this is a bug in the gradient synchronisation")


def close_process_group(wait: bool) -> None:
    """Leave a multi-process run together: without this a process can abort (SIGABRT) when the
    one hosting the rendezvous store exits first. After an error, don't wait for the others."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        try:
            if wait:
                dist.barrier()
        finally:
            dist.destroy_process_group()
