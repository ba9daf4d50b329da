"""The trainer matches DiffusionNFT / the reference ParetoSlider script by default, and each old
behaviour stays selectable (issue 12, item 1; issue 26, item 4): loss scale, old-policy EMA and what
it counts, training σ (which and how many), one optimiser step per rollout, the exported EMA, ω mix,
group-ε and the SD3 timestep dtype. Hand-computed values throughout."""
import re

import pytest
import torch
from testsupport.trainer_helpers import brightness, redness, tiny_config

from trainer.rl.algorithms import Rollout
from trainer.config import schedule_timesteps
from trainer.rl.omega import sample_omegas
from trainer.run.train import Trainer


def _trainer(path, tmp_path, **train):
    return Trainer(tiny_config(path, tmp_path / "run", **train), rewards=[brightness, redness])


def test_old_policy_decay_ramps_like_the_references_or_stays_constant(tiny_sd3_path, tmp_path):
    ramp = _trainer(tiny_sd3_path, tmp_path).algorithm
    assert [ramp.old_policy_decay(n) for n in (0, 1, 100, 499, 500, 5000)] == \
        pytest.approx([0.0, 0.001, 0.1, 0.499, 0.5, 0.5])
    const = _trainer(tiny_sd3_path, tmp_path, ema_schedule="constant", ema_decay=0.9).algorithm
    assert const.old_policy_decay(0) == const.old_policy_decay(1000) == 0.9


def _nft_losses(tr):
    samples, omega, _ = tr._draw_batch()
    cond = tr.backbone.encode(samples)
    n = omega.shape[0]
    x0 = tr.backbone.noise(n, torch.Generator().manual_seed(5)).float()
    adv = torch.tensor([[1.0, -2.0], [-1.0, 2.0]]).repeat(n // 2, 1)
    tr.generator.manual_seed(11)
    point = tr.algorithm.training_points(n)[0]
    upd = tr.algorithm.update(Rollout(x0), torch.arange(n), cond, omega, adv, point)
    with torch.no_grad():
        return upd.loss(upd.forward().float())


def test_nft_policy_loss_is_scaled_by_adv_clip_before_the_kl_term(tiny_sd3_path, tmp_path):
    scaled = _nft_losses(_trainer(tiny_sd3_path, tmp_path, adv_clip=5.0))
    plain = _nft_losses(_trainer(tiny_sd3_path, tmp_path, adv_clip=5.0, policy_loss_scale="none"))
    assert torch.allclose(scaled[0], 5.0 * plain[0], rtol=1e-5)        # total policy loss
    assert torch.allclose(scaled[1], 5.0 * plain[1], rtol=1e-5)        # per objective
    assert torch.allclose(scaled[2], plain[2])                          # the KL term is not scaled


def test_training_sigmas_come_from_the_shifted_schedule_shuffled_per_sample(tiny_sd3_path, tmp_path):
    tr = _trainer(tiny_sd3_path, tmp_path, sample_steps=10, train_timesteps=4, timestep_pool="leading")
    assert schedule_timesteps(tr.cfg.train) == 9                        # int(10 × 0.99)
    sched = tr.backbone.sigmas(10)[:9]
    # SD3 shift 3: σ_i = 3s / (1 + 2s), s = 1 − i/10 → only the last of the 9 (s = 0.2: 0.43) is below 0.5,
    # where σ ~ U(0, 1) would put half the training
    s = torch.linspace(1, 0, 11)[:9]
    assert torch.allclose(sched, 3 * s / (1 + 2 * s))
    assert int((sched < 0.5).sum()) == 1
    points = tr.algorithm.training_points(64)
    assert len(points) == 4 and all(p.shape == (64,) for p in points)
    table = torch.stack(points, 1)                                      # (samples, points)
    assert all(bool(torch.isclose(table[i, :, None], sched[None]).any(1).all()) for i in range(64))
    assert all(len(set(row.tolist())) == 4 for row in table)            # distinct σ per sample
    assert len({tuple(row.tolist()) for row in table}) > 1              # shuffled per sample
    uniform = _trainer(tiny_sd3_path, tmp_path, timestep_sampling="uniform").algorithm
    assert uniform.training_points(8) == [None]                        # σ ~ U(range), drawn in update


def test_training_sigmas_default_to_the_whole_schedule_with_the_references_count(tiny_sd3_path, tmp_path):
    # DiffusionNFT: a random permutation of all 10 scheduler σ per sample, then its first int(10 × 0.99) = 9:
    # each sample skips ONE random σ, and the smallest (σ_9 = 3·0.1/1.2 = 0.25) is trained on
    tr = _trainer(tiny_sd3_path, tmp_path, sample_steps=10, train_timesteps=0)
    sched = tr.backbone.sigmas(10)[:10]
    assert sched[-1].item() == pytest.approx(0.25)
    points = tr.algorithm.training_points(200)
    assert len(points) == 9
    table = torch.stack(points, 1)                                      # (samples, 9)
    hits = torch.isclose(table[:, :, None], sched[None, None]).any(1)   # (samples, 10): σ_k trained?
    assert bool((hits.sum(1) == 9).all())                               # 9 distinct σ, one skipped each
    skipped = (~hits).float().argmax(1)
    assert len(set(skipped.tolist())) == 10                             # which one: random, any of the 10
    assert bool(hits[:, 9].any()) and 0.8 < hits[:, 9].float().mean().item() < 0.98   # smallest: 9 in 10
    two = _trainer(tiny_sd3_path, tmp_path, sample_steps=10, train_timesteps=2).algorithm.training_points(400)
    assert len(two) == 2 and bool(torch.isclose(torch.stack(two, 1)[..., None], sched).any(-1).all())
    assert bool(torch.isclose(torch.cat(two), sched[-1]).any())         # the smallest σ is drawn too


def test_schedule_sampling_refuses_more_points_than_schedule_steps(tiny_sd3_path, tmp_path):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match="train.train_timesteps"):
        tiny_config(tiny_sd3_path, tmp_path, sample_steps=2, train_timesteps=2, timestep_pool="leading")
    with pytest.raises(ConfigError, match="train.train_timesteps: must be <= the 2 schedule"):
        tiny_config(tiny_sd3_path, tmp_path, sample_steps=2, train_timesteps=3)
    assert tiny_config(tiny_sd3_path, tmp_path, sample_steps=2, train_timesteps=2).train.train_timesteps == 2


