"""A few real training steps on tiny random SD3 and Flux Kontext pipelines loaded from local folders."""

import pytest
import torch
from testsupport.trainer_helpers import brightness, redness, tiny_config

from pareto_core import load_paretoslider
from trainer.run.train import Trainer, TrainingDiverged, run


def _check_file(path, architecture, width, rank=2, alpha=4.0):
    f = load_paretoslider(path)
    m = f.metadata
    assert m.architecture == architecture and m.width == width
    assert [o.name for o in m.objectives] == ["bright", "red"]
    assert [o.label for o in m.objectives] == ["Bright", "Red"]
    assert m.objectives[1].reward == "testsupport.trainer_helpers:redness"
    assert m.lora["rank"] == rank and m.lora["alpha"] == alpha
    assert m.training["algorithm"] in ("nft", "grpo") and m.training["steps"] >= 1
    a_keys = [k for k in f.lora if k.endswith(".lora_A.weight")]
    assert a_keys and all(k.startswith("transformer.") for k in f.lora)
    for k in a_keys:
        module = k[: -len(".lora_A.weight")]
        assert f.lora[module + ".lora_A.weight"].shape[0] == rank
        assert f.lora[module + ".lora_B.weight"].shape[1] == rank
        assert f.lora[module + ".alpha"].numel() == 1 and f.lora[module + ".alpha"].item() == alpha
    # training moved the LoRA (B starts at zero) and the preference MLP (last layer starts at zero)
    assert any(f.lora[k].abs().sum() > 0 for k in f.lora if k.endswith("lora_B.weight"))
    assert f.preference_state["embedding.net.2.weight"].abs().sum() > 0
    return f


def test_sd3_nft_smoke_writes_a_valid_file(tiny_sd3_path, tmp_path):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=2)
    cfg.output.tensorboard = True
    path = run(cfg)
    f = _check_file(path, "sd3", 128)
    assert any(".to_q." in k for k in f.lora) and any(".add_q_proj." in k for k in f.lora)
    csv = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("step,") and "rewards/bright/mean" in csv[0] and len(csv) == 3
    assert list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))


def test_flux_kontext_nft_smoke_writes_a_valid_file(tiny_kontext_path, edits_jsonl, tmp_path):
    cfg = tiny_config(tiny_kontext_path, tmp_path / "run", backbone="flux_kontext", steps=2)
    cfg.data.prompts, cfg.data.edits = None, str(edits_jsonl)
    cfg.model.offload_text_encoders = True
    seen = []

    def fidelity(images, prompts, sources):
        seen.append((images.shape, None if sources is None else sources.shape, list(prompts)))
        return -(images - sources).abs().mean(dim=(1, 2, 3))

    path = run(cfg, rewards={"bright": brightness, "red": fidelity})
    _check_file(path, "flux", 128)
    shape, src_shape, prompts = seen[0]
    assert shape == src_shape == (4, 3, 32, 32)   # 1 prompt x 2 omegas x 2 samples
    assert set(prompts) <= {"make it blue", "add snow"}


def test_sd3_grpo_smoke(tiny_sd3_path, tmp_path):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=1, algorithm="grpo", sample_steps=3)
    path = run(cfg, rewards=[brightness, redness])
    _check_file(path, "sd3", 128)


def test_fixed_preference_run_trains_at_one_omega(tiny_sd3_path, tmp_path):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=1)
    cfg.preference.fixed = [0.25, 0.75]
    trainer = Trainer(cfg, rewards=[brightness, redness])
    _, omega, groups = trainer._draw_batch()
    assert torch.allclose(omega, torch.tensor([0.25, 0.75]).expand_as(omega))
    path = run(cfg, rewards=[brightness, redness])
    assert load_paretoslider(path).metadata.training["fixed_preference"] == [0.25, 0.75]


def test_nan_guard_skips_steps_then_stops(tiny_sd3_path, tmp_path, monkeypatch, capsys):
    from trainer.rl import losses
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=5, max_nan_steps=2)
    trainer = Trainer(cfg, rewards=[brightness, redness])
    before = [p.detach().clone() for p in trainer.policy.params]

    def nan_loss(v, *args, **kwargs):
        bad = v.mean(dim=tuple(range(1, v.ndim))) * float("nan")
        return bad, torch.stack([bad, bad], 1)
    monkeypatch.setattr(losses, "late_scalarised_nft_loss", nan_loss)
    trainer.step()
    assert "non-finite loss" in capsys.readouterr().out
    assert all(torch.equal(a, p) for a, p in zip(before, trainer.policy.params))
    with pytest.raises(TrainingDiverged, match="max_nan_steps=2"):
        trainer.step()


def test_fp16_loss_scale_overflow_halves_the_scale_without_counting_as_nan(tiny_sd3_path, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=2, max_nan_steps=1)
    trainer = Trainer(cfg, rewards=[brightness, redness])
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16, growth_interval=1000)   # as fp16 on CUDA
    sync = trainer._sync_grads

    def overflow():                      # what an fp16 backward with too large a scale produces
        sync()
        trainer.policy.params[0].grad.view(-1)[0] = float("inf")
    monkeypatch.setattr(trainer, "_sync_grads", overflow)
    before = [p.detach().clone() for p in trainer.policy.params]
    trainer.step()                       # max_nan_steps=1 would raise if this counted as a NaN step
    assert trainer.nan_streak == 0 and trainer.scaler.get_scale() == 2.0 ** 15
    assert all(torch.equal(a, p) for a, p in zip(before, trainer.policy.params))


def test_bf16_autocast_with_checkpointing_and_block_modulation(tiny_sd3_path, tmp_path):
    """The GPU configuration (bf16 weights + autocast, fp32 LoRA and preference modules, gradient
    checkpointing), exercised on CPU, with block modulation on."""
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=1)
    cfg.model.dtype, cfg.model.gradient_checkpointing, cfg.preference.block_modulation = "bf16", True, True
    trainer = Trainer(cfg, rewards=[brightness, redness])
    assert next(trainer.backbone.transformer.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in trainer.policy.params)
    metrics = trainer.step()
    assert metrics["skipped_updates"] == 0 and metrics["grad_norm"] > 0
    f = load_paretoslider(trainer.export())
    assert f.metadata.embedding.block_modulation
    assert f.preference_state["block_modulation.net.2.weight"].abs().sum() > 0


def test_the_file_records_how_it_was_sampled_in_training(tiny_sd3_path, tmp_path):
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", steps=1, sample_steps=3)
    t = load_paretoslider(run(cfg, rewards=[brightness, redness])).metadata.training
    assert (t.resolution, t.sample_steps, t.cfg, t.guidance, t.steps, t.algorithm) == (32, 3, 1.0, None, 1, "nft")
    assert set(t.final_rewards) == {"bright", "red"}
