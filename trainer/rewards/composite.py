"""A weighted sum of registry rewards: score = offset + Σ weight_i · reward_i(images, prompts, sources).

    {"id": "composite", "offset": 0.5, "terms": [
        {"weight": 1.0, "reward": {"id": "vlm_judge", "base_url": ..., "model": ...}},
        {"weight": 0.5, "reward": {"id": "lpips", "path": ...}},
        {"weight": 0.5, "reward": "ssim"}]}

A term is {"weight": w, "reward": spec} (spec as for build_reward: an id or {"id": ..., **options}),
or the shorthand {"id": ..., "weight": w, **options}. Every term is a full reward, checked as
usual; an unnamed term is named "<composite name>/<id>" so an error says which part failed. The
composite needs sources when any term does.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .registry import Reward, RewardError, build_reward, register_reward


@register_reward
class CompositeReward(Reward):
    """offset + Σ weight · reward over named registry rewards (e.g. preservation = judge + LPIPS + SSIM)."""

    id = "composite"

    def __init__(self, terms: list, offset: float = 0.0, name: str | None = None):
        super().__init__(name)
        n = self.name
        if not isinstance(terms, (list, tuple)) or not terms:
            raise RewardError(f"reward {n!r}: terms must be a non-empty list of {{weight: w, reward: spec}}, "
                              f"got {terms!r}")
        self.terms: list[tuple[float, Reward]] = []
        for i, term in enumerate(terms):
            weight, spec = self._term(term, i)
            if isinstance(spec, str):
                spec = {"id": spec}
            if isinstance(spec, dict):
                spec = dict(spec)
                spec.setdefault("name", f"{n}/{spec.get('id', i)}")
            self.terms.append((weight, build_reward(spec)))
        names = [r.name for _, r in self.terms]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise RewardError(f"reward {n!r}: two terms share the name(s) {dup}; give them distinct 'name' options")
        try:
            self.offset = float(offset)
        except (TypeError, ValueError):
            raise RewardError(f"reward {n!r}: offset must be a number, got {offset!r}") from None
        if not math.isfinite(self.offset):
            raise RewardError(f"reward {n!r}: offset must be finite, got {offset!r}")
        self.needs_source = any(r.needs_source for _, r in self.terms)

    def _term(self, term: Any, i: int) -> tuple[float, Any]:
        where = f"reward {self.name!r}: terms[{i}]"
        if isinstance(term, str):
            return 1.0, term
        if not isinstance(term, dict):
            raise RewardError(f"{where} must be {{weight: w, reward: spec}}, got {term!r}")
        term = dict(term)
        raw = term.pop("weight", 1.0)
        if "reward" in term:
            spec = term.pop("reward")
            if term:
                raise RewardError(f"{where} has unknown key(s) {sorted(term)}; a term is {{weight, reward}} "
                                  "(the reward's options go inside 'reward')")
        elif "id" in term:
            spec = term
        else:
            raise RewardError(f"{where} needs 'reward' (a reward spec) or an 'id', got {term!r}")
        try:
            weight = float(raw)
        except (TypeError, ValueError):
            raise RewardError(f"{where}: weight must be a number, got {raw!r}") from None
        if not math.isfinite(weight):
            raise RewardError(f"{where}: weight must be finite, got {raw!r}")
        return weight, spec

    def check_ready(self) -> None:
        for _, r in self.terms:
            r.check_ready()

    def to(self, device):
        for _, r in self.terms:
            r.to(device)
        return self

    def score(self, images, prompts, sources):
        total = torch.full((images.shape[0],), self.offset, dtype=torch.float32, device=images.device)
        for weight, reward in self.terms:
            if weight == 0:
                continue
            total = total + weight * reward(images, prompts, sources).to(total)
        return total
