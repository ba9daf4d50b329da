"""LoRA-slider internals with ComfyUI imported as a library (in ComfyUI's own python)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def checks(comfy_base) -> dict:
    root, _ = comfy_base
    proc = subprocess.run([comfy_python(), str(HERE / "lora_slider_checks.py"), str(comfy_dir()), str(REPO),
                           str(root)], env=comfy_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_blend_batch_of_m_equals_m_separate_calls_and_rows_follow_cond_uncond_chunks(checks):
    r = checks["batched"]
    assert r["batched_vs_sequential"] < 1e-5
    assert r["rows_err"] < 1e-5                 # per-sample ω: row i of cond and uncond gets ω_i
    assert r["blend_is_weighted_sum"] < 1e-5    # Σ_j ω_j x0_j of the LoRAs alone
    assert r["hooks_left"] == 0 and r["input_model_wrappers"] == 0


def test_moving_omega_repatches_nothing_for_blend_and_once_per_move_for_soups(checks):
    r = checks["repatching"]
    assert all(run["weight_patch_calls"] == 0 for run in r["blend"].values())
    soups = r["soups"]
    assert soups["first"]["weight_patch_calls"] > 0 and soups["new"]["weight_patch_calls"] > 0
    assert soups["same"]["weight_patch_calls"] == 0 and soups["new_2"]["weight_patch_calls"] > 0
    assert all(run["hooks_left"] == 0 for m in ("blend", "soups") for run in r[m].values())
    assert r["input_model_wrappers"] == 0 and r["input_model_patches"] == 0   # nothing leaks upstream


def test_too_many_loras_for_the_methods_memory_is_refused_with_what_to_do(checks):
    msg = checks["memory"]["message"]
    assert msg.startswith("3 LoRAs need") and "for blend" in msg and "use fewer LoRAs, or method soups" in msg
    assert checks["memory"]["soups_ok"]


def test_a_sigma_schedule_is_read_from_the_calls_sigma(checks):
    r = checks["schedule_sigma"]
    assert r["keypoint_err"] < 1e-6 and r["midpoint_err"] < 1e-5


def test_a_lora_slider_stacks_with_a_trained_file_in_either_order(checks):
    r = checks["stacked"]
    assert r["order_err"] < 1e-5 and r["loras_matter"] > 1e-3
