"""The RL algorithms behind one interface: DiffusionNFT (the default) and Flow-GRPO.

The training loop (trainer/run/train.py) does the same for both: roll out, score, normalise the
advantages inside (prompt, ω) groups, then for every minibatch and every training point
backpropagate `update_loss`. An algorithm sees the run only through `Policies` (the backbone, where
it runs, the run's generator, the velocity of θ / the old policy / the reference, the row chunks)
and the `train` settings; the Trainer is one `Policies`. What differs lives here:

| | rollout | training points | loss | old policy after a step |
|---|---|---|---|---|
| NFT  | ODE, old (EMA) policy | σ per sample (the schedule's, shuffled) | late-scalarised NFT × A_max | EMA, min(0.001·n, 0.5) |
| GRPO | SDE, current policy θ | trajectory steps   | late-scalarised PPO | = θ (on-policy) |

(n: the optimiser steps taken so far, `train.ema_count`.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import torch

from .. import sampling
from ..backbones.base import Backbone, Conditioning
from ..config import TrainSettings, timestep_pool_size, trained_timesteps
from . import losses

LossFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


@dataclass
class Rollout:
    """What a step's sampling produced: final latents, and for GRPO the trajectory + log-probs."""
    x0: torch.Tensor
    trajectory: list[torch.Tensor] | None = None
    log_probs: torch.Tensor | None = None          # (B, steps − 1)


@dataclass
class Update:
    """One backward pass: the θ forward to run and the loss of its velocity → (loss, per-objective, kl)."""
    forward: Callable[[], torch.Tensor]
    loss: LossFn


class Policies(Protocol):
    """What an algorithm needs from the run (trainer.run.train.Trainer is one)."""
    backbone: Backbone                 # sigmas, noise, and the raw θ forward of an update
    device: torch.device               # where the transformer runs
    dtype: torch.dtype                 # the model's dtype (inputs are cast to it)
    generator: torch.Generator         # the run's generator: every random draw, for bit-identical resume

    def velocity(self, x: torch.Tensor, sigma: torch.Tensor, cond: Conditioning, omega: torch.Tensor | None,
                 which: Literal["theta", "old", "ref"] = "theta") -> torch.Tensor:
        """v of θ (with grad), the old (EMA) sampling policy, or the reference (base, no ω), in fp32."""

    def sample_chunks(self, n: int) -> list[slice]:
        """Row slices of n samples for one no-grad forward each (train.sample_batch)."""


