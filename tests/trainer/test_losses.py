"""The pure loss functions against values worked out by hand."""

import pytest
import torch

from trainer.rl import losses


def _nft_case():
    # one sample, two elements: x0 = 0, ε = 1, σ = ½ → x_t = ½, target v = ε - x0 = 1
    x0 = torch.zeros(1, 2)
    x_t = torch.full((1, 2), 0.5)
    sigma = torch.tensor([0.5])
    v_theta = torch.tensor([[1.0, 2.0]])
    v_old = torch.zeros(1, 2)
    return v_theta, v_old, x_t, x0, sigma


def test_implicit_policies_follow_the_nft_definition():
    v_pos, v_neg = losses.nft_implicit_policies(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 5.0]), 0.25)
    assert torch.allclose(v_pos, torch.tensor([0.75 * 3 + 0.25 * 1, 0.75 * 5 + 0.25 * 2]))
    assert torch.allclose(v_neg, torch.tensor([1.25 * 3 - 0.25 * 1, 1.25 * 5 - 0.25 * 2]))


def test_nft_loss_plain_velocity_mse_matches_hand_computation():
    # β = ½: v+ = (½, 1), v- = (-½, -1); ℓ+ = mean(¼, 0) = 0.125, ℓ- = mean(2.25, 4) = 3.125
    # r = ¾: (¾·0.125 + ¼·3.125) / ½ = 1.75
    v_theta, v_old, x_t, x0, sigma = _nft_case()
    out = losses.nft_loss(v_theta, v_old, x_t, x0, sigma, torch.tensor([0.75]), beta=0.5, adaptive=False)
    assert out.shape == (1,)
    assert out.item() == pytest.approx(1.75, abs=1e-6)


def test_nft_loss_adaptive_x0_normalisation_matches_hand_computation():
    # x̂0+ = x_t - σ v+ = (0.25, 0): mean sq 0.03125 / mean abs 0.125 = 0.25
    # x̂0- = (0.75, 1.0): mean sq 0.78125 / mean abs 0.875 = 0.892857...
    # (¾·0.25 + ¼·0.892857) / ½ = 0.8214286
    v_theta, v_old, x_t, x0, sigma = _nft_case()
    out = losses.nft_loss(v_theta, v_old, x_t, x0, sigma, torch.tensor([0.75]), beta=0.5, adaptive=True)
    assert out.item() == pytest.approx((0.75 * 0.25 + 0.25 * 0.78125 / 0.875) / 0.5, abs=1e-6)


def test_nft_loss_with_r_one_and_beta_one_is_flow_matching_on_the_sample():
    v_theta, v_old, x_t, x0, sigma = _nft_case()
    v_theta = v_theta.clone().requires_grad_(True)
    out = losses.nft_loss(v_theta, v_old, x_t, x0, sigma, torch.tensor([1.0]), beta=1.0, adaptive=False)
    assert out.item() == pytest.approx(((0.0) ** 2 + (1.0) ** 2) / 2)   # v - target = (0, 1)
    out.sum().backward()
    assert torch.allclose(v_theta.grad, torch.tensor([[0.0, 1.0]]))     # d/dv mean((v-1)²) = (v-1)


def test_nft_gradient_pushes_toward_positive_and_away_from_negative_samples():
    v_theta, v_old, x_t, x0, sigma = _nft_case()
    grads = []
    for r in (1.0, 0.0):
        v = torch.zeros(1, 2, requires_grad=True)     # v_θ = v_old = 0; target is +1
        losses.nft_loss(v, v_old, x_t, x0, sigma, torch.tensor([r]), beta=1.0, adaptive=False).sum().backward()
        grads.append(v.grad.clone())
    assert (grads[0] < 0).all()     # good sample: gradient descent moves v up toward the target
    assert (grads[1] > 0).all()     # bad sample: moves v away from it


def test_group_advantages_normalise_each_reward_inside_each_group():
    r = torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 0.0], [7.0, 4.0]])
    a = losses.group_advantages(r, torch.tensor([0, 0, 1, 1]), eps=1e-6)
    expected = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [-1.0, -1.0], [1.0, 1.0]])
    assert torch.allclose(a, expected, atol=1e-5)


def test_group_advantages_default_epsilon_is_the_references_1e_4():
    # a near-constant reward (std 1e-5): A = ±1e-5 / (1e-5 + 1e-4) = ±1/11, not ±0.91 as with ε = 1e-6
    r = torch.tensor([[0.0], [2e-5]], dtype=torch.float64).float()
    a = losses.group_advantages(r, torch.tensor([0, 0]))
    assert torch.allclose(a[:, 0], torch.tensor([-1 / 11, 1 / 11]), atol=1e-3)
    assert torch.allclose(losses.group_advantages(r, torch.tensor([0, 0]), eps=1e-6)[:, 0],
                          torch.tensor([-1 / 1.1, 1 / 1.1]), atol=1e-2)


def test_nft_weight_maps_clipped_advantage_to_unit_interval():
    w = losses.nft_weight(torch.tensor([-10.0, -2.5, 0.0, 2.5, 10.0]), adv_clip=5.0)
    assert torch.allclose(w, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_late_scalarisation_weights_one_loss_per_reward_by_omega():
    v_theta, v_old, x_t, x0, sigma = _nft_case()
    r = torch.tensor([[1.0, 0.0]])
    omega = torch.tensor([[0.25, 0.75]])
    total, per = losses.late_scalarised_nft_loss(v_theta, v_old, x_t, x0, sigma, r, omega, 0.5, adaptive=False)
    # r=1 → ℓ+/β = 0.25; r=0 → ℓ-/β = 6.25
    assert torch.allclose(per, torch.tensor([[0.25, 6.25]]))
    assert total.item() == pytest.approx(0.25 * 0.25 + 0.75 * 6.25)


def test_velocity_kl_is_mean_squared_difference():
    assert losses.velocity_kl(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)).item() == pytest.approx(2.5)


def test_grpo_clipped_surrogate_matches_hand_computation():
    lp = torch.log(torch.tensor([1.5, 1.5, 0.5, 0.5]))
    old = torch.zeros(4)
    a = torch.tensor([1.0, -1.0, 1.0, -1.0])
    out = losses.grpo_loss(lp, old, a, clip=0.2)
    # ρ=1.5: A=+1 → max(-1.5, -1.2) = -1.2; A=-1 → max(1.5, 1.2) = 1.5
    # ρ=0.5: A=+1 → max(-0.5, -0.8) = -0.5; A=-1 → max(0.5, 0.8) = 0.8
    assert torch.allclose(out, torch.tensor([-1.2, 1.5, -0.5, 0.8]), atol=1e-6)


def test_late_scalarised_grpo_clips_advantages():
    lp, old = torch.zeros(1), torch.zeros(1)
    total, per = losses.late_scalarised_grpo_loss(lp, old, torch.tensor([[10.0, -1.0]]),
                                                  torch.tensor([[0.5, 0.5]]), clip=0.2, adv_clip=5.0)
    assert torch.allclose(per, torch.tensor([[-5.0, 1.0]]))
    assert total.item() == pytest.approx(-2.0)
