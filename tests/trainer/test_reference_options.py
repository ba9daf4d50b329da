"""The trainer matches DiffusionNFT / the reference ParetoSlider script by default, and each old
behaviour stays selectable (issue 12, item 1): loss scale, old-policy EMA, training σ, ω mix,
group-ε and the SD3 timestep dtype. Hand-computed values throughout."""
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
    tr = _trainer(tiny_sd3_path, tmp_path, sample_steps=10, train_timesteps=4)
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


def test_schedule_sampling_refuses_more_points_than_schedule_steps(tiny_sd3_path, tmp_path):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match="train.train_timesteps"):
        tiny_config(tiny_sd3_path, tmp_path, sample_steps=2, train_timesteps=2)


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
])
def test_bad_reference_options_name_the_field_and_the_allowed_values(tiny_sd3_path, tmp_path, field, value, message):
    from trainer.config import ConfigError
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")):
        tiny_config(tiny_sd3_path, tmp_path, **{field: value})


def test_bad_timestep_dtype_is_refused(tiny_sd3_path, tmp_path):
    from trainer.config import ConfigError, config_from_dict
    cfg = tiny_config(tiny_sd3_path, tmp_path).to_dict()
    cfg["model"]["timestep_dtype"] = "fp8"
    with pytest.raises(ConfigError, match="model.timestep_dtype: must be fp32 or model"):
        config_from_dict(cfg)
