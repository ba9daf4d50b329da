"""A checkpoint of the reference code, imported with `python -m trainer import-reference`, gives the
reference's velocity inside a real ComfyUI (the runtime's Apply node code, nodes/injection.py), for
every conditioning form and both layouts, with ω rows that differ within the batch and cond / uncond
chunks whose pooled text differs (testsupport/reference_sd3.py holds the re-written reference)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from safetensors.torch import load_file, save_file

from testsupport.comfy.comfy_server import REPO, comfy_dir, comfy_env, comfy_python
from testsupport.reference_sd3 import (CASES, base_state, build_reference_sd3, make_case, parity_inputs,
                                       reference_velocity)
from trainer.cli import main

HERE = Path(__file__).resolve().parent


def test_imported_checkpoints_give_the_reference_velocity_in_comfyui(tmp_path):
    work = tmp_path / "work"
    (work / "sliders").mkdir(parents=True)
    save_file(base_state(build_reference_sd3(block_form=None)), str(work / "transformer.safetensors"))
    refs = {}
    # one batch of inputs for every case: cases with 3 objectives run in a second ComfyUI call
    for k in (2, 3):
        cases = [name for name, _, kw in CASES if kw.get("pref_dim", 2) == k]
        for name in cases:
            model, _ = make_case(name, tmp_path / "checkpoints")
            t = parity_inputs(k)
            refs[name] = reference_velocity(model, t)
            assert main(["import-reference", str(tmp_path / "checkpoints" / name),
                         "-o", str(work / "sliders" / f"{name}.safetensors")]) == 0
        save_file({n: v.contiguous() for n, v in parity_inputs(k).items()}, str(work / "inputs.safetensors"))
        proc = subprocess.run([comfy_python(), str(HERE / "reference_import_comfy_side.py"), str(comfy_dir()),
                               str(REPO), str(work)], env=comfy_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        got = load_file(str(work / "comfy_v.safetensors"))
        for name in cases:
            ref = refs[name]
            rel = ((got[name] - ref).norm() / ref.norm()).item()
            print(f"{name}: relative error {rel:.2e}")
            assert rel < 1e-5, f"{name}: ComfyUI vs the reference, relative error {rel:.2e}"
            assert ((got["-"] - ref).norm() / ref.norm()).item() > 1e-2, f"{name}: the file changes nothing"
        errors = json.loads((work / "errors.json").read_text())
        for name in cases:
            if dict(next(c[2] for c in CASES if c[0] == name)).get("use_pooled_text"):
                assert errors[name] and errors[name].startswith("ParetoSliderError: this ParetoSlider file's "
                                                                "block vector reads the prompt's pooled text"), errors
        for path in (work / "sliders").glob("*.safetensors"):
            path.unlink()
