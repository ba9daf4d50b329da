"""The one sampler (trainer.sampling): Euler ODE, blends, and the Flow-GRPO SDE step."""
import math

import pytest
import torch

from trainer import sampling


def test_euler_sample_on_a_constant_velocity_lands_on_x_minus_v():
    # dx/dσ = v constant: from σ = 1 to 0 the Euler steps sum to x_1 − v exactly, whatever the schedule
    v = torch.tensor([[1.0, -2.0]])
    x0 = sampling.euler_sample(lambda x, s: v.expand_as(x), torch.zeros(1, 2), torch.tensor([1.0, 0.7, 0.2, 0.0]))
    assert torch.allclose(x0, -v)


def test_euler_sample_passes_one_sigma_per_row_and_calls_back_every_step():
    seen, steps = [], []

    def fn(x, s):
        seen.append(s.clone())
        return torch.zeros_like(x)
    sampling.euler_sample(fn, torch.zeros(3, 1), torch.linspace(1, 0, 5), callback=lambda i, x: steps.append(i))
    assert [s.shape for s in seen] == [torch.Size([3])] * 4
    assert torch.allclose(torch.stack(seen)[:, 0], torch.tensor([1.0, 0.75, 0.5, 0.25]))
    assert steps == [0, 1, 2, 3]


def test_euler_sample_refuses_an_empty_schedule():
    with pytest.raises(ValueError, match="at least 1 step"):
        sampling.euler_sample(lambda x, s: x, torch.zeros(1, 1), torch.tensor([1.0]))


def test_blend_weights_velocities_and_skips_zero_weights():
    calls = []

    def const(c):
        def fn(x, s):
            calls.append(c)
            return torch.full_like(x, c)
        return fn
    v = sampling.blend([(0.25, const(4.0)), (0.75, const(8.0)), (0.0, const(100.0))])
    assert v(torch.zeros(2, 1), torch.ones(2)).tolist() == [[7.0], [7.0]]
    assert 100.0 not in calls


