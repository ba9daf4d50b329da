"""pareto_core.combine: the soups / blend / MSDDA math the nodes, the trainer and the bench share."""
from __future__ import annotations

import pytest
import torch

from pareto_core.combine import (ancestral_sigmas, ancestral_step, gaussian_product, msdda_ancestral_step, msdda_step,
                                  sde_step, sum_deltas, weighted_sum)


def test_soups_sum_the_weighted_deltas_over_the_union_of_modules():
    a = {"q": torch.ones(2, 2), "k": torch.full((2, 2), 2.0)}
    b = {"q": torch.full((2, 2), 4.0)}
    out = sum_deltas([(0.25, a), (0.75, b)])
    assert torch.equal(out["q"], torch.full((2, 2), 3.25)) and torch.equal(out["k"], torch.full((2, 2), 0.5))


def test_weighted_sum_with_one_weight_per_term_and_one_row_per_sample():
    t0, t1 = torch.zeros(3, 2, 4), torch.ones(3, 2, 4)
    assert torch.equal(weighted_sum([0.3, 0.7], [t0, t1]), torch.full((3, 2, 4), 0.7))
    rows = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    out = weighted_sum(rows, [t0, t1])
    assert [float(out[i].mean()) for i in range(3)] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="3 weights for 2 terms"):
        weighted_sum([0.2, 0.3, 0.5], [t0, t1])


def test_blending_denoised_outputs_blends_velocities():
    """x0_j = x − σ v_j and Σ w = 1: Σ w_j x0_j = x − σ Σ w_j v_j (why the nodes blend x0)."""
    g = torch.Generator().manual_seed(0)
    x, v0, v1 = (torch.randn(2, 4, generator=g) for _ in range(3))
    sigma = 0.6
    x0 = weighted_sum([0.3, 0.7], [x - sigma * v0, x - sigma * v1])
    assert torch.allclose(x0, x - sigma * weighted_sum([0.3, 0.7], [v0, v1]), atol=1e-6)


