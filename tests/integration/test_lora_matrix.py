"""LoRA sliders on every family ComfyUI LoRA-patches × every LoRA layout × every method, against
ComfyUI's LoraLoaderModelOnly (lora_matrix_checks.py runs the matrix once in ComfyUI's python).

The bar: ≤ 1e-5 of the LoRA's effect (max |ours − reference| / max |reference − base|) at both
vertices, at a middle ω (soups = the LoRAs chained at ω_i·s; blend / msdda = Σ ω_i × each alone),
for per-sample ω (a sweep), cond/uncond chunks and a σ schedule, and for a 2-step sampler run at a
vertex (msdda with the ParetoSlider MSDDA Sampler against LoraLoaderModelOnly + the same sampler).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python

HERE = Path(__file__).resolve().parent
BAR = 1e-5
METHODS = ("soups", "blend", "msdda")
KOHYA = ("kohya", "kohya_te", "kohya_no_alpha_mixed_rank", "comfy_generic", "lokr", "lokr_full", "loha", "dora_kohya")
UNET = KOHYA + ("diffusers_unet", "diffusers_attn_procs", "simpletuner_lokr", "locon", "locon_tucker",
                "loha_tucker_conv")
DIT = KOHYA + ("diffusers_peft", "simpletuner_lokr", "dora_peft")
# family → the layouts its ComfyUI key map takes (the support matrix in docs/LORA_SLIDERS.md)
SUPPORT = {
    "sd15": UNET,
    "sdxl": UNET,
    "sd3": DIT + ("onetrainer", "locon", "locon_tucker", "loha_tucker_conv"),
    "flux": DIT + ("onetrainer",),
    "chroma": DIT + ("onetrainer",),
    "qwen_image": DIT,
    "lumina2": DIT,
    "hunyuan_video": KOHYA + ("diffusers_peft", "dora_peft"),
    "wan": KOHYA,
    "ltx2": KOHYA,
}
CASES = [(family, fmt) for family, formats in SUPPORT.items() for fmt in formats]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("matrix") / "matrix.json"
    proc = subprocess.run([comfy_python(), str(HERE / "lora_matrix_checks.py"), str(comfy_dir()), str(REPO), str(out)],
                          env=comfy_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_family_takes_exactly_the_layouts_of_the_support_matrix(matrix):
    got = {family: sorted(k for k in matrix[family]) for family in SUPPORT}
    assert got == {family: sorted(formats) for family, formats in SUPPORT.items()}


@pytest.mark.parametrize("family,fmt", CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_lora_slider_equals_loraloader_at_vertices_middle_rows_and_schedule(matrix, family, fmt):
    r = matrix[family][fmt]
    assert r["_effect"] > 1e-2, "the LoRAs barely change the output: the check would prove nothing"
    errors = {f"{m}.{check}": err for m in METHODS for check, err in r[m].items()}
    assert set(errors) == {f"{m}.{c}" for m in METHODS
                           for c in ("vertex_0", "vertex_1", "middle", "rows", "cond_uncond", "schedule")}
    assert max(errors.values()) <= BAR, {k: v for k, v in errors.items() if v > BAR}


@pytest.mark.parametrize("family,fmt", CASES, ids=[f"{f}-{m}" for f, m in CASES])
def test_a_short_sampler_run_at_a_vertex_agrees_with_loraloader(matrix, family, fmt):
    r = matrix[family][fmt]["sampling"]
    assert set(r) == set(METHODS)
    assert max(r.values()) <= BAR, r
