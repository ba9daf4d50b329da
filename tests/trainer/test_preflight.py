"""A creator's first ten minutes: one path rule, every config problem at once before torch loads,
messages that fit the command, and `trainer check` with the memory model's prediction."""
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trainer.cli import main
from trainer.config import PATH_RULE, ConfigError, load_checked, load_config
from trainer.config.gpu_prediction import PREDICTIONS, prediction_report, seconds_per_step, settings_of
from trainer.config.paths import CONFIGS, TOY_BASE

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(CONFIGS.glob("*.yaml"))
TINY = {"model": {"backbone": "toy"},
        "objectives": [{"name": "a", "reward": "brightness"}, {"name": "b", "reward": "saturation"}],
        "data": {"prompts": ["red circle"]}}


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def _problems(err: pytest.ExceptionInfo) -> list[str]:
    return err.value.problems


# ------------------------------------------------------------------------------ one rule for paths

def test_a_shipped_config_copied_elsewhere_names_its_prompts_by_name_and_loads_from_any_folder(tmp_path, monkeypatch):
    copy = tmp_path / "elsewhere" / "my.yaml"
    copy.parent.mkdir()
    shutil.copy(CONFIGS / "gpu_16gb.yaml", copy)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(copy)
    assert cfg.data.prompts == str(CONFIGS / "prompts" / "photo_vs_sketch.txt")
    # every path field is absolute, read from the working folder (not from the config's)
    assert cfg.output.dir == str(tmp_path / "runs" / "gpu_16gb")
    assert cfg.model.text_cache == str(tmp_path / "runs" / "gpu_16gb" / "text_cache.safetensors")


def test_a_relative_path_error_shows_the_resolved_path_the_rule_and_the_file_next_to_the_config(tmp_path, monkeypatch):
    cfg_dir = tmp_path / "project"
    _write(cfg_dir / "prompts" / "mine.txt", {}).write_text("a red cat\n")
    copy = _write(cfg_dir / "my.yaml", {**TINY, "data": {"prompts": "prompts/mine.txt"}})
    run_dir = tmp_path / "somewhere"
    run_dir.mkdir()
    monkeypatch.chdir(run_dir)
    with pytest.raises(ConfigError) as err:
        load_checked(copy)
    assert str(err.value) == (
        f"data.prompts: the prompts file {run_dir / 'prompts' / 'mine.txt'} (written 'prompts/mine.txt') does not "
        f"exist; there is one next to the config: write {cfg_dir / 'prompts' / 'mine.txt'} (shipped sets by name: "
        f"ltx2_heldout, ltx2_motion, photo_vs_sketch) (paths: {PATH_RULE})")
    monkeypatch.chdir(cfg_dir)              # run from the config's folder: the same text means that file
    assert load_checked(copy).data.prompts == str(cfg_dir / "prompts" / "mine.txt")


def test_a_local_folder_wins_over_a_shipped_name_and_overrides_follow_the_same_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "example").mkdir()            # a folder of edit pairs that happens to be called like the shipped set
    cfg = load_config(None, ["model.backbone=flux_kontext", "data.edits=example", "model.path=rel/model",
                             "objectives=[{name: a, reward: brightness}, {name: b, reward: ms_ssim}]"])
    assert cfg.data.edits == str(tmp_path / "example")
    assert cfg.model.path == str(tmp_path / "rel" / "model")
    (tmp_path / "example").rmdir()
    cfg = load_config(None, ["model.backbone=flux_kontext", "data.edits=example",
                             "objectives=[{name: a, reward: brightness}, {name: b, reward: ms_ssim}]"])
    assert cfg.data.edits == str(CONFIGS / "edits" / "example.jsonl")