def _recording_gradients(tr) -> list[list[torch.Tensor]]:
    """The gradients each optimiser step sees (after the cross-process average), θ left unchanged."""
    seen = []
    step = tr._optimizer_step

    def record(finite):
        seen.append([p.grad.detach().clone() for p in tr.policy.params])
        return step(finite)
    tr._optimizer_step = record
    tr.optimizer.step = lambda *a, **k: None
    return seen


def test_one_optimizer_step_per_rollout_takes_the_mean_gradient_of_its_minibatches(tiny_sd3_path, tmp_path):
    # 1 prompt × 2 ω × 2 samples = 4 rows, minibatches of 2: the old behaviour updates twice, the references
    # once with the two minibatches' gradients averaged (same draws, θ held fixed so they are comparable)
    kw = dict(minibatch=2, grad_clip=0.0, train_timesteps=2)
    per_mb = _trainer(tiny_sd3_path, tmp_path / "a", optimizer_step="minibatch", **kw)
    per_rollout = _trainer(tiny_sd3_path, tmp_path / "b", **kw)
    assert per_rollout.cfg.train.optimizer_step == "rollout"            # the default
    g_mb, g_ro = _recording_gradients(per_mb), _recording_gradients(per_rollout)
    per_mb.step(), per_rollout.step()
    assert len(g_mb) == 2 and len(g_ro) == 1
    for a, b, acc in zip(*g_mb, g_ro[0]):
        assert torch.allclose(acc, 0.5 * (a + b), rtol=1e-4, atol=1e-8)
    assert any(float(a.abs().max()) > 0 for a in g_ro[0])
    per_mb.close(), per_rollout.close()


@pytest.mark.parametrize("optimizer_step, ema_count, decays, adam_steps", [
    ("minibatch", "optimizer", [0.002, 0.004], 4),      # 2 updates a step: the ramp counts them (references)
    ("minibatch", "step", [0.0, 0.001], 4),             # the old behaviour: training steps before this one
    ("rollout", "optimizer", [0.001, 0.002], 2),        # one update a step; counted after it, as global_step
])
def test_old_policy_ramp_counts_optimizer_steps_like_the_references(tiny_sd3_path, tmp_path, optimizer_step,
                                                                    ema_count, decays, adam_steps):
    tr = _trainer(tiny_sd3_path, tmp_path, minibatch=2, optimizer_step=optimizer_step, ema_count=ema_count)
    seen, update = [], tr.policy.update_old
    tr.policy.update_old = lambda d: (seen.append(d), update(d))
    metrics = [tr.step(), tr.step()]
    assert seen == pytest.approx(decays)
    assert tr.optimizer_steps == adam_steps == metrics[-1]["optimizer_steps"]
    assert {int(s["step"]) for s in tr.optimizer.state.values()} == {adam_steps}
    tr.close()


