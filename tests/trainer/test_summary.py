"""trainer.evaluation.summary: the numbers of a sweep agree with trainer.evaluation.pareto; the front a file stores."""
import json

import numpy as np
import pytest
import torch

from trainer.backbones.base import Sample
from trainer.errors import UserError
from trainer.evaluation.pareto import hypervolume, non_dominated, spearman
from trainer.evaluation.summary import front_metadata, summarize
from trainer.evaluation.sweep import SweepResult, omega_grid


def random_result(n=7, s=5, scorers=("a", "b"), base=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    return SweepResult(omega=omega_grid(2, points=n), samples=[Sample(f"p{i}") for i in range(s)],
                       scores={k: torch.rand(n, s, generator=g) for k in scorers},
                       base_scores={k: torch.rand(s, generator=g) for k in scorers} if base else None)


def test_hypervolume_front_and_spearman_are_trainer_paretos_on_the_per_omega_means():
    res = random_result(scorers=("a", "b", "c"))
    s = summarize(res, reference=[0.1, 0.0, 0.2])
    pts = np.stack([res.scores[k].mean(1).numpy() for k in ("a", "b", "c")], 1)
    assert s["hypervolume"] == pytest.approx(hypervolume(pts, [0.1, 0.0, 0.2]))
    assert s["non_dominated"] == [int(i) for i in np.flatnonzero(non_dominated(pts))]
    assert [p["non_dominated"] for p in s["per_omega"]] == list(non_dominated(pts))
    assert s["spearman"]["b"]["objective_1"] == pytest.approx(spearman(res.omega[:, 1].numpy(), pts[:, 1]))
    assert s["reference_source"] == "given" and s["num_samples"] == 5
    json.dumps(s)                                        # eval.json is the summary as it is


def test_the_default_reference_is_the_minimum_over_the_points_and_the_base_model():
    res = random_result(base=True)
    s = summarize(res)
    pts = np.stack([res.scores[k].mean(1).numpy() for k in ("a", "b")], 1)
    base = np.array([[float(res.base_scores[k].mean()) for k in ("a", "b")]])
    assert s["reference"] == pytest.approx(list(np.vstack([pts, base]).min(0)))
    assert "base model" in s["reference_source"]
    assert s["base"]["a"]["mean"] == pytest.approx(base[0, 0])
    assert s["base"]["b"]["std"] == pytest.approx(float(res.base_scores["b"].std(unbiased=False)))


def test_one_scorer_measures_the_best_mean_above_the_reference():
    res = random_result(scorers=("a",))
    s = summarize(res, reference=[0.25])
    assert s["hypervolume"] == pytest.approx(float(res.scores["a"].mean(1).max()) - 0.25)


def test_a_reference_of_the_wrong_length_is_a_user_error_naming_the_scorers():
    with pytest.raises(UserError, match=r"3 values for 2 scorers \(a, b\)"):
        summarize(random_result(), reference=[0, 0, 0])


def test_constant_scores_give_no_spearman_instead_of_nan():
    res = SweepResult(omega=omega_grid(2, points=3), samples=[Sample("p")],
                      scores={"a": torch.ones(3, 1), "b": torch.tensor([[0.0], [1.0], [2.0]])})
    s = summarize(res, objective_names=["x", "y"])
    assert s["spearman"]["a"] == {"x": None, "y": None}
    assert s["spearman"]["b"]["y"] == pytest.approx(1.0)


def test_front_metadata_keeps_the_plotted_numbers_the_base_means_and_extras():
    s = summarize(random_result(base=True), reference=[0, 0])
    front = front_metadata(s, {"steps": 10})
    assert set(front) == {"omega", "scores", "std", "scorers", "hypervolume", "reference", "base", "steps"}
    assert front["base"] == {k: v["mean"] for k, v in s["base"].items()}
    assert front["scores"] == s["scores"] and front["steps"] == 10
    assert "base" not in front_metadata(summarize(random_result(), reference=[0, 0]))
