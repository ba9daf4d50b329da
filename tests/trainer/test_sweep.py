"""trainer.evaluation.sweep: ω grids and labels, the fixed-noise sweep, its checks."""
import pytest
import torch
from testsupport.eval_fakes import WIDTH, FakeBackbone, channel_mean

from pareto_core import EmbeddingConfig, PreferenceModules
from trainer.errors import UserError
from trainer.adapters.inject import preference_hooks
from trainer.sampling import euler_sample
from trainer.evaluation.sweep import SweepResult, as_samples, omega_grid, omega_label, sweep


def trained_modules(seed=0):
    modules = PreferenceModules(EmbeddingConfig(2, WIDTH, hidden=16))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in modules.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return modules


def test_omega_label_writes_corners_as_integers_and_the_rest_with_two_decimals():
    assert omega_label([1.0, 0.0]) == "1/0"
    assert omega_label([0.5, 0.5]) == "0.5/0.5"
    assert omega_label([1 / 3, 2 / 3]) == "0.33/0.67"
    assert [omega_label(w) for w in omega_grid(2, points=3).tolist()] == ["1/0", "0.5/0.5", "0/1"]


def test_omega_grid_refuses_an_unknown_mode_with_a_user_error():
    with pytest.raises(UserError, match="'auto', 'edge' or 'grid'"):
        omega_grid(2, mode="spiral")


def test_equal_omega_rows_get_identical_images_and_other_omegas_differ():
    bb = FakeBackbone()
    omegas = torch.tensor([[1.0, 0.0], [0.2, 0.8], [1.0, 0.0]])
    res = sweep(bb, trained_modules(), ["a cat"], omegas, [channel_mean(0)], steps=3, progress=False)
    imgs = res.images[0]
    assert imgs.shape == (3, 3, 8, 8)
    assert torch.allclose(imgs[0], imgs[2], atol=1e-6)   # same noise, same ω → the same image
    assert not torch.allclose(imgs[0], imgs[1], atol=1e-3)   # ω alone changes it
    assert torch.allclose(res.scores["channel0"][0], res.scores["channel0"][2], atol=1e-6)


def test_sweep_images_are_the_shared_sampler_run_on_the_rows_noise():
    bb = FakeBackbone()
    modules = trained_modules()
    omegas = omega_grid(2, points=3)
    res = sweep(bb, modules, ["a cat"], omegas, [channel_mean(1)], steps=4, seed=7, progress=False)
    g = torch.Generator().manual_seed(7 * 1_000_003)            # seed, prompt 0, sample 0
    noise = bb.noise(1, generator=g).expand(3, -1, -1, -1).clone()
    cond = bb.encode(as_samples(["a cat"])).repeat_interleave(3)
    with preference_hooks(bb.transformer, bb, modules, omegas):
        x0 = euler_sample(lambda x, s: bb.velocity(x, s, cond), noise, bb.sigmas(4))
    assert torch.allclose(res.images[0], bb.decode(x0), atol=1e-6)
    assert torch.allclose(res.scores["channel1"][:, 0], bb.decode(x0)[:, 1].mean((1, 2)), atol=1e-6)


def test_base_samples_use_the_same_noise_with_omega_off():
    bb = FakeBackbone()
    zero = PreferenceModules(EmbeddingConfig(2, WIDTH, hidden=16))     # zero-initialised: no effect
    res = sweep(bb, zero, ["a cat", "a dog"], omega_grid(2, points=3), [channel_mean(0)], steps=2, base=True,
                progress=False)
    assert set(res.base_scores) == {"channel0"} and res.base_scores["channel0"].shape == (2,)
    for imgs, base in zip(res.images, res.base_images):
        assert torch.allclose(base, imgs[1], atol=1e-6)


def test_seeds_per_prompt_give_columns_and_keep_images_limits_the_stored_rows():
    bb = FakeBackbone()
    res = sweep(bb, None, ["a cat", "a dog"], omega_grid(2, points=2), [channel_mean(0), channel_mean(2)],
                steps=2, samples_per_prompt=3, keep_images=2, progress=False)
    assert isinstance(res, SweepResult)
    assert res.scores["channel0"].shape == (2, 6) and res.scores["channel2"].shape == (2, 6)
    assert [s.prompt for s in res.samples] == ["a cat"] * 3 + ["a dog"] * 3
    assert len(res.images) == 2
    assert not torch.allclose(res.images[0], res.images[1])      # another seed, other noise
    assert not sweep(bb, None, ["a cat"], omega_grid(2, points=2), [channel_mean(0)], steps=1,
                     keep_images=False, progress=False).images


@pytest.mark.parametrize(("samples", "scorers", "steps", "message"), [
    ([], [channel_mean(0)], 2, "at least one held-out prompt"),
    (["a cat"], [], 2, "at least one scorer"),
    (["a cat"], [channel_mean(0), channel_mean(0)], 2, "scorer names must be unique"),
    (["a cat"], [channel_mean(0)], 0, "at least 1 step"),
])
def test_sweep_refuses_what_it_cannot_evaluate_with_a_user_error(samples, scorers, steps, message):
    with pytest.raises(UserError, match=message):
        sweep(FakeBackbone(), None, samples, omega_grid(2, points=2), scorers, steps=steps, progress=False)