def test_exported_ema_follows_the_references_decay_by_hand():
    from trainer.adapters.policy import PolicyParams
    pp = PolicyParams(torch.nn.Module(), None, export_ema=True)
    w = torch.nn.Parameter(torch.zeros(3))
    pp.named, pp.ema = [("paretoslider.w", w)], [torch.zeros(3)]
    for n, value in enumerate([1.0, 3.0], start=1):
        w.data.fill_(value)
        pp.update_ema(n, 0.9)
    # d1 = min(2/11, .9): e1 = 0 + (9/11)·1; d2 = 3/12: e2 = e1 + 0.75·(3 − e1)
    e1 = 9 / 11
    assert pp.ema[0] == pytest.approx(torch.full((3,), e1 + 0.75 * (3 - e1)))
    pp.ema = [torch.zeros(3)]
    w.data.fill_(1.0)
    pp.update_ema(100, 0.9)                                             # 101/110 > 0.9: capped
    assert pp.ema[0] == pytest.approx(torch.full((3,), 0.1))
    with pp.ema_swapped_in():
        assert torch.equal(w.detach(), pp.ema[0])
    assert torch.equal(w.detach(), torch.ones(3))


@pytest.mark.parametrize("weights", ["ema", "theta"])
def test_the_file_holds_the_ema_of_theta_or_theta_as_asked(tiny_sd3_path, tmp_path, weights):
    from pareto_core import load_paretoslider
    from trainer.adapters.lora import lora_state_for_file
    tr = _trainer(tiny_sd3_path, tmp_path, export_weights=weights)
    thetas = [[p.detach().clone() for p in tr.policy.params]]
    tr.optimizer.register_step_post_hook(lambda *a: thetas.append([p.detach().clone() for p in tr.policy.params]))
    tr.step(), tr.step()
    assert len(thetas) == 3                                             # θ0, then one update a step
    expected = thetas[-1]
    if weights == "ema":       # e0 = θ0; e_n = e_(n-1) + (1 − min((1+n)/(10+n), 0.9))(θ_n − e_(n-1))
        expected = thetas[0]
        for n in (1, 2):
            d = min((1 + n) / (10 + n), 0.9)
            expected = [e + (1 - d) * (t - e) for e, t in zip(expected, thetas[n])]
        assert not all(torch.allclose(e, t) for e, t in zip(expected, thetas[-1]))
    f = load_paretoslider(tr.export())
    assert f.metadata.training.settings["weights"] == weights
    names = [n for n, _ in tr.policy.named]
    for n, e in zip(names, expected):
        if n.startswith("paretoslider."):
            assert torch.allclose(f.preference_state[n[len("paretoslider."):]], e, atol=1e-6)
    current = [p.detach().clone() for p in tr.policy.params]
    with torch.no_grad():
        for p, e in zip(tr.policy.params, expected):
            p.copy_(e)
        lora = lora_state_for_file(tr.backbone.transformer, tr.cfg.lora.alpha, tr.cfg.lora.rank)
        for p, c in zip(tr.policy.params, current):
            p.copy_(c)
    assert lora.keys() == f.lora.keys()
    assert all(torch.allclose(f.lora[k], v, atol=1e-6) for k, v in lora.items())
    assert all(torch.equal(p, c) for p, c in zip(tr.policy.params, current))   # θ itself is untouched
    tr.close()


def test_three_objective_omegas_default_to_the_references_mix():
    w = sample_omegas(40000, 3, torch.Generator().manual_seed(0))
    nonzero = (w > 0).sum(1)
    assert abs((nonzero == 1).float().mean().item() - 0.50) < 0.01
    assert abs((nonzero == 2).float().mean().item() - 0.35) < 0.01
    assert abs((nonzero == 3).float().mean().item() - 0.15) < 0.01


