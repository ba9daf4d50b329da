"""bench/toytask/sampling on the trainer's sampler and merge: pieces from files, soups as merged
deltas, Diffusion Blend as a blend of velocity functions, fixed-weight runs at their own ω.
A small random toy transformer: no committed base model needed."""
from __future__ import annotations

import pytest
import torch

from bench.toytask import sampling
from pareto_core import (
    EmbeddingConfig,
    Objective,
    ParetoSliderMetadata,
    PreferenceModules,
    TrainingMetadata,
    save_paretoslider,
)
from trainer.backbones.toy import ToyBackbone

CONFIG = {"sample_size": 8, "patch_size": 2, "in_channels": 3, "out_channels": 3, "num_layers": 1,
          "attention_head_dim": 16, "num_attention_heads": 2, "joint_attention_dim": 16, "caption_projection_dim": 32,
          "pooled_projection_dim": 8, "pos_embed_max_size": 4}
TARGET = "transformer_blocks.0.attn.to_q"


def backbone() -> ToyBackbone:
    return ToyBackbone(path=None, config=CONFIG)


def random_modules(width: int, seed: int) -> PreferenceModules:
    modules = PreferenceModules(EmbeddingConfig(2, width, hidden=8))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in modules.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return modules


def piece(bb, seed: int, fixed=None) -> sampling.Piece:
    g = torch.Generator().manual_seed(100 + seed)
    w = bb.transformer.get_submodule(TARGET).weight
    delta = {TARGET: torch.randn(w.shape, generator=g, dtype=torch.float64) * 0.2}
    return sampling.Piece(delta, random_modules(bb.width, seed),
                          None if fixed is None else torch.tensor(fixed, dtype=torch.float32))


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    bb = backbone()
    es = sampling.make_eval_set(bb, per_prompt=1, seed=1234)
    return bb, es, bb.sigmas(3)


def run(terms, es, omega, sigmas):
    return sampling.sample(terms, es, torch.tensor(omega), sigmas)


def test_load_piece_reads_the_fixed_preference_a_fixed_weight_run_was_trained_at(tmp_path):
    bb = backbone()
    cfg = EmbeddingConfig(2, bb.width, hidden=8)
    lora = {f"transformer.{TARGET}.lora_A.weight": torch.randn(2, 32), f"transformer.{TARGET}.lora_B.weight":
            torch.randn(32, 2), f"transformer.{TARGET}.alpha": torch.tensor(4.0)}
    for fixed in ([0.25, 0.75], None):
        meta = ParetoSliderMetadata(architecture="sd3", width=bb.width, embedding=cfg,
                                    objectives=[Objective("a"), Objective("b")],
                                    training=TrainingMetadata(fixed_preference=fixed))
        p = sampling.load_piece(save_paretoslider(tmp_path / "f.safetensors", meta, lora, PreferenceModules(cfg)))
        assert (p.fixed_preference is None) == (fixed is None)
        if fixed is not None:
            assert p.fixed_preference.tolist() == fixed
        b, a = lora[f"transformer.{TARGET}.lora_B.weight"], lora[f"transformer.{TARGET}.lora_A.weight"]
        assert torch.allclose(p.deltas[TARGET], 2.0 * b.double() @ a.double())


def test_policy_merges_the_summed_deltas_and_restores_the_weights(setup):
    bb, es, _ = setup
    a, b = piece(bb, 0), piece(bb, 1)
    w = bb.transformer.get_submodule(TARGET).weight
    w0 = w.detach().clone()
    with sampling.policy_velocity(bb, [(0.3, a), (0.7, b)], es.cond, torch.tensor([0.5, 0.5])):
        expected = w0 + (0.3 * a.deltas[TARGET] + 0.7 * b.deltas[TARGET]).float()
        assert torch.allclose(w, expected, atol=1e-6)
    assert torch.equal(w, w0)


def test_soups_at_a_corner_are_that_end_run_and_in_between_differ(setup):
    bb, es, sig = setup
    a, b = piece(bb, 0, fixed=[1.0, 0.0]), piece(bb, 1, fixed=[0.0, 1.0])
    only_a = run([(1.0, bb, [(1.0, a)])], es, [1.0, 0.0], sig)
    soup_corner = run([(1.0, bb, [(1.0, a), (0.0, b)])], es, [1.0, 0.0], sig)
    assert torch.allclose(only_a, soup_corner, atol=1e-5)
    soup_mid = run([(1.0, bb, [(0.5, a), (0.5, b)])], es, [0.5, 0.5], sig)
    assert not torch.allclose(only_a, soup_mid, atol=1e-3)


