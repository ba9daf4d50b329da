"""The MSDDA sampler on ε- and v-prediction models (SD1.5-like, tiny, random) inside ComfyUI, run in
ComfyUI's python by msdda_eps_checks.py: the ancestral step of docs/LORA_SLIDERS.md ('MSDDA on ε-
and v-prediction models') against ComfyUI's own euler / euler_ancestral, and the flow path unchanged."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent
KINDS = ("eps", "v_prediction", "v_prediction_edm_continuous")


@pytest.fixture(scope="module")
def checks() -> dict:
    proc = subprocess.run([comfy_python(), str(HERE / "msdda_eps_checks.py"), str(comfy_dir()), str(REPO)],
                          capture_output=True, text=True, timeout=300,
                          env=comfy_env({"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eps_and_v_models_take_the_ancestral_step(checks):
    assert checks["sampling_types"] == {"eps": "EPS", "v_prediction": "V_PREDICTION",
                                        "v_prediction_edm_continuous": "V_PREDICTION"}
    assert set(checks["step_kinds"].values()) == {"ancestral"}
    assert checks["marks_transformer_options"]


def test_the_node_has_an_eta_per_frame_and_old_graphs_with_eta_alone_still_run(checks):
    r = checks["node_inputs"]
    assert r["eta"] == {"default": 0.7, "optional": False}
    assert r["eta_ancestral"] == {"default": 1.0, "optional": True}
    assert r["extra_options_with_eta_alone"] == {"eta": 0.5, "eta_ancestral": 1.0}


def test_at_eta_0_the_msdda_sampler_is_comfyuis_euler(checks):
    """η = 0 is the Euler (DDIM) step: bit-identical to the euler KSAMPLER for discrete (karras,
    normal) and continuous (EDM) σ schedules."""
    for kind in KINDS:
        for scheduler, r in checks["eta0_is_euler"][kind].items():
            assert r["equal"], (kind, scheduler, r)


def test_with_eta_the_msdda_sampler_is_euler_ancestral_fed_the_same_noise(checks):
    for kind in KINDS:
        for eta, r in checks["eta_matches_euler_ancestral"][kind].items():
            assert r["max_diff"] <= 1e-5 * max(1.0, r["scale"]), (kind, eta, r)
            assert r["vs_eta0"] > 0.05 * r["scale"], (kind, eta, r)     # the noise is really there


def test_one_ancestral_step_is_the_formula_with_the_seeded_noise(checks):
    for label, r in checks["one_step"].items():
        assert 0 < r["sigma_up"] < r["sigma_next"] < r["sigma"]
        assert abs(r["sigma_up"] ** 2 + r["sigma_down"] ** 2 - r["sigma_next"] ** 2) < 1e-9
        assert r["max_diff"] <= 1e-6 * max(1.0, r["scale"]) and r["noise_part"] > 0.1, (label, r)


def test_x0_and_img_to_img_models_are_refused_on_one_line_naming_the_type(checks):
    for kind, r in checks["refusals"].items():
        assert r["raised"] == "ParetoSliderError" and r["is_user_error"], r
        assert "\n" not in r["message"] and r["message"].endswith(f"sampling type {kind}"), r


def test_flow_models_sample_bit_identically_to_the_flow_only_sampler(checks):
    for eta, r in checks["flow_unchanged"].items():
        assert r["equal"] and r["sigma_max"] == 1.0, (eta, r)