def test_print_config_shows_every_path_absolute(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(CONFIGS / "toy_cpu.yaml"), "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["output"]["dir"] == str(tmp_path / "runs" / "toy_cpu")


def test_config_help_states_the_path_rule_and_lists_every_backbone(capsys):
    assert main(["config-help"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Paths: {PATH_RULE}."
    assert "sd3 (" in out and "flux_kontext (" in out and "ltx2 (" in out and "toy (" in out


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_states_the_path_rule(path):
    assert "Relative paths are read from the folder you run the" in path.read_text()


# ------------------------------------------------------------------------------ every problem at once

def test_a_copy_with_several_mistakes_reports_every_value_problem_in_one_message(tmp_path):
    bad = _write(tmp_path / "bad.yaml", {**TINY, "train": {"lr": -1, "steps": "many", "learning_rate": 1},
                                         "lora": {"rank": 0}})
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    found = _problems(err)
    assert found[0].startswith("train.learning_rate: unknown field; TrainSettings has ['adv_clip', ")
    assert found[1:] == [
        "train.steps: expected an integer, got 'many'",
        "lora.rank: must be >= 1 (got 0)",
        "train.lr: must be > 0 (got -1.0)",
    ]
    assert str(err.value).splitlines()[0] == f"4 problems in {bad}:"
    assert str(err.value).splitlines()[2] == "  - train.steps: expected an integer, got 'many'"


def test_paths_rewards_and_combinations_are_all_reported_before_anything_loads(tmp_path):
    cfg = {"model": {"backbone": "sd3", "path": str(tmp_path / "no-model"),
                     "text_cache": str(tmp_path / "c.safetensors")},
           "objectives": [{"name": "photo", "reward": "clip_score", "kwargs": {"path": str(tmp_path / "no-clip")}},
                          {"name": "keep", "reward": "ssim"},
                          {"name": "move", "reward": "motion_magnitude"},
                          {"name": "x", "reward": "nope"},
                          {"name": "y", "reward": "clip_score"}],
           "data": {"prompts": str(tmp_path / "none.txt")},
           "output": {"dir": str(tmp_path / "a-file" / "run")}}
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError) as err:
        load_checked(_write(tmp_path / "my.yaml", cfg))
    assert _problems(err) == [
        f"model.path: the model folder {tmp_path / 'no-model'} does not exist",
        f"data.prompts: the prompts file {tmp_path / 'none.txt'} does not exist (shipped sets by name: ltx2_heldout, "
        "ltx2_motion, photo_vs_sketch)",
        f"output.dir: cannot create {tmp_path / 'a-file' / 'run'}: {tmp_path / 'a-file'} is a file",
        f"objectives[0] (photo): reward clip_score option path: {tmp_path / 'no-clip'} does not exist (rewards load "
        "local weights only; download them once and point it there)",
        "objectives[1] (keep): reward ssim compares each image with its source image; sd3 has none (use it with "
        "flux_kontext)",
        "objectives[2] (move): reward motion_magnitude scores videos; sd3 makes images (use it with ltx2)",
        "objectives[3] (x): unknown reward 'nope'; available: aesthetic, brightness, channel_dominance, clip_score, colorfulness, "
        "colourfulness, composite, frames, jpeg_compressibility, jpeg_incompressibility, lpips, motion_magnitude, "
        "ms_ssim, muted, pickscore, python, saturation, ssim, temporal_consistency, vlm_judge (or 'module:function' "
        "for your own)",
        "objectives[4] (y): reward clip_score needs the option(s) path (in kwargs)",
    ]
    assert str(err.value).endswith(f"\n  (paths: {PATH_RULE})")


@pytest.mark.parametrize("overrides, line", [
    (["model.backbone=ltx2", "model.path=/x", "model.text_cache=c.safetensors"],
     "model.text_cache: caches prompt embeddings for sd3 and flux_kontext, not ltx2; leave it empty"),
    (["model.backbone=ltx2", "model.path=/x", "model.quantize=fp8"],
     "model.quantize: fp8 is for sd3 and flux_kontext; ltx2 keeps its weights in model.dtype (set quantize: none)"),
    (["model.backbone=flux_kontext", "model.path=/x"],
     'data.edits: flux_kontext edits images; give a .jsonl of {"image", "instruction"} pairs or a folder of images '
     "with .txt instructions (shipped example: example)"),
    (["data.edits=example"], "data.edits: toy makes images from text; give data.prompts instead (edit pairs are for "
                             "flux_kontext)"),
    (["objectives.1.reward=nomodule_for_sure:fn"],
     "objectives[1] (b): cannot find the module 'nomodule_for_sure' of 'nomodule_for_sure:fn' (run from the folder "
     "that holds it, or add it to PYTHONPATH)"),
])
def test_backbone_and_option_combinations_are_named(tmp_path, monkeypatch, overrides, line):
    monkeypatch.chdir(tmp_path)
    cfg = _write(tmp_path / "c.yaml", TINY)
    with pytest.raises(ConfigError) as err:
        load_checked(cfg, overrides)
    assert line in _problems(err)


def test_the_toy_config_passes_every_check_as_shipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert TOY_BASE.is_file()
    load_checked(CONFIGS / "toy_cpu.yaml")


def _fresh_python(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [
    ["--help"], ["train", "--help"], ["config-help"], ["train"], ["check", "trainer/configs/gpu_24gb.yaml"],
    ["check", "trainer/configs/gpu_24gb.yaml", "--no-weights"], ["train", "--config", "trainer/configs/gpu_16gb.yaml"],
])
def test_help_config_help_check_and_config_errors_answer_without_importing_torch(argv):
    code = ("import sys\nfrom trainer.cli import main\ntry:\n    rc = main(%r)\nexcept SystemExit as e:\n"
            "    rc = e.code\nheavy = ('torch', 'diffusers', 'transformers', 'accelerate')\n"
            "print('IMPORTED', sorted(m for m in heavy if m in sys.modules), rc, file=sys.stderr)" % (argv,))
    proc = _fresh_python(code)
    assert proc.stderr.strip().splitlines()[-1] in ("IMPORTED [] 0", "IMPORTED [] 2"), proc.stderr


def test_a_bare_train_says_to_give_a_config_and_lists_the_shipped_ones(capsys):
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("train error: give a config: --config my.yaml (every field: python -m trainer config-help). "
                          "Shipped: trainer/configs/flux_kontext_adherence_vs_fidelity.yaml, ")
    assert all(f"trainer/configs/{p.name}" in err for p in SHIPPED)
    assert err.rstrip().endswith("a one-minute CPU run: --config trainer/configs/toy_cpu.yaml")


# ------------------------------------------------------------------------------ trainer check

@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_check_runs_on_every_shipped_config_without_weights(path, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(path), "--no-weights"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"check: {path} is ready to train (model and reward weights not checked)"
    cfg = load_config(path)
    if cfg.model.backbone in ("sd3", "flux_kontext"):
        assert out[1].startswith("predicted peak ") and len([x for x in out if " s/step predicted " in x]) == 5
    else:
        assert out[1].startswith(f"no memory prediction for backbone {cfg.model.backbone}")


@pytest.mark.parametrize("name, peak, gpu, seconds", [
    ("gpu_16gb", "5.8", "16", "43.6"), ("gpu_24gb", "13.7", "24", "341.3"),
    ("gpu_48gb", "27.9", "48", "867.4"), ("gpu_80gb", "41.0", "80", "430.2")])
def test_check_prints_the_docs_predictions_for_the_gpu_configs(name, peak, gpu, seconds, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(CONFIGS / f"{name}.yaml"), "--dry-run", "--gpu", gpu]) == 2  # no weights here
    assert "model.path: the model folder /models/" in capsys.readouterr().err
    assert main(["check", str(CONFIGS / f"{name}.yaml"), "--no-weights", "--gpu", gpu]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"predicted peak {peak} GB")
    assert out[2].strip().startswith(f"{gpu} GB (") and out[2].endswith(
        f"fits; ~{seconds} s/step predicted (16 samples, 10 rollout steps)")


def test_check_rescales_the_time_to_the_configs_samples_and_says_when_its_memory_settings_were_not_modelled():
    cfg = load_config(CONFIGS / "gpu_16gb.yaml", ["train.group_size=8", "train.minibatch=2"])
    lines = prediction_report(cfg, "16")
    assert "yours differ in train.minibatch" in lines[1]
    assert lines[-1].endswith("s/step predicted (32 samples, 10 rollout steps)")


def test_check_says_per_objective_loras_are_not_in_the_memory_model():
    cfg = load_config(CONFIGS / "gpu_16gb.yaml", ["lora.per_objective=true"])
    lines = prediction_report(cfg, "16")
    assert ("yours differ in lora.per_objective (2 LoRAs: about 2× the LoRA's weights, gradients and AdamW state)"
            in lines[1])


def test_the_time_formula_reproduces_bench_memory_for_every_result():
    data = json.loads(PREDICTIONS.read_text())
    for r in data["results"]:
        for key, gpu in data["gpus"].items():
            assert seconds_per_step(r, r["settings"], gpu, data["mfu"], 2) == r["time"][key], (r["model"], key)


def test_settings_of_names_what_bench_memory_varies():
    data = json.loads(PREDICTIONS.read_text())
    assert set(settings_of(load_config(CONFIGS / "gpu_16gb.yaml"))) == set(data["option_sets"]["defaults"])


# ------------------------------------------------------------------------------ what preflight knows

def test_the_reward_catalogue_matches_the_registry():
    import inspect

    from trainer.config.reward_catalogue import REWARDS
    from trainer.rewards import describe_rewards
    from trainer.rewards.registry import _REGISTRY
    described = describe_rewards()
    assert sorted(REWARDS) == sorted(described)
    for rid, info in REWARDS.items():
        cls = _REGISTRY[rid]
        params = inspect.signature(cls.__init__).parameters
        required = tuple(n for n, p in params.items() if n != "self" and p.default is inspect.Parameter.empty
                         and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        assert set(info.required) == set(required), rid
        assert set(info.paths) <= set(described[rid]["options"]), rid
        assert info.needs_source == cls.needs_source and info.video == cls.video, rid


# ------------------------------------------------------------------------------ quiet third parties

def test_transformers_torchvision_fallback_warning_is_filtered_and_shown_under_debug(caplog):
    from trainer.quiet_imports import quiet_third_party
    logger = logging.getLogger("transformers.utils.import_utils")
    message = ("`CLIPImageProcessor` requires torchvision (not installed); falling back to `CLIPImageProcessorPil` "
               "for backward compatibility.")
    saved = list(logger.filters)
    try:
        logger.filters = []
        assert quiet_third_party(debug=True) == []
        with caplog.at_level(logging.WARNING):
            logger.warning(message)
        assert message in caplog.text
        caplog.clear()
        (drop,) = quiet_third_party()
        assert quiet_third_party() == [drop]               # installed once
        with caplog.at_level(logging.WARNING):
            logger.warning(message)
            logger.warning("something that matters")
        assert message not in caplog.text and "something that matters" in caplog.text
        assert drop.dropped == 1
    finally:
        logger.filters = saved


@pytest.mark.parametrize("debug", [False, True])
def test_importing_the_pipelines_prints_no_torchvision_noise_unless_debugging(debug):
    code = ("from trainer.quiet_imports import quiet_third_party\n"
            f"quiet_third_party(debug={debug})\n"
            "from diffusers import StableDiffusion3Pipeline  # noqa: F401\n")
    proc = _fresh_python(code)
    assert proc.returncode == 0, proc.stderr
    noise = [ln for ln in proc.stderr.splitlines() if "requires torchvision" in ln]
    if not debug:
        assert noise == []
    elif importlib.util.find_spec("torchvision") is None:       # the noise exists only without torchvision
        assert len(noise) == len(set(noise)) >= 1                    # each shown once


def test_check_passes_a_config_whose_weights_are_in_place_and_predicts_its_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sd35m").mkdir()
    (tmp_path / "sd35m" / "model_index.json").write_text("{}")
    (tmp_path / "clip").mkdir()
    rc = main(["check", str(CONFIGS / "gpu_16gb.yaml"), "--set", "model.path=sd35m",
               "--set", "objectives.0.kwargs.path=clip", "--set", "objectives.1.kwargs.path=clip", "--gpu", "16gb"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert out[0] == f"check: {CONFIGS / 'gpu_16gb.yaml'} is ready to train"
    assert out[1].startswith("predicted peak 5.8 GB") and out[2].strip().startswith("16 GB (RTX 4080 16 GB): fits")


def test_a_bare_check_says_how_to_name_the_config(capsys):
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("check error: give a config: python -m trainer check my.yaml (every field: ")
    assert "one-minute" not in err


def test_value_and_path_problems_come_in_the_same_message(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = _write(tmp_path / "my.yaml", {**TINY, "model": {"backbone": "sd3", "path": "nowhere"},
                                        "train": {"group_size": 1}, "data": {"prompts": "mine.txt"}})
    assert main(["train", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"train error: 3 problems in {bad}:",
        "  - train.group_size: must be >= 2 (advantages are normalised inside a group) (got 1)",
        f"  - model.path: the model folder {tmp_path / 'nowhere'} (written 'nowhere') does not exist",
        f"  - data.prompts: the prompts file {tmp_path / 'mine.txt'} (written 'mine.txt') does not exist (shipped "
        "sets by name: ltx2_heldout, ltx2_motion, photo_vs_sketch)",
        f"  (paths: {PATH_RULE})",
    ]