def test_a_fixed_weight_run_ignores_the_sweep_omega_and_a_conditioned_one_follows_it(setup):
    bb, es, sig = setup
    fixed, conditioned = piece(bb, 0, fixed=[1.0, 0.0]), piece(bb, 0)
    assert torch.equal(run([(1.0, bb, [(1.0, fixed)])], es, [1.0, 0.0], sig),
                       run([(1.0, bb, [(1.0, fixed)])], es, [0.0, 1.0], sig))
    # at its own ω the fixed run is the conditioned run
    assert torch.allclose(run([(1.0, bb, [(1.0, fixed)])], es, [0.0, 1.0], sig),
                          run([(1.0, bb, [(1.0, conditioned)])], es, [1.0, 0.0], sig), atol=1e-5)
    assert not torch.allclose(run([(1.0, bb, [(1.0, conditioned)])], es, [1.0, 0.0], sig),
                              run([(1.0, bb, [(1.0, conditioned)])], es, [0.0, 1.0], sig), atol=1e-3)


def test_blend_weights_velocities_of_policies_on_their_own_backbones(setup):
    bb, es, sig = setup
    bb1 = backbone()
    bb1.transformer.load_state_dict(bb.transformer.state_dict())
    a, b = piece(bb, 0, fixed=[1.0, 0.0]), piece(bb, 1, fixed=[0.0, 1.0])
    only_a = run([(1.0, bb, [(1.0, a)])], es, [1.0, 0.0], sig)
    assert torch.allclose(run([(1.0, bb, [(1.0, a)]), (0.0, bb1, [(1.0, b)])], es, [1.0, 0.0], sig), only_a)
    # the same policy on both backbones: 0.4 v + 0.6 v = v
    assert torch.allclose(run([(0.4, bb, [(1.0, a)]), (0.6, bb1, [(1.0, a)])], es, [0.4, 0.6], sig), only_a,
                          atol=1e-5)
    mixed = run([(0.5, bb, [(1.0, a)]), (0.5, bb1, [(1.0, b)])], es, [0.5, 0.5], sig)
    assert not torch.allclose(mixed, only_a, atol=1e-3)
    with pytest.raises(ValueError, match="one backbone per policy"):
        run([(0.5, bb, [(1.0, a)]), (0.5, bb, [(1.0, b)])], es, [0.5, 0.5], sig)


def test_the_base_model_is_the_policy_without_parts(setup):
    bb, es, sig = setup
    from trainer.sampling import euler_sample
    with torch.no_grad():
        direct = euler_sample(lambda x, s: bb.velocity(x, s, es.cond), es.noise, sig)
    assert torch.equal(run([(1.0, bb, [])], es, [0.5, 0.5], sig), direct)


def test_msdda_combines_the_policies_sde_steps_with_the_eval_sets_fixed_step_noise(setup):
    bb, es, sig = setup
    bb1 = backbone()
    bb1.transformer.load_state_dict(bb.transformer.state_dict())
    a, b = piece(bb, 0, fixed=[1.0, 0.0]), piece(bb, 1, fixed=[0.0, 1.0])
    terms = [(0.3, bb, [(1.0, a)]), (0.7, bb1, [(1.0, b)])]
    om = torch.tensor([0.3, 0.7])
    first = sampling.sample(terms, es, om, sig, combine="msdda")
    # the step noise is fixed by the eval set: the same call gives the same images
    assert torch.equal(first, sampling.sample(terms, es, om, sig, combine="msdda"))
    # shared step variance: MSDDA is the SDE rollout of the blended velocity, not the Euler ODE of it
    with sampling.policy_velocity(bb, [(1.0, a)], es.cond, om) as va, \
            sampling.policy_velocity(bb1, [(1.0, b)], es.cond, om) as vb:
        from trainer.sampling import blend, sde_sample
        want, _, _ = sde_sample(blend([(0.3, va), (0.7, vb)]), es.noise, sig, sampling.MSDDA_ETA,
                                torch.Generator().manual_seed(es.step_seed))
    assert torch.allclose(first, want, atol=1e-5)
    assert not torch.allclose(first, sampling.sample(terms, es, om, sig), atol=1e-3)
    with pytest.raises(ValueError, match="combine must be"):
        sampling.sample(terms, es, om, sig, combine="average")