@pytest.mark.parametrize("mode, dtype", [("fp32", torch.float32), ("model", torch.bfloat16)])
def test_sd3_timestep_reaches_the_transformer_in_fp32_unless_asked(tiny_sd3_path, tmp_path, mode, dtype):
    from trainer.backbones.sd3 import SD3Backbone
    bb = SD3Backbone(str(tiny_sd3_path), resolution=32, max_sequence_length=8, dtype=torch.bfloat16,
                     timestep_dtype=mode)
    seen = []
    bb.transformer.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["timestep"]), with_kwargs=True)
    cond = bb.encode([__import__("trainer.backbones.base", fromlist=["Sample"]).Sample("a cat")])
    with torch.no_grad():
        bb.velocity(bb.noise(1), torch.tensor([0.3337]), cond)
    assert seen[0].dtype == dtype
    assert seen[0].item() == pytest.approx(333.7, abs=1e-3 if mode == "fp32" else 2.0)


@pytest.mark.parametrize("field, value, message", [
    ("ema_schedule", "linear", "train.ema_schedule: must be ramp or constant"),
    ("ema_max", 1.0, "train.ema_ramp / ema_max"),
    ("policy_loss_scale", "double", "train.policy_loss_scale: must be adv_clip or none"),
    ("adv_eps", 0.0, "train.adv_eps: must be > 0"),
    ("timestep_sampling", "random", "train.timestep_sampling: must be schedule or uniform"),
    ("timestep_fraction", 0.0, "train.timestep_fraction: must be in (0, 1]"),
    ("timestep_pool", "first", "train.timestep_pool: must be all or leading"),
    ("optimizer_step", "epoch", "train.optimizer_step: must be rollout or minibatch"),
    ("ema_count", "samples", "train.ema_count: must be optimizer or step"),
    ("export_weights", "old", "train.export_weights: must be ema or theta"),
    ("export_ema_max", 1.0, "train.export_ema_max: must be in [0, 1)"),
    ("train_timesteps", -1, "train.train_timesteps: must be >= 1, or 0"),
])
def test_bad_reference_options_name_the_field_and_the_allowed_values(tiny_sd3_path, tmp_path, field, value, message):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny_config(tiny_sd3_path, tmp_path, **{field: value})


def test_bad_timestep_dtype_is_refused(tiny_sd3_path, tmp_path):
    from trainer.config import ConfigError, config_from_dict
    cfg = tiny_config(tiny_sd3_path, tmp_path).to_dict()
    cfg["model"]["timestep_dtype"] = "fp8"
    with pytest.raises(ConfigError, match="model.timestep_dtype: must be fp32 or model"):
        config_from_dict(cfg)


def test_train_timesteps_zero_is_the_references_count():
    from trainer.config import TrainSettings, trained_timesteps
    assert trained_timesteps(TrainSettings(sample_steps=10, train_timesteps=0)) == 9       # int(10 × 0.99)
    assert trained_timesteps(TrainSettings(sample_steps=25, train_timesteps=0)) == 24
    assert trained_timesteps(TrainSettings(sample_steps=10, train_timesteps=3)) == 3
    assert trained_timesteps(TrainSettings(algorithm="grpo", sample_steps=6, train_timesteps=0)) == 5   # every step
    TrainSettings(sample_steps=10, train_timesteps=0).check()
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match="GRPO: must be <= the 5 trajectory steps"):
        TrainSettings(algorithm="grpo", sample_steps=6, train_timesteps=6).check()


def _with_preference(cfg, **preference):
    from trainer.config import config_from_dict
    d = cfg.to_dict()
    d["preference"].update(preference)
    return config_from_dict(d)


