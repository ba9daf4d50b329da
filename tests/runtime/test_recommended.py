"""nodes/recommended.py without ComfyUI: a file's training metadata → the sampling settings the
Loader outputs (steps, cfg, width, height), the line it shows, and defaults for older files."""
from __future__ import annotations

import math
import sys

import pytest


@pytest.fixture(scope="module")
def rec(nodes_module):
    return nodes_module("recommended")


@pytest.fixture(scope="module")
def core(nodes_module):
    return sys.modules[nodes_module("recommended").__name__.rsplit(".", 2)[0] + ".pareto_core"]


def meta(core, arch="sd3", **training):
    emb = core.EmbeddingConfig(num_objectives=2, width=64, hidden=8)
    return core.ParetoSliderMetadata(
        architecture=arch, width=64, embedding=emb, training=core.TrainingMetadata(**training),
        objectives=[core.Objective("photo", "Photo"), core.Objective("sketch", "Sketch")])


def test_the_module_imports_without_comfyui(rec):
    assert rec.recommended
    assert not [m for m in sys.modules if m.split(".")[0] in ("comfy", "comfy_api", "folder_paths")]


def test_an_sd35_file_is_sampled_as_trained(rec, core):
    r = rec.recommended(meta(core, "sd3", resolution=512, sample_steps=10, cfg=1.0))
    assert (r.steps, r.cfg, r.width, r.height, r.guidance) == (10, 1.0, 512, 512, None)
    assert r.text == "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0)"
    assert r.defaulted == []
    assert isinstance(r.steps, int) and isinstance(r.width, int) and isinstance(r.cfg, float)


def test_a_flux_kontext_file_names_its_guidance(rec, core):
    r = rec.recommended(meta(core, "flux", resolution=512, sample_steps=10, guidance=2.5))
    assert (r.steps, r.cfg, r.width, r.height, r.guidance) == (10, 1.0, 512, 512, 2.5)
    assert r.text == "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0), guidance 2.5"


def test_a_file_trained_with_cfg_says_so(rec, core):
    r = rec.recommended(meta(core, "sd3", resolution=768, sample_steps=28, cfg=4.5))
    assert r.cfg == 4.5 and r.text == "trained at 768 px, 28 sampling steps, cfg 4.5"
    assert rec.recommended(meta(core, cfg=3)).text.endswith("cfg 3.0")


@pytest.mark.parametrize("arch, size", [("sd3", 1024), ("flux", 1024), ("ltx2", 768)])
def test_an_older_file_without_the_settings_gets_defaults_and_says_so(rec, core, arch, size):
    r = rec.recommended(meta(core, arch))          # resolution 0, sample_steps 0, cfg 1.0, no guidance
    assert (r.steps, r.cfg, r.width, r.height) == (rec.DEFAULT_STEPS, 1.0, size, size)
    assert rec.DEFAULT_STEPS == 20
    assert r.defaulted == ["resolution", "steps"]
    assert r.text.startswith(f"resolution not recorded (using {size} px), sampling steps not recorded "
                             "(using 20), CFG-free (cfg 1.0)")
    assert r.text.endswith("guidance not recorded") == (arch == "flux")


def test_only_the_missing_value_is_defaulted(rec, core):
    r = rec.recommended(meta(core, "sd3", resolution=512))
    assert (r.width, r.steps, r.defaulted) == (512, 20, ["steps"])
    assert r.text == "trained at 512 px, sampling steps not recorded (using 20), CFG-free (cfg 1.0)"


def test_a_file_written_before_the_fields_existed_reads_as_not_recorded(rec, core):
    text = meta(core).to_json()
    fields = '"resolution":0,"sample_steps":0,"guidance":null,"cfg":1.0,'
    assert fields in text
    old = core.ParetoSliderMetadata.from_json(text.replace(fields, ""))
    r = rec.recommended(old)
    assert (r.steps, r.cfg, r.width) == (20, 1.0, 1024)


def test_to_dict_is_what_the_info_route_sends(rec, core):
    d = rec.recommended(meta(core, "flux", resolution=512, sample_steps=10, guidance=2.5)).to_dict()
    assert d == {"steps": 10, "cfg": 1.0, "width": 512, "height": 512, "guidance": 2.5,
                 "text": "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0), guidance 2.5",
                 "defaulted": []}


@pytest.mark.parametrize("training, words", [
    ({"resolution": -512}, "resolution = -512"),
    ({"resolution": 20000}, "resolution = 20000"),
    ({"sample_steps": -1}, "sample_steps = -1"),
    ({"sample_steps": 10**6}, "sample_steps = 1000000"),
    ({"cfg": math.nan}, "cfg = nan"),
    ({"cfg": -1.0}, "cfg = -1.0"),
    ({"cfg": 250.0}, "cfg = 250.0"),
    ({"guidance": math.inf}, "guidance = inf"),
    ({"guidance": -2.0}, "guidance = -2.0"),
])
def test_an_unusable_recorded_value_is_a_clear_file_error(rec, core, training, words):
    with pytest.raises(core.ParetoSliderFileError) as err:
        rec.recommended(meta(core, "flux", **training), "odd.safetensors")
    msg = str(err.value)
    assert msg.startswith("odd.safetensors: its training metadata records ") and words in msg, msg
    assert "cannot be used for sampling" in msg and "re-export the file" in msg and "\n" not in msg


def test_an_imported_file_says_where_it_came_from_on_the_loader_line(rec, core):
    m = meta(core, "sd3", resolution=512, sample_steps=25, cfg=1.0)
    m.source = {"kind": "reference", "checkpoint": "checkpoint-1000", "tool": "python -m trainer import-reference"}
    r = rec.recommended(m)
    assert r.text == ("imported from the reference code (checkpoint-1000), trained at 512 px, 25 sampling steps, "
                      "CFG-free (cfg 1.0)")


def test_a_per_objective_file_says_that_moving_omega_re_patches_on_the_loader_line(rec, core):
    m = meta(core, "sd3", resolution=512, sample_steps=25, cfg=1.0)
    m.lora = {"rank": 8, "alpha": 16.0, "per_objective": True}
    assert rec.recommended(m).text == ("trained at 512 px, 25 sampling steps, CFG-free (cfg 1.0), one LoRA per "
                                       "objective (mixed by ω; moving ω re-patches weights)")