class Algorithm:
    name = ""

    def __init__(self, policies: Policies, settings: TrainSettings):
        self.model = policies
        self.t = settings

    def rollout(self, cond: Conditioning, omega: torch.Tensor) -> Rollout:
        raise NotImplementedError

    def training_points(self, n: int) -> list:
        """The timesteps / trajectory steps a minibatch of n samples is trained on (drawn from the
        run's generator)."""
        raise NotImplementedError

    def update(self, rollout: Rollout, idx: torch.Tensor, cond: Conditioning, omega: torch.Tensor,
               advantages: torch.Tensor, point) -> Update:
        raise NotImplementedError

    def old_policy_decay(self, n: int) -> float:
        """EMA decay of θ_old at the end of a training step; n is the count `train.ema_count` names (the
        optimiser steps taken so far, or the training steps before this one)."""
        raise NotImplementedError

    def _kl(self, v: torch.Tensor, v_ref: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        return losses.velocity_kl(v, v_ref) if v_ref is not None else torch.zeros_like(like)


class NFT(Algorithm):
    """DiffusionNFT: forward-process, likelihood-free; any ODE sampler; CFG-free."""
    name = "nft"

    @torch.no_grad()
    def rollout(self, cond, omega):
        m = self.model
        sigmas = m.backbone.sigmas(self.t.sample_steps).to(m.device)
        x = m.backbone.noise(omega.shape[0], m.generator).float()
        for sl in m.sample_chunks(x.shape[0]):
            c, om = cond.index(sl), omega[sl].to(m.device)
            x[sl] = sampling.euler_sample(lambda xs, s: m.velocity(xs.to(m.dtype), s, c, om, "old"),
                                          x[sl], sigmas)
        return Rollout(x)

    def training_points(self, n):
        """uniform: σ is drawn in `update` (None here). schedule: per sample a random permutation of the
        pool of the sampler's σ (timestep_pool all: every σ but the final 0, as DiffusionNFT's per-sample
        shuffle of `scheduler.timesteps`; leading: the first int(steps × fraction)), each sample trained on
        the permutation's first `trained_timesteps`, so on distinct σ."""
        t = self.t
        if t.timestep_sampling == "uniform":
            return [None] * trained_timesteps(t)
        sigmas = self.model.backbone.sigmas(t.sample_steps)[:timestep_pool_size(t)].float()
        perm = torch.argsort(torch.rand(n, len(sigmas), generator=self.model.generator), dim=1)
        return [sigmas[perm[:, j]] for j in range(trained_timesteps(t))]

    def update(self, rollout, idx, cond, omega, advantages, point):
        m, t = self.model, self.t
        x0 = rollout.x0[idx]
        b = x0.shape[0]
        if point is None:
            lo, hi = t.timestep_range
            point = (lo + (hi - lo) * torch.rand(b, generator=m.generator)).clamp(1e-3, 1.0)
        sigma = point.to(m.device)
        eps = torch.randn(x0.shape, generator=m.generator).to(m.device)
        s = sigma.reshape(-1, *([1] * (x0.ndim - 1)))
        x_t = (1 - s) * x0 + s * eps
        xin = x_t.to(m.dtype)
        v_old = m.velocity(xin, sigma, cond, omega, "old")
        v_ref = m.velocity(xin, sigma, cond, None, "ref") if losses.kl_used(t) else None
        r = losses.nft_weight(advantages, t.adv_clip)
        # the references scale the policy loss by A_max before adding the KL term
        scale = t.adv_clip if t.policy_loss_scale == "adv_clip" else 1.0

        def loss(v):
            total, per = losses.late_scalarised_nft_loss(v, v_old, x_t, x0, sigma, r, omega, t.beta)
            return scale * total, scale * per, self._kl(v, v_ref, total)
        return Update(lambda: m.backbone.velocity(xin, sigma, cond), loss)

    def old_policy_decay(self, n):
        t = self.t
        if t.ema_schedule == "constant":
            return t.ema_decay
        return min(t.ema_ramp * n, t.ema_max)      # DiffusionNFT's decay_type 1


class GRPO(Algorithm):
    """Flow-GRPO: SDE sampling with the current policy, PPO-clipped ratio of step log-probs."""
    name = "grpo"

    @torch.no_grad()
    def rollout(self, cond, omega):
        m = self.model
        sigmas = m.backbone.sigmas(self.t.sample_steps).to(m.device)
        om = omega.to(m.device)

        def velocity(x, s):        # θ, batched in sample chunks
            return torch.cat([m.velocity(x[sl].to(m.dtype), s[sl], cond.index(sl), om[sl], "theta")
                              for sl in m.sample_chunks(x.shape[0])])
        x = m.backbone.noise(omega.shape[0], m.generator).float()
        x0, traj, logp = sampling.sde_sample(velocity, x, sigmas, self.t.grpo_eta, m.generator)
        return Rollout(x0, traj, logp)

    def training_points(self, n):
        steps = torch.randperm(self.t.sample_steps - 1, generator=self.model.generator)
        return steps[:trained_timesteps(self.t)].tolist()

    def update(self, rollout, idx, cond, omega, advantages, j):
        m, t = self.model, self.t
        sig = m.backbone.sigmas(t.sample_steps).to(m.device)
        x = rollout.trajectory[j][idx].to(m.device)
        x_next = rollout.trajectory[j + 1][idx].to(m.device)
        old_logp = rollout.log_probs[idx, j].to(m.device)
        b = x.shape[0]
        s, s_next = sig[j].expand(b), sig[j + 1].expand(b)
        xin = x.to(m.dtype)
        v_ref = m.velocity(xin, s, cond, None, "ref") if losses.kl_used(t) else None

        def loss(v):
            mean, std = sampling.sde_step(x, v, s, s_next, t.grpo_eta, float(sig[1]))
            logp = sampling.gaussian_log_prob(x_next, mean, std)
            total, per = losses.late_scalarised_grpo_loss(logp, old_logp, advantages, omega, t.grpo_clip,
                                                          t.adv_clip)
            return total, per, self._kl(v, v_ref, total)
        return Update(lambda: m.backbone.velocity(xin, s, cond), loss)

    def old_policy_decay(self, n):
        return 0.0                 # on-policy: the old policy is θ after every step


ALGORITHMS: dict[str, type[Algorithm]] = {"nft": NFT, "grpo": GRPO}


def build_algorithm(policies: Policies, settings: TrainSettings) -> Algorithm:
    return ALGORITHMS[settings.algorithm](policies, settings)