def test_sde_sample_with_eta_zero_is_the_euler_ode():
    fn = lambda x, s: 0.5 * x + s.reshape(-1, 1)     # noqa: E731
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    sig = torch.linspace(1, 0, 6)
    ode = sampling.euler_sample(fn, noise, sig)
    sde, traj, logp = sampling.sde_sample(fn, noise, sig, eta=0.0 + 1e-12, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(sde, ode, atol=1e-5)
    assert len(traj) == 6 and logp.shape == (4, 4)


def test_sde_sample_log_probs_match_the_step_gaussian():
    fn = lambda x, s: -x                              # noqa: E731
    noise = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    sig = torch.linspace(1, 0, 4)
    _, traj, logp = sampling.sde_sample(fn, noise, sig, eta=0.7, generator=torch.Generator().manual_seed(3))
    # recompute step 1 by hand from the stored trajectory
    s, sn = sig[1].expand(2), sig[2].expand(2)
    mean, std = sampling.sde_step(traj[1], fn(traj[1], s), s, sn, 0.7, float(sig[1]))
    assert torch.allclose(logp[:, 1], sampling.gaussian_log_prob(traj[2], mean, std), atol=1e-6)


def test_gaussian_log_prob_per_element_mean():
    x = torch.ones(2, 3)
    mean = torch.zeros(2, 3)
    lp = sampling.gaussian_log_prob(x, mean, torch.tensor([1.0, 2.0]))
    c = 0.5 * math.log(2 * math.pi)
    assert lp[0].item() == pytest.approx(-0.5 - c)
    assert lp[1].item() == pytest.approx(-1 / 8 - math.log(2) - c)


def test_sde_step_mean_and_std_match_hand_computation():
    x, v = torch.ones(1, 1), torch.full((1, 1), 2.0)
    s, sn = torch.tensor([0.5]), torch.tensor([0.25])
    # dt = -¼; drift = v + std²/(2σ)(x + (1-σ)v) = 2 + 1·(1 + 1) = 4 → x' = 1 - 1 = 0
    assert sampling.sde_step_mean(x, v, s, sn, torch.tensor([1.0])).item() == pytest.approx(0.0)
    # std = 0 is the Euler ODE step: 1 + 2·(-¼) = 0.5
    assert sampling.sde_step_mean(x, v, s, sn, torch.tensor([0.0])).item() == pytest.approx(0.5)
    assert sampling.sde_step_std(torch.tensor([0.5]), 0.7, 0.9).item() == pytest.approx(0.7)
    assert sampling.sde_step_std(torch.tensor([1.0]), 0.7, 0.9).item() == pytest.approx(0.7 * 3.0)


# ----------------------------------------------------------------------------- MSDDA

def test_gaussian_product_is_the_precision_weighted_mean_by_hand():
    # N(0, 1)^0.5 · N(4, 2²)^0.5: precision 0.5/1 + 0.5/4 = 0.625, mean (0.5·0 + 0.125·4)/0.625 = 0.8
    m0, m1 = torch.zeros(1, 2), torch.full((1, 2), 4.0)
    mean, std = sampling.gaussian_product([(0.5, m0, torch.tensor([1.0])), (0.5, m1, torch.tensor([2.0]))])
    assert torch.allclose(mean, torch.full((1, 2), 0.8))
    assert torch.allclose(std, torch.tensor([0.625 ** -0.5]))


def test_gaussian_product_with_equal_stds_is_the_weighted_mean():
    means = [torch.randn(3, 4, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    s = torch.full((3,), 0.3)
    mean, std = sampling.gaussian_product([(0.2, means[0], s), (0.5, means[1], s), (0.3, means[2], s)])
    assert torch.allclose(mean, 0.2 * means[0] + 0.5 * means[1] + 0.3 * means[2], atol=1e-6)
    assert torch.allclose(std, s)


@pytest.mark.parametrize("weights", [[0.5, 0.6], [1.5, -0.5], [0.0, 0.0]])
def test_gaussian_product_refuses_weights_off_the_simplex(weights):
    m, s = torch.zeros(1, 1), torch.ones(1)
    with pytest.raises(ValueError, match="sum to 1"):
        sampling.gaussian_product([(w, m, s) for w in weights])


def _linear(c):
    """A velocity field v(x) = x − c: every Euler/SDE step is affine in x, so blends are exact."""
    return lambda x, s: x - c


def test_msdda_with_one_model_is_that_models_sde_rollout():
    # weight 1 on one model: the product is that model's own Gaussian step, with the same noise draws
    noise, sig = torch.randn(2, 3, generator=torch.Generator().manual_seed(0)), torch.linspace(1, 0, 6)
    got = sampling.msdda_sample([(1.0, _linear(0.5)), (0.0, _linear(-9.0))], noise, sig, 0.7,
                                torch.Generator().manual_seed(5))
    want, _, _ = sampling.sde_sample(_linear(0.5), noise, sig, 0.7, torch.Generator().manual_seed(5))
    assert torch.allclose(got, want, atol=1e-6)


def test_msdda_equals_the_sde_rollout_of_the_blended_velocity_and_blend_at_eta_zero():
    # shared step variance: the product's mean is μ(Σ ω_i v_i), so MSDDA = SDE sampling of the blend;
    # with η = 0 it is exactly Diffusion Blend's Euler ODE
    noise, sig = torch.randn(2, 3, generator=torch.Generator().manual_seed(1)), torch.linspace(1, 0, 6)
    fns = [(0.3, _linear(1.0)), (0.7, _linear(-1.0))]
    got = sampling.msdda_sample(fns, noise, sig, 0.7, torch.Generator().manual_seed(2))
    want, _, _ = sampling.sde_sample(sampling.blend(fns), noise, sig, 0.7, torch.Generator().manual_seed(2))
    assert torch.allclose(got, want, atol=1e-5)
    ode = sampling.msdda_sample(fns, noise, sig, 0.0, torch.Generator().manual_seed(2))
    assert torch.allclose(ode, sampling.euler_sample(sampling.blend(fns), noise, sig), atol=1e-6)
