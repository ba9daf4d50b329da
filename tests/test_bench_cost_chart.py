"""bench/cost_chart.py: the quality-vs-inference-cost chart reads every number from the records it names."""
from __future__ import annotations

import json

import pytest

from bench import cost_chart


def _records():
    hv = {m: {"mean": 0.1 + i / 100, "min": 0.09 + i / 100, "max": 0.11 + i / 100, "per_seed": [0, 0, 0]}
          for i, m in enumerate(cost_chart.METHODS)}
    front = {"protocol": {"training_rewards": ["brightness", "saturation"]}, "hypervolume": {"heldout": hv}}
    step = {"paretoslider": 0.99, "soups": 1.0, "blend": 1.76, "msdda": 1.77}
    requeue = {"paretoslider": 1.0, "soups": 1.27, "blend": 1.0, "msdda": 1.01}
    runtime = {"methods_per_step_ratio": {"real_width": step}, "methods_requeue_ratio": {"real_width": requeue},
               "details": {"methods": {"real_width": {"methods": {
                   m: {"requeue": {"extra_s": 0.8 if m == "soups" else 0.0}} for m in cost_chart.METHODS}}}}}
    return front, runtime


def test_each_point_is_read_from_the_named_record_fields():
    front, runtime = _records()
    pts = {p["method"]: p for p in cost_chart.chart_points(front, runtime)}
    assert [p for p in pts] == list(cost_chart.METHODS)
    assert pts["blend"]["hv"] == pytest.approx(0.12) and pts["blend"]["hv_max"] == pytest.approx(0.13)
    assert pts["soups"]["requeue_ratio"] == 1.27 and pts["soups"]["requeue_extra_s"] == 0.8
    assert pts["msdda"]["step_ratio"] == 1.77
    # one model call per step for the trained slider and soups; one per LoRA (m = 2) for blend / MSDDA
    assert [pts[m]["calls_per_step"] for m in cost_chart.METHODS] == [1, 1, 2, 2]
    assert pts["soups"]["sources"]["requeue_ratio"] == "runtime.json methods_requeue_ratio.real_width.soups"
    front["protocol"]["training_rewards"].append("muted")
    assert cost_chart.chart_points(front, runtime)[2]["calls_per_step"] == 3


def test_a_per_objective_record_takes_that_files_costs_and_the_shared_lora_record_its_own():
    front, runtime = _records()
    runtime["methods_per_step_ratio"]["real_width"]["paretoslider_per_objective"] = 1.01
    runtime["methods_requeue_ratio"]["real_width"]["paretoslider_per_objective"] = 1.3
    runtime["details"]["methods"]["real_width"]["methods"]["paretoslider_per_objective"] = {"requeue": {"extra_s": 0.9}}
    shared = json.loads(json.dumps(front))
    shared["hypervolume"]["heldout"]["paretoslider"]["mean"] = 0.05
    front["protocol"]["slider_overrides"] = {"lora": {"per_objective": True}}
    pts = cost_chart.chart_points(front, runtime, shared=shared)
    assert [p["method"] for p in pts] == ["paretoslider_per_objective", "paretoslider", "soups", "blend", "msdda"]
    assert pts[0]["requeue_ratio"] == 1.3 and pts[0]["hv"] == pytest.approx(0.1)
    assert pts[1]["requeue_ratio"] == 1.0 and pts[1]["hv"] == 0.05
    assert pts[1]["sources"]["hv"] == "front_shared_lora.json hypervolume.heldout.paretoslider"


def test_the_chart_and_its_table_are_written(tmp_path):
    front, runtime = _records()
    (tmp_path / "front.json").write_text(json.dumps(front))
    (tmp_path / "runtime.json").write_text(json.dumps(runtime))
    assert cost_chart.main(["--results", str(tmp_path), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 10_000
    table = cost_chart.markdown(cost_chart.chart_points(front, runtime), "SD3.5 Medium width")
    assert "| rewarded soups (2 LoRAs, weights mixed) | 0.1100 [0.1000, 0.1200] | 1 | 1.00 | 1.27 (+0.80 s) |" in table
