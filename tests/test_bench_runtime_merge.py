"""bench/runtime.py --methods-only --methods …: a rerun of some methods at a scale is merged into the
recorded runtime.json method by method; the others' records stay."""
from bench.runtime import merge_methods


def _run(methods: dict, model: str) -> dict:
    return {"model": model, "methods": {m: {"per_step": {"ratio": r}, "requeue": {"ratio": q, "extra_s": 0.1}}
                                         for m, (r, q) in methods.items()}}


def test_a_partial_rerun_replaces_only_its_methods():
    recorded = {"methods_per_step_ratio": {"real_width": {"paretoslider": 0.99, "blend": 1.76}},
                "methods_requeue_ratio": {"real_width": {"paretoslider": 1.0, "blend": 1.0}},
                "real_width_per_step_ratio": 0.99, "real_width_requeue_ratio": 1.0,
                "details": {"methods": {"real_width": _run({"paretoslider": (0.99, 1.0), "blend": (1.76, 1.0)}, "old")}}}
    merge_methods(recorded, {"real_width": _run({"paretoslider_per_objective": (1.01, 1.3)}, "new")}, None)
    assert recorded["methods_per_step_ratio"]["real_width"] == {"paretoslider": 0.99, "blend": 1.76,
                                                                "paretoslider_per_objective": 1.01}
    assert recorded["methods_requeue_ratio"]["real_width"]["paretoslider_per_objective"] == 1.3
    assert recorded["real_width_per_step_ratio"] == 0.99         # ParetoSlider's keys: not rerun, kept
    details = recorded["details"]["methods"]["real_width"]
    assert sorted(details["methods"]) == ["blend", "paretoslider", "paretoslider_per_objective"]
    assert details["model"] == "new"
    merge_methods(recorded, {"real_width": _run({"paretoslider": (1.0, 1.01)}, "new")}, None)
    assert recorded["real_width_per_step_ratio"] == 1.0 and recorded["real_width_requeue_ratio"] == 1.01
