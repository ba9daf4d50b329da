"""Numeric checks with ComfyUI imported as a library (in ComfyUI's own python)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def checks(comfy_base) -> dict:
    return run_check(comfy_base, "all")


def run_check(comfy_base, check: str) -> dict:
    root, _ = comfy_base
    proc = subprocess.run([comfy_python(), str(HERE / "inprocess_checks.py"), str(comfy_dir()), str(REPO),
                           str(root), check], env=comfy_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_model_info_detects_architecture_and_width(checks):
    info = checks["model_info"]
    assert info["sd3"] == {"architecture": "sd3", "width": 128, "embedder": "t_embedder"}
    assert info["flux"] == {"architecture": "flux", "width": 128, "embedder": "time_in"}


def test_per_sample_preference_follows_rows_of_cond_and_uncond_chunks(checks):
    for name, r in checks["per_sample"].items():
        assert r["max_abs_err"] < 1e-5, name


def test_requeue_with_new_preference_does_not_repatch_lora_weights(checks):
    r = checks["no_repatch"]
    assert r["first"]["weight_patch_calls"] > 0
    assert r["new_omega"]["weight_patch_calls"] == 0 and r["new_omega_2"]["weight_patch_calls"] == 0
    assert r["new_strength"]["weight_patch_calls"] > 0
    assert r["same_uuid"] and r["same_weights"]
    assert r["omega_changed_output"] > 1e-3
    assert all(v["hooks_left"] == 0 for k, v in r.items() if isinstance(v, dict))


def test_lora_key_that_maps_to_nothing_is_an_error_naming_it(checks):
    err = checks["unmapped_key"]["error"]
    assert "transformer.no_such_block.attn.to_q.lora_A.weight" in err and "do not match this model" in err


def test_ltx_video_v1_is_refused_with_a_clear_message(checks):
    refusal = checks["ltxv"]["refusal"]
    assert refusal.startswith("ParetoSliderError (builtins): trained ParetoSlider files are for SD3 / SD3.5, "
                              "Flux / Flux Kontext and LTX-2 models; this model is LTX-Video. On this model use "
                              "'ParetoSlider from LoRAs'"), refusal
    assert "\n" not in refusal


def test_ltx_preference_enters_adaln_single_emb_per_sample_and_per_token(checks):
    r = checks["ltxv"]   # LTX-2's ModelInfo on the LTX-Video network its LTXAVModel extends
    assert r["architecture"] == "ltx2" and r["embedder"] == "adaln_single.emb" and r["row_expand"] == "interleave"
    assert r["single_err"] < 1e-5      # row i of a batch == sample i alone
    assert r["per_token_err"] < 1e-5   # per-token timesteps (denoise mask): ω repeated per token
    assert r["omega_effect"] > 1e-3 and r["rows_differ"] > 1e-3


def test_front_preview_draws_the_stored_front_and_the_marker_follows_omega(checks):
    r = checks["front_preview"]
    assert r["shape"] == [1, 288, 384, 3] and r["dtype"] == "torch.float32"   # width 384, height 3/4
    assert 0.0 <= r["range"][0] and r["range"][1] <= 1.0
    assert r["message_when_front"] is None
    assert r["bad_preference"].startswith("ParetoSliderError: ") and "3 value(s)" in r["bad_preference"]
    assert r["omega_moves_marker"] > 200 and r["same_omega_same_image"] == 0
    (xa, ya), (xb, yb) = r["marker_a"], r["marker_b"]
    assert xb < xa - 50 and yb < ya - 30   # ω (0.2, 0.8): less of scorer 1 (x), more of scorer 2 (y up)
    assert r["marker_drawn"] > 200 and r["rows_drawn"] > 200   # one ω, and a sweep's N rows
    assert r["tiny_shape"] == [1, 384, 512, 3]   # a minimal front (no scorers/hypervolume keys) still draws
    assert r["ui_files"] == [True]               # the UI preview was written


def test_front_preview_without_a_front_shows_how_to_add_one(checks):
    r = checks["front_preview"]["no_front"]
    assert r["shape"] == [1, 288, 384, 3]
    assert r["message"].startswith("no measured front in this file: run python -m trainer eval")
    assert r["message"].endswith("to add one")
    assert r["differs_from_plot"] > 1000 and r["background"] > 0.9
