"""Pure loss functions (no model, no state): advantages, DiffusionNFT, Flow-GRPO, velocity KL.
(The Flow-GRPO SDE step and its log-probability live with the sampler, trainer.sampling.)

Written from the papers' equations; every function is unit-tested against hand-computed values
(tests/trainer/test_losses.py).

Conventions: rectified flow, x_t = (1 - σ) x0 + σ ε, velocity target v = ε - x0.
"""
from __future__ import annotations

import torch


def _flat_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean over all but the batch dimension → (B,)."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


# ----------------------------------------------------------------------------- advantages

def group_advantages(rewards: torch.Tensor, groups: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """z-normalise each reward column inside its group.

    rewards (B, M) raw scores, groups (B,) integer group ids (one id per (prompt, ω) pair).
    Returns A (B, M) with A = (R - mean_g) / (std_g + eps) computed separately per reward m and
    per group g (population std). A group whose scores are all equal gets A = 0.
    """
    rewards = rewards.double()
    out = torch.zeros_like(rewards)
    for g in torch.unique(groups):
        idx = groups == g
        r = rewards[idx]
        mean = r.mean(0, keepdim=True)
        std = r.std(0, unbiased=False, keepdim=True)
        out[idx] = (r - mean) / (std + eps)
    return out.float()


def nft_weight(advantages: torch.Tensor, adv_clip: float) -> torch.Tensor:
    """DiffusionNFT optimality weight r = ½ + ½·clip(A / A_max, -1, 1) ∈ [0, 1]."""
    return 0.5 + 0.5 * torch.clamp(advantages / adv_clip, -1.0, 1.0)


# ----------------------------------------------------------------------------- DiffusionNFT

def nft_implicit_policies(v_theta: torch.Tensor, v_old: torch.Tensor, beta: float):
    """The implicit positive / negative policies of DiffusionNFT:
    v+ = (1 - β) v_old + β v_θ,   v- = (1 + β) v_old - β v_θ."""
    v_pos = (1.0 - beta) * v_old + beta * v_theta
    v_neg = (1.0 + beta) * v_old - beta * v_theta
    return v_pos, v_neg


def adaptive_x0_loss(v_pred: torch.Tensor, x_t: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor,
                     eps: float = 1e-5) -> torch.Tensor:
    """Per-sample x0-prediction error with DiffusionNFT's adaptive normalisation.

    x̂0 = x_t - σ v_pred;  loss_i = mean((x̂0 - x0)²) / sg(mean|x̂0 - x0|)   (B,)
    Dividing by the detached mean absolute error makes the loss scale-free across timesteps
    (≈ mean|x̂0 - x0|) without changing the direction of its gradient.
    """
    s = sigma.reshape(-1, *([1] * (x_t.ndim - 1))).to(v_pred.dtype)
    err = (x_t - s * v_pred) - x0
    with torch.no_grad():
        scale = _flat_mean(err.abs().double()).clamp(min=eps).to(err.dtype)
    return _flat_mean(err.pow(2)) / scale


def nft_loss(v_theta: torch.Tensor, v_old: torch.Tensor, x_t: torch.Tensor, x0: torch.Tensor,
             sigma: torch.Tensor, r: torch.Tensor, beta: float, adaptive: bool = True) -> torch.Tensor:
    """DiffusionNFT loss per sample (B,) for one reward.

    L = [ r · ℓ(v+) + (1 - r) · ℓ(v-) ] / β, where ℓ is the x0-space error with adaptive
    normalisation (adaptive=True) or the plain velocity MSE ‖v± - (ε - x0)‖² (adaptive=False).
    The 1/β keeps the reward-driven push independent of β (β then acts as a trust region).
    r (B,) ∈ [0, 1] is the optimality weight from `nft_weight`.
    """
    v_pos, v_neg = nft_implicit_policies(v_theta, v_old.detach(), beta)
    if adaptive:
        l_pos = adaptive_x0_loss(v_pos, x_t, x0, sigma)
        l_neg = adaptive_x0_loss(v_neg, x_t, x0, sigma)
    else:
        s = sigma.reshape(-1, *([1] * (x_t.ndim - 1))).to(v_theta.dtype)
        target = (x_t - x0) / s.clamp(min=1e-6)      # = ε - x0
        l_pos = _flat_mean((v_pos - target).pow(2))
        l_neg = _flat_mean((v_neg - target).pow(2))
    r = r.to(l_pos.dtype)
    return (r * l_pos + (1.0 - r) * l_neg) / beta


def late_scalarised_nft_loss(v_theta, v_old, x_t, x0, sigma, r: torch.Tensor, omega: torch.Tensor,
                             beta: float, adaptive: bool = True):
    """Σ_m ω_m · L_m with one NFT loss per reward. r and ω are (B, M). Returns ((B,), (B, M))."""
    per_reward = torch.stack([nft_loss(v_theta, v_old, x_t, x0, sigma, r[:, m], beta, adaptive)
                              for m in range(r.shape[1])], dim=1)
    return (omega.to(per_reward.dtype) * per_reward).sum(1), per_reward


def velocity_kl(v_theta: torch.Tensor, v_ref: torch.Tensor) -> torch.Tensor:
    """‖v_θ - v_ref‖² averaged over elements, per sample (B,)."""
    return _flat_mean((v_theta - v_ref.detach()).pow(2))


# ----------------------------------------------------------------------------- Flow-GRPO

def grpo_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
              clip: float) -> torch.Tensor:
    """PPO clipped surrogate per sample (B,): max(-A·ρ, -A·clip(ρ, 1-ε, 1+ε)), ρ = exp(lp - lp_old)."""
    ratio = torch.exp(log_prob - old_log_prob.detach())
    a = advantages.to(ratio.dtype)
    return torch.maximum(-a * ratio, -a * torch.clamp(ratio, 1.0 - clip, 1.0 + clip))


def late_scalarised_grpo_loss(log_prob, old_log_prob, advantages: torch.Tensor, omega: torch.Tensor,
                              clip: float, adv_clip: float):
    """Σ_m ω_m · GRPO(A_m) with A_m clipped to ±A_max. advantages, ω (B, M)."""
    a = torch.clamp(advantages, -adv_clip, adv_clip)
    per_reward = torch.stack([grpo_loss(log_prob, old_log_prob, a[:, m], clip) for m in range(a.shape[1])], 1)
    return (omega.to(per_reward.dtype) * per_reward).sum(1), per_reward


def kl_used(t) -> bool:
    """Whether a run's loss has a KL term at all (train.kl, or any per-objective weight)."""
    return t.kl > 0 or any(v > 0 for v in (t.kl_per_objective or ()))


def kl_weight(t, omega: torch.Tensor) -> torch.Tensor | float:
    """The KL weight of each row: Σ_k ω_k·kl_k with train.kl_per_objective, else train.kl for every row."""
    if t.kl_per_objective is None:
        return t.kl
    return omega.float() @ torch.tensor(t.kl_per_objective, dtype=torch.float32, device=omega.device)
