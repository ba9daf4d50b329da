"""Evaluation machinery of the toy benchmark: fixed-noise sampling of policies built from
ParetoSlider files, rewarded soups and Diffusion Blend — on the trainer's own sampler and merge.

A *policy* here is the base transformer plus a weighted sum of trained pieces:
    W = W_base + sum_i c_i * dW_i           (LoRA deltas, dW = alpha/rank * B @ A)
    temb += sum_i c_i * m_i(omega_i)        (preference modules, omega_i per row or fixed)
- a ParetoSlider file at ω:   one piece, c = 1, omega = ω;
- a fixed-weight run:         one piece, c = 1, omega = the ω it was trained at;
- rewarded soups at ω:        two pieces (the end runs), c = ω (weights interpolated, merged);
- Diffusion Blend at ω:       two policies, velocities blended per step: v = ω0 v_A + ω1 v_B;
- MSDDA at ω:                 two policies, their SDE reverse steps combined in closed form per step
                              (trainer.sampling.msdda_sample; `sample(..., combine="msdda")`).
The combination math is the product's own, pareto_core.combine, which the ComfyUI nodes use too
(nodes/multi_lora.py, nodes/msdda_sampler.py): soups' weights are `sum_deltas` (merged into the
toy transformer by trainer.adapters.merge), a blend is `weighted_sum` of the policies' velocities
(trainer.sampling.blend), MSDDA's step is `msdda_step` (trainer.sampling.msdda_sample). ω is fed
through the product's own hook (trainer.adapters.inject.preference_hooks), sampling is trainer.sampling's
`euler_sample`. No combination is implemented here.

    v = [(1.0, bb, [(1 - w, end0), (w, end1)])]                        # soups at w
    v = [(1 - w, bb, [(1.0, end0)]), (w, bb1, [(1.0, end1)])]           # blend: one backbone per policy
    x0 = sample(v, eval_set, omega, bb.sigmas(10))
    x0 = sample(v, eval_set, omega, bb.sigmas(10), combine="msdda")    # MSDDA over the blend's terms
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pareto_core import PreferenceModules, load_paretoslider
from pareto_core.combine import sum_deltas
from trainer.backbones.base import Conditioning
from trainer.adapters.inject import preference_hooks
from trainer.adapters.merge import lora_deltas, merged_deltas
from trainer.sampling import VelocityFn, blend, euler_sample, msdda_sample


@dataclass
class Piece:
    """What one trained file contributes: LoRA deltas by module name, its preference modules,
    and the ω it was trained at if it is a fixed-weight run (None = ω-conditioned)."""
    deltas: dict[str, torch.Tensor]
    modules: PreferenceModules | None
    fixed_preference: torch.Tensor | None = None
    path: str = ""
    objective_deltas: list[dict[str, torch.Tensor]] = field(default_factory=list)   # lora.per_objective files

    def weighted_deltas(self, c: float, omega: torch.Tensor) -> list[tuple[float, dict[str, torch.Tensor]]]:
        """This piece's LoRA deltas at ω with weight c: its own, and objective k's × ω_k (one ω per call)."""
        if self.objective_deltas and omega.ndim != 1:
            raise ValueError("per-objective LoRAs are merged for one ω at a time")
        return [(c, self.deltas)] + [(c * float(omega[k]), d) for k, d in enumerate(self.objective_deltas)]


Parts = Sequence[tuple[float, Piece]]          # a policy: (c_i, piece_i)


def load_piece(path: str | Path, fixed_preference: Sequence[float] | None = None) -> Piece:
    """A file as a piece; a fixed-weight run's ω comes from its metadata (training.fixed_preference)."""
    f = load_paretoslider(path)
    if fixed_preference is None:
        fixed_preference = f.metadata.training.fixed_preference
    return Piece(lora_deltas(f.lora), f.preference_modules(),
                 None if fixed_preference is None else torch.tensor(fixed_preference, dtype=torch.float32),
                 str(path), [lora_deltas(part) for part in f.objective_loras])


