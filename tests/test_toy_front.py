"""CI-sized version of the CPU toy benchmark (bench/front.py): a short ParetoSlider run of the
product's trainer on the toy task must (1) move each reward in its expected direction as ω moves
toward it and (2) keep the fidelity floor (>= 80% of the base model's classifier probability of
the prompt's shape + colour) at ω = 0.5. About two minutes on 2 CPU cores.
"""
from __future__ import annotations

import os

import pytest
import torch

from trainer.backbones.toy import DEFAULT_BASE

STEPS = 30          # decided with the bench settings; see docs/BENCHMARK.md ("CI test")
FLOOR = 0.8


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from bench.toytask import task
    assert DEFAULT_BASE.is_file(), f"toy base model {DEFAULT_BASE} missing (python -m bench.toytask.pretrain)"
    torch.set_num_threads(int(os.environ.get("PARETOSLIDER_TEST_THREADS", "2")))
    out = tmp_path_factory.mktemp("toy_front")
    path = task.train(out, STEPS, seed=0)
    return path


@pytest.fixture(scope="module")
def scores(trained):
    from bench.toytask import classifier, sampling, task
    from bench.toytask.evaluators import training_rewards
    bb = task.backbone()
    es = sampling.make_eval_set(bb, per_prompt=2, seed=1234)
    sig = bb.sigmas(10)
    rewards = training_rewards()
    net = classifier.load()
    piece = sampling.load_piece(trained)
    out = {}
    for name, parts, omega in (("base", [], (0.5, 0.5)), ("bright", [(1.0, piece)], (1.0, 0.0)),
                               ("middle", [(1.0, piece)], (0.5, 0.5)), ("saturated", [(1.0, piece)], (0.0, 1.0))):
        x = sampling.sample([(1.0, bb, parts)], es, torch.tensor(omega), sig)
        images = bb.decode(x)
        out[name] = {k: float(r(images, es.prompts).mean()) for k, r in rewards.items()}
        out[name]["fidelity"] = float(classifier.fidelity(net, images, es.labels)[0].mean())
    return out


def test_trained_file_is_a_valid_paretoslider_for_the_toy_backbone(trained):
    from pareto_core import load_paretoslider
    f = load_paretoslider(trained)
    assert f.metadata.architecture == "sd3" and f.metadata.width == 96
    assert [o.name for o in f.metadata.objectives] == ["brightness", "saturation"]
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in f.lora.items())


def test_omega_moves_brightness_toward_its_end(scores):
    assert scores["bright"]["brightness"] > scores["middle"]["brightness"] > scores["saturated"]["brightness"], scores


def test_omega_moves_saturation_toward_its_end(scores):
    assert scores["saturated"]["saturation"] > scores["middle"]["saturation"] > scores["bright"]["saturation"], scores


def test_each_end_beats_the_base_on_its_own_reward(scores):
    assert scores["bright"]["brightness"] > scores["base"]["brightness"], scores
    assert scores["saturated"]["saturation"] > scores["base"]["saturation"], scores


def test_fidelity_floor_holds_at_the_middle_preference(scores):
    assert scores["middle"]["fidelity"] >= FLOOR * scores["base"]["fidelity"], scores