def test_msdda_step_is_the_sde_step_of_the_blended_velocity():
    """The derivation in docs/LORA_SLIDERS.md: equal step variances multiply to the weighted mean,
    and the SDE mean is linear in v."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 8, generator=g)
    vs = [torch.randn(3, 8, generator=g) for _ in range(3)]
    w = [0.2, 0.5, 0.3]
    s, sn = torch.full((3,), 0.7), torch.full((3,), 0.5)
    mean, std = msdda_step(x, list(zip(w, vs)), s, sn, 0.7, 0.9)
    want_mean, want_std = sde_step(x, weighted_sum(w, vs), s, sn, 0.7, 0.9)
    assert torch.allclose(mean, want_mean, atol=1e-6) and torch.allclose(std, want_std, atol=1e-7)
    general, _ = gaussian_product([(wi, *sde_step(x, v, s, sn, 0.7, 0.9)) for wi, v in zip(w, vs)])
    assert torch.allclose(mean, general)
    at_vertex, _ = msdda_step(x, [(1.0, vs[0]), (0.0, vs[1])], s, sn, 0.7, 0.9)
    assert torch.allclose(at_vertex, sde_step(x, vs[0], s, sn, 0.7, 0.9)[0], atol=1e-6)
    det, det_std = msdda_step(x, list(zip(w, vs)), s, sn, 0.0, 0.9)
    assert torch.allclose(det, x + (sn - s)[:, None] * weighted_sum(w, vs), atol=1e-6) and not det_std.any()



# ----------------------------------------------------------------------------- x0 + σ ε frame (ε / v models)

def _ve_case(seed: int = 2):
    """x at σ = 2.5 (ComfyUI's SD1.5 range: σ_max ≈ 14.6), three models' x0, a step to σ' = 1.2."""
    g = torch.Generator().manual_seed(seed)
    x = 2.5 * torch.randn(3, 4, 8, generator=g, dtype=torch.float64)
    x0s = [torch.randn(3, 4, 8, generator=g, dtype=torch.float64) for _ in range(3)]
    return x, x0s, torch.full((3,), 2.5, dtype=torch.float64), torch.full((3,), 1.2, dtype=torch.float64)


def test_msdda_ancestral_step_is_the_product_of_the_models_steps_and_the_step_of_the_blended_x0():
    """docs/LORA_SLIDERS.md, 'MSDDA on ε- and v-prediction models': the mean is affine in x0 with
    coefficients common to all models and the std is model-independent, so the ω-product is the
    ancestral step on Σ ω_i x0_i."""
    x, x0s, s, sn = _ve_case()
    w = [0.2, 0.5, 0.3]
    for eta in (0.5, 1.0, 1.7):
        mean, std = msdda_ancestral_step(x, list(zip(w, x0s)), s, sn, eta)
        product, product_std = gaussian_product([(wi, *ancestral_step(x, x0, s, sn, eta)) for wi, x0 in zip(w, x0s)])
        blended, blended_std = ancestral_step(x, weighted_sum(w, x0s), s, sn, eta)
        assert torch.allclose(mean, product, atol=1e-12) and torch.allclose(std, product_std, atol=1e-12)
        assert torch.allclose(mean, blended, atol=1e-12) and torch.allclose(std, blended_std, atol=1e-12)
        assert bool((std > 0).all())
    at_vertex, _ = msdda_ancestral_step(x, [(1.0, x0s[1]), (0.0, x0s[0])], s, sn, 1.0)
    assert torch.allclose(at_vertex, ancestral_step(x, x0s[1], s, sn, 1.0)[0], atol=1e-12)


def test_ancestral_step_at_eta_0_is_the_euler_ddim_step():
    """η = 0: x' = x + (σ' − σ)·(x − x0)/σ, ComfyUI's `euler` (= DDIM in this frame), no noise."""
    x, x0s, s, sn = _ve_case()
    mean, std = ancestral_step(x, x0s[0], s, sn, 0.0)
    d = (x - x0s[0]) / 2.5
    assert torch.equal(mean, x + d * (sn - s)[:, None, None]) and not std.any()
    w = [0.2, 0.5, 0.3]
    det, det_std = msdda_ancestral_step(x, list(zip(w, x0s)), s, sn, 0.0)
    assert torch.allclose(det, x + (x - weighted_sum(w, x0s)) / 2.5 * (1.2 - 2.5), atol=1e-12) and not det_std.any()


def test_ancestral_step_at_eta_1_is_the_ve_ddpm_posterior():
    """η = 1: q(x_σ' | x_σ, x0) for x_σ = x_σ' + sqrt(σ² − σ'²) z, x_σ' ~ N(x0, σ'²), computed here
    as the product of the prior N(x0, σ'²) and the likelihood N(x_σ; x_σ', σ² − σ'²) in x_σ'."""
    x, x0s, s, sn = _ve_case()
    prior_var, lik_var = 1.2 ** 2, 2.5 ** 2 - 1.2 ** 2
    post_var = 1.0 / (1.0 / prior_var + 1.0 / lik_var)
    post_mean = post_var * (x0s[0] / prior_var + x / lik_var)
    mean, std = ancestral_step(x, x0s[0], s, sn, 1.0)
    assert torch.allclose(mean, post_mean, atol=1e-12)
    assert torch.allclose(std, torch.full((3,), post_var ** 0.5, dtype=torch.float64), atol=1e-12)
    # σ_down = σ'²/σ and σ_up² + σ_down² = σ'² (the marginal x0 + σ' ε is kept)
    down, up = ancestral_sigmas(s, sn, 1.0)
    assert torch.allclose(down, sn ** 2 / s, atol=1e-12) and torch.allclose(up ** 2 + down ** 2, sn ** 2, atol=1e-12)


def test_the_last_ancestral_step_to_sigma_0_is_deterministic_and_returns_x0():
    x, x0s, s, _ = _ve_case()
    zero = torch.zeros(3, dtype=torch.float64)
    for eta in (0.0, 1.0, 2.0):
        mean, std = ancestral_step(x, x0s[0], s, zero, eta)
        assert torch.allclose(mean, x0s[0], atol=1e-12) and not std.any()
        mixed, mixed_std = msdda_ancestral_step(x, [(0.4, x0s[0]), (0.6, x0s[1])], s, zero, eta)
        assert torch.allclose(mixed, 0.4 * x0s[0] + 0.6 * x0s[1], atol=1e-12) and not mixed_std.any()
    # rows with different σ_next: the row going to 0 is the weighted mean, the others the product
    sn = torch.tensor([1.2, 0.0, 0.7], dtype=torch.float64)
    mean, std = msdda_ancestral_step(x, [(0.4, x0s[0]), (0.6, x0s[1])], s, sn, 1.0)
    want, want_std = ancestral_step(x, 0.4 * x0s[0] + 0.6 * x0s[1], s, sn, 1.0)
    assert torch.allclose(mean, want, atol=1e-12) and torch.allclose(std, want_std, atol=1e-12)
    assert std[1] == 0 and bool((std[[0, 2]] > 0).all()) and not mean.isnan().any()


def test_ancestral_step_matches_k_diffusions_euler_ancestral():
    """k-diffusion (comfy/k_diffusion/sampling.py) get_ancestral_step + sample_euler_ancestral,
    re-derived here with Python floats: sigma_up = min(σ', η·sqrt(σ'²(σ² − σ'²)/σ²)),
    sigma_down = sqrt(σ'² − sigma_up²), x' = x + d·(sigma_down − σ) + noise·sigma_up, d = (x − x0)/σ."""
    x, x0s, _, _ = _ve_case(5)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for sigma_from, sigma_to, eta in ((14.6, 9.7, 1.0), (2.5, 1.2, 0.7), (0.4, 0.029, 1.0), (1.0, 0.9, 2.0),
                                      (3.0, 0.0, 1.0)):
        sigma_up = min(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
        sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
        if sigma_down == 0:
            want = x0s[0]                       # k-diffusion: `if sigma_down == 0: x = denoised`
        else:
            want = x + (x - x0s[0]) / sigma_from * (sigma_down - sigma_from) + noise * sigma_up
        s, sn = torch.full((3,), sigma_from, dtype=torch.float64), torch.full((3,), sigma_to, dtype=torch.float64)
        mean, std = ancestral_step(x, x0s[0], s, sn, eta)
        assert torch.allclose(mean + std[:, None, None] * noise, want, atol=1e-12), (sigma_from, sigma_to, eta)
    # η > 1 can reach the cap σ_up = σ' (here 2·sqrt(0.25·0.75) = 0.87 > 0.5): σ_down = 0 and the step
    # is N(x0, σ'²), which keeps the marginal x0 + σ' ε. k-diffusion's `sigma_down == 0` branch
    # returns x0 without the σ_up noise there (it is meant for the last step, where σ_up = 0 too);
    # the only place the two differ, and only for η > 1.
    x0 = x0s[0]
    mean, std = ancestral_step(x, x0, torch.full((3,), 1.0, dtype=torch.float64), torch.full((3,), 0.5, dtype=torch.float64), 2.0)
    assert torch.allclose(mean, x0, atol=1e-12) and torch.allclose(std, torch.full((3,), 0.5, dtype=torch.float64))