class _SumModules(nn.Module):
    """Looks like PreferenceModules to preference_hooks; returns sum_i c_i m_i(ω_i)."""

    def __init__(self, parts: Parts):
        super().__init__()
        self.parts = [(c, p) for c, p in parts if p.modules is not None]
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)   # dtype probe for the hook
        bm = [p.modules.block_modulation for _, p in self.parts]
        self.block_modulation = bm[0] if any(m is not None for m in bm) else None
        # where the hooks put m (block form, fraction): the first part's, as the parts come from one trainer
        self.config = next((p.modules.config for _, p in self.parts if p.modules.block_modulation is not None),
                           self.parts[0][1].modules.config if self.parts else None)
        self.needs_pooled = any(p.modules.needs_pooled for _, p in self.parts)

    def _omega(self, piece: Piece, omega: torch.Tensor) -> torch.Tensor:
        if piece.fixed_preference is None:
            return omega
        return piece.fixed_preference.to(omega).expand(omega.shape[0], -1)

    def temb_delta(self, omega):
        return sum(c * p.modules.temb_delta(self._omega(p, omega)) for c, p in self.parts)

    def block_vector(self, omega, pooled=None):
        vecs = [c * p.modules.block_vector(self._omega(p, omega), pooled) for c, p in self.parts
                if p.modules.block_modulation is not None]
        return sum(vecs) if vecs else None


@dataclass
class EvalSet:
    """Fixed prompts and fixed sampling noise shared by every method."""
    prompts: list[str]
    labels: torch.Tensor
    noise: torch.Tensor
    cond: Conditioning = field(repr=False, default=None)
    step_seed: int = 0          # the per-step noise of stochastic samplers (MSDDA), drawn afresh per call


MSDDA_ETA = 0.7                 # the SDE noise level MSDDA's Gaussian steps use (Flow-GRPO's default a)


def make_eval_set(backbone, per_prompt: int = 8, seed: int = 1234) -> EvalSet:
    from trainer.backbones.toy import PROMPTS
    prompts = [p for p in PROMPTS for _ in range(per_prompt)]
    labels = torch.arange(len(PROMPTS)).repeat_interleave(per_prompt)
    g = torch.Generator().manual_seed(seed)
    noise = backbone.noise(len(prompts), generator=g)
    return EvalSet(prompts, labels, noise, backbone.encode(prompts), step_seed=seed + 1)


@contextmanager
def policy_velocity(backbone, parts: Parts, cond: Conditioning, omega: torch.Tensor) -> Iterator[VelocityFn]:
    """Inside the block, `backbone` is the policy W_base + Σ c_i ΔW_i with temb + Σ c_i m_i(ω_i)
    (no parts: the base model, ω off); yields its velocity function v(x, σ)."""
    mods = _SumModules(parts) if parts else None
    tr = backbone.transformer
    deltas = [cd for c, p in parts for cd in p.weighted_deltas(c, omega)]
    with merged_deltas(tr, sum_deltas(deltas)), \
            preference_hooks(tr, backbone, mods, omega if mods is not None else None):
        yield lambda x, sigma: backbone.velocity(x, sigma, cond)


Terms = Sequence[tuple[float, object, Parts]]   # (blend weight, backbone, policy parts)


@torch.no_grad()
def sample(terms: Terms, eval_set: EvalSet, omega: torch.Tensor, sigmas: torch.Tensor,
           combine: str = "blend") -> torch.Tensor:
    """x0 from the eval set's fixed noise. combine = "blend": Euler steps of v = Σ_j w_j v_j over the
    terms' policies (one term: that policy; several: a Diffusion Blend, each policy on its own
    backbone); "msdda": the policies' SDE steps combined by MSDDA, with the eval set's fixed step
    noise. Terms with w = 0 are skipped."""
    if combine not in ("blend", "msdda"):
        raise ValueError(f"combine must be 'blend' or 'msdda', got {combine!r}")
    live = [(w, bb, parts) for w, bb, parts in terms if float(w) != 0.0]
    if len({id(bb) for _, bb, _ in live}) != len(live):
        raise ValueError("a blend needs one backbone per policy (their weights are merged in place)")
    with ExitStack() as stack:
        fns = [(w, stack.enter_context(policy_velocity(bb, parts, eval_set.cond, omega))) for w, bb, parts in live]
        if combine == "msdda":
            g = torch.Generator().manual_seed(eval_set.step_seed)
            return msdda_sample(fns, eval_set.noise, sigmas, MSDDA_ETA, g)
        return euler_sample(blend(fns), eval_set.noise, sigmas)
