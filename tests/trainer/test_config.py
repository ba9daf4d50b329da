"""Config loading, overrides and validation messages that name the bad field."""
from pathlib import Path

import pytest

from trainer.cli import main
from trainer.config import ConfigError, apply_overrides, config_from_dict, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "trainer" / "configs"
BASE = {"objectives": [{"name": "a", "reward": "brightness"}, {"name": "b", "reward": "saturation"}],
        "data": {"prompts": ["x"]}}


def _cfg(**sections):
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    d.update(sections)
    return config_from_dict(d)


@pytest.mark.parametrize("name", ["sd35_photo_vs_sketch.yaml", "flux_kontext_adherence_vs_fidelity.yaml"])
def test_example_configs_validate(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.num_objectives == 2
    assert cfg.model.backbone in ("sd3", "flux_kontext")
    # relative data paths resolve next to the config file
    data = cfg.data.prompts or cfg.data.edits
    assert Path(data).is_file()


def test_dotted_overrides_parse_yaml_values():
    cfg = load_config(CONFIGS / "sd35_photo_vs_sketch.yaml",
                      ["train.lr=3e-3", "lora.rank=8", "preference.fixed=[0.25, 0.75]", "model.dtype=fp32",
                       "objectives.1.label=Drawing"])
    assert cfg.train.lr == 3e-3 and cfg.lora.rank == 8 and cfg.preference.fixed == [0.25, 0.75]
    assert cfg.objectives[1].label == "Drawing"


@pytest.mark.parametrize("sections, field", [
    ({"train": {"lr": -1}}, "train.lr"),
    ({"train": {"group_size": 1}}, "train.group_size"),
    ({"train": {"algorithm": "ppo"}}, "train.algorithm"),
    ({"train": {"steps": "many"}}, "train.steps"),
    ({"train": {"learning_rate": 1}}, "train.learning_rate"),
    ({"lora": {"rank": 0}}, "lora.rank"),
    ({"model": {"dtype": "int8"}}, "model.dtype"),
    ({"model": {"resolution": 500}}, "model.resolution"),
    ({"preference": {"fixed": [1.0]}}, "preference.fixed"),
    ({"preference": {"fixed": [-1.0, 2.0]}}, "preference.fixed"),
    ({"objectives": [{"name": "only", "reward": "brightness"}]}, "objectives"),
    ({"objectives": [{"name": "a"}, {"name": "a"}]}, "objectives[1].name"),
    ({"output": {"name": "x.ckpt"}}, "output.name"),
    ({"modell": {}}, "modell"),
    ({"model": {"backbone": "sdxl"}}, "model.backbone"),
    ({"model": {"quantize": "int4"}}, "model.quantize"),
])
def test_validation_errors_name_the_field(sections, field):
    with pytest.raises(ConfigError) as err:
        _cfg(**sections)
    assert str(err.value).startswith(field), str(err.value)


def test_override_without_equals_is_refused():
    with pytest.raises(ConfigError, match="section.field=value"):
        apply_overrides({}, ["train.lr"])


def test_cli_reports_config_errors_with_exit_code_2(capsys):
    rc = main(["train", "--config", str(CONFIGS / "sd35_photo_vs_sketch.yaml"), "--set", "train.beta=0"])
    assert rc == 2
    assert "train.beta" in capsys.readouterr().err


def test_cli_reports_a_missing_model_folder_in_one_line_with_exit_code_2(tmp_path, capsys):
    rc = main(["train", "--config", str(CONFIGS / "sd35_photo_vs_sketch.yaml"),
               "--set", "objectives=[{name: a, reward: brightness}, {name: b, reward: saturation}]",
               "--set", f"model.path={tmp_path / 'no-such-model'}", "--set", f"output.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "train error: model.path" in err and "does not exist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()          # nothing written for a run that never started


def test_cli_print_config_applies_overrides(capsys):
    rc = main(["train", "-c", str(CONFIGS / "sd35_photo_vs_sketch.yaml"), "--print-config", "train.steps=7"])
    assert rc == 0
    assert "steps: 7" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["sd35_photo_vs_sketch.yaml", "flux_kontext_adherence_vs_fidelity.yaml"])
def test_example_configs_use_registered_rewards_and_options(name):
    from trainer.rewards import describe_rewards
    known = describe_rewards()
    for ob in load_config(CONFIGS / name).objectives:
        assert ob.reward in known, f"{name}: {ob.reward} is not a registered reward"
        unknown = set(ob.kwargs) - set(known[ob.reward]["options"])
        assert not unknown, f"{name}: {ob.reward} has no option(s) {unknown}"


def test_a_choice_field_lists_its_choices_and_backbone_choices_are_the_registered_backbones():
    import typing

    from trainer.backbones import BACKBONES
    from trainer.config import ModelConfig
    with pytest.raises(ConfigError, match=r"^model\.backbone: must be sd3, flux_kontext, ltx2 or toy \(got 'sdxl'\)$"):
        _cfg(model={"backbone": "sdxl"})
    assert set(typing.get_args(typing.get_type_hints(ModelConfig)["backbone"])) == set(BACKBONES)


def test_a_config_built_in_python_is_checked_by_validate():
    from trainer.config import validate
    cfg = _cfg()
    cfg.train.algorithm = "ppo"
    with pytest.raises(ConfigError, match=r"^train\.algorithm: must be nft or grpo \(got 'ppo'\)$"):
        validate(cfg)
