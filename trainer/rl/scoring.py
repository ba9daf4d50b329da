"""The rewards of a run, one per objective in ω order, and scoring a step's samples."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from ..backbones.base import Backbone, Sample
from ..errors import UserError

RewardFn = Callable[[torch.Tensor, list, "torch.Tensor | None"], torch.Tensor]


def objective_rewards(cfg, rewards: Mapping[str, RewardFn] | Sequence[RewardFn] | None
                      ) -> list[tuple[str, RewardFn]]:
    """(objective name, callable) in ω order, from the caller's callables or the reward registry."""
    names = [o.name for o in cfg.objectives]
    if rewards is None:
        from ..rewards import build_reward
        # the objective's name names the reward in its errors, unless its kwargs give one
        return [(o.name, build_reward({"id": o.reward, "name": o.name, **(o.kwargs or {})})) for o in cfg.objectives]
    if isinstance(rewards, Mapping):
        missing = [n for n in names if n not in rewards]
        if missing:
            raise UserError(f"rewards: no callable for objective(s) {missing}; pass one per objective ({names})")
        return [(n, rewards[n]) for n in names]
    rewards = list(rewards)
    if len(rewards) != len(names):
        raise UserError(f"rewards: {len(rewards)} callables for {len(names)} objectives {names}")
    return list(zip(names, rewards))


def check_ready(rewards: Sequence[tuple[str, RewardFn]]) -> None:
    """Before any model loads: each reward that can check itself (a judge server) does, in seconds."""
    for _, fn in rewards:
        ready = getattr(fn, "check_ready", None)
        if callable(ready):
            ready()


@torch.no_grad()
def score(backbone: Backbone, rewards: Sequence[tuple[str, RewardFn]], x0: torch.Tensor,
          samples: Sequence[Sample], chunks: Sequence[slice], dtype: torch.dtype
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode `x0` (in `chunks` of rows) and score it: rewards (B, M) on the CPU, and the images."""
    images = torch.cat([backbone.decode(x0[sl].to(dtype)) for sl in chunks])
    prompts = [s.prompt for s in samples]
    sources = backbone.source_images(samples)
    if sources is not None:
        sources = sources.to(images.device)
    cols = []
    for name, fn in rewards:
        r = torch.as_tensor(fn(images, prompts, sources)).float().reshape(-1).cpu()
        if r.numel() != images.shape[0] or not torch.isfinite(r).all():
            got = "NaN/inf" if r.numel() == images.shape[0] else f"{r.numel()} values"
            raise UserError(f"reward for objective {name!r} returned {got} for {images.shape[0]} images; "
                            "fix the reward")
        cols.append(r)
    return torch.stack(cols, 1), images