def test_block_modulation_is_on_for_sd3_in_the_references_form_by_default(tiny_sd3_path, tmp_path):
    from pareto_core import load_paretoslider
    tr = Trainer(tiny_config(tiny_sd3_path, tmp_path / "run"), rewards=[brightness, redness])
    e = tr.trainable.embedding
    # the references' temb_blk_shared: SliderProjector (fourier, num_freqs 1), residual form, every block
    assert (e.block_modulation, e.block_projector, e.num_frequencies, e.block_form, e.block_fraction) == \
        (True, "fourier", 1, "residual", 1.0)
    seen = []
    tr.modules.block_modulation.extender.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    omega = torch.tensor([[0.25, 0.75]])
    with torch.no_grad():
        tr.modules.block_vector(omega)
    # sin/cos(π·2^0·ω) per component: ω1 = 0.25 → (sin π/4, cos π/4), ω2 = 0.75 → (sin 3π/4, cos 3π/4)
    r = 2 ** -0.5
    assert seen[0] == pytest.approx(torch.tensor([[r, r, r, -r]]), abs=1e-6)
    with torch.no_grad():
        assert float(tr.modules.block_vector(omega).abs().max()) == 0.0    # last layer zero: a fresh slider = base
    tr.step()
    with torch.no_grad():
        assert float(tr.modules.block_vector(omega).abs().max()) > 0.0      # and it trains
    meta = load_paretoslider(tr.export()).metadata.embedding
    assert (meta.block_modulation, meta.block_projector, meta.num_frequencies) == (True, "fourier", 1)
    tr.close()


def test_block_modulation_stays_off_where_the_references_have_none_and_the_old_form_is_selectable(
        tiny_sd3_path, tiny_kontext_path, tmp_path):
    from trainer.config import ConfigError
    flux = Trainer(tiny_config(tiny_kontext_path, tmp_path / "f", backbone="flux_kontext"),
                   rewards=[brightness, redness])
    assert flux.trainable.embedding.block_modulation is False and flux.modules.block_modulation is None
    flux.close()
    off = Trainer(_with_preference(tiny_config(tiny_sd3_path, tmp_path / "o"), block_modulation=False),
                  rewards=[brightness, redness])
    assert off.modules.block_modulation is None
    off.close()
    old = Trainer(_with_preference(tiny_config(tiny_sd3_path, tmp_path / "s"), block_projector="sinusoidal"),
                  rewards=[brightness, redness])
    assert (old.trainable.embedding.block_projector, old.trainable.embedding.num_frequencies) == ("sinusoidal", 8)
    old.close()
    with pytest.raises(ConfigError, match="preference.block_modulation: is for SD3 and Flux"):
        _with_preference(tiny_config(tiny_sd3_path, tmp_path / "l", backbone="ltx2"), block_modulation=True)
    with pytest.raises(ConfigError, match="preference.block_fraction: must be in"):
        _with_preference(tiny_config(tiny_sd3_path, tmp_path / "x"), block_fraction=0.0)


def test_a_kl_weight_per_objective_mixes_by_omega_by_hand():
    from types import SimpleNamespace

    from trainer.rl.losses import kl_used, kl_weight
    t = SimpleNamespace(kl=0.1, kl_per_objective=[0.5, 2.0])
    omega = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.25, 0.75]])
    assert kl_weight(t, omega).tolist() == pytest.approx([0.5, 2.0, 0.25 * 0.5 + 0.75 * 2.0])
    assert kl_used(SimpleNamespace(kl=0.0, kl_per_objective=[0.0, 1e-4]))
    assert not kl_used(SimpleNamespace(kl=0.0, kl_per_objective=None))
    assert kl_weight(SimpleNamespace(kl=0.1, kl_per_objective=None), omega) == 0.1


def test_equal_per_objective_kl_weights_train_exactly_like_one_kl(tiny_sd3_path, tmp_path):
    from safetensors.torch import load_file

    from trainer.run.train import run
    one = tiny_config(tiny_sd3_path, tmp_path / "one", steps=2, kl=0.3)
    per = tiny_config(tiny_sd3_path, tmp_path / "per", steps=2, kl=0.0, kl_per_objective=[0.3, 0.3])
    skewed = tiny_config(tiny_sd3_path, tmp_path / "skew", steps=2, kl=0.0, kl_per_objective=[0.0, 3.0])
    a, b, c = (load_file(str(run(cfg, rewards=[brightness, redness]))) for cfg in (one, per, skewed))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(not torch.allclose(a[k], c[k], atol=1e-6) for k in a)


@pytest.mark.parametrize("value, message", [
    ([0.1], r"train.kl_per_objective: needs one weight per objective \(2\)"),
    ([0.1, -1], r"train.kl_per_objective: must be numbers >= 0, one per objective"),
])
def test_bad_per_objective_kl_weights_are_refused(tiny_sd3_path, tmp_path, value, message):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match=message):
        tiny_config(tiny_sd3_path, tmp_path / "x", kl_per_objective=value)
