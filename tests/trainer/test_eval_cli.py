"""trainer.evaluation.cli: user errors are one line and exit 2; fallbacks warn through the logger;
the result is one line on stdout; `python -m trainer eval` reaches the same CLI."""
import logging

import yaml

from pareto_core import read_metadata
from trainer import cli as trainer_cli
from trainer.evaluation import cli as eval_cli

from testsupport.eval_fakes import FakeBackbone, make_file


def test_python_m_trainer_eval_hands_its_arguments_to_the_evaluation_cli(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(eval_cli, "evaluate_main", lambda argv: seen.append(argv) or 0)
    assert trainer_cli.main(["eval", "f.safetensors", "--prompts", "p.txt", "--points", "3"]) == 0
    assert seen == [["f.safetensors", "--prompts", "p.txt", "--points", "3"]]
    monkeypatch.undo()
    path = make_file(tmp_path / "s.safetensors")
    assert trainer_cli.main(["eval", str(path), "--prompts", "p.txt"]) == 2
    via_trainer = capsys.readouterr().err
    assert eval_cli.evaluate_main([str(path), "--prompts", "p.txt"]) == 2
    assert capsys.readouterr().err == via_trainer


def test_a_bad_reference_is_one_line_and_exit_2(tmp_path, capsys):
    path = make_file(tmp_path / "s.safetensors")
    (tmp_path / "p.txt").write_text("a cat\n")
    rc = eval_cli.evaluate_main([str(path), "--prompts", str(tmp_path / "p.txt"), "--scorer", "brightness",
                                 "--reference", "0,high", "--steps", "1", "--no-progress",
                                 "--out", str(tmp_path / "o")], backbone=FakeBackbone())
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("eval error: --reference '0,high'") and "Traceback" not in err


def test_no_config_and_no_backbone_asks_for_the_config(tmp_path, capsys):
    path = make_file(tmp_path / "s.safetensors")
    assert eval_cli.evaluate_main([str(path), "--prompts", "p.txt"]) == 2
    assert capsys.readouterr().err == ("eval error: give --config (the training YAML: it says which backbone "
                                       "to load)\n")


def test_the_config_supplies_scorers_and_prompts_with_warnings_on_stderr_and_one_result_line(tmp_path, capsys,
                                                                                            monkeypatch):
    from trainer.errors import log
    monkeypatch.setattr(log, "handlers", [])          # as in a fresh `python -m trainer eval` process
    path = make_file(tmp_path / "s.safetensors", lora=False)
    cfg = {"model": {"backbone": "sd3", "path": str(tmp_path)},
           "objectives": [{"name": "bright", "reward": "brightness"}, {"name": "sat", "reward": "saturation"}],
           "data": {"prompts": ["a red cat", "a blue dog"]}, "train": {"sample_steps": 1, "train_timesteps": 1}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    rc = eval_cli.evaluate_main([str(path), "--config", str(tmp_path / "cfg.yaml"), "--points", "3",
                                 "--no-progress", "--no-base", "--out", str(tmp_path / "o")], backbone=FakeBackbone())
    assert rc == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert err[0].startswith("eval: no --scorer given; scoring with the training rewards (bright, sat)")
    assert err[1].startswith("eval: no --prompts/--edits given; using the training data")
    out = captured.out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("eval: hypervolume ") and "front stored in" in out[0]
    assert not log.handlers                           # the CLI's stderr handler is gone again
    front = read_metadata(path).front
    assert front["scorers"] == ["bright", "sat"] and front["steps"] == 1 and front["prompts"] == 2


def test_warnings_follow_a_logger_the_application_configured(tmp_path, capsys, monkeypatch):
    import io

    from trainer.errors import log
    stream = io.StringIO()
    monkeypatch.setattr(log, "handlers", [logging.StreamHandler(stream)])
    path = make_file(tmp_path / "s.safetensors", lora=False)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({
        "model": {"backbone": "sd3", "path": str(tmp_path)}, "data": {"prompts": ["a cat"]},
        "objectives": [{"name": "bright", "reward": "brightness"}, {"name": "sat", "reward": "saturation"}],
        "train": {"sample_steps": 1, "train_timesteps": 1}}))
    assert eval_cli.evaluate_main([str(path), "--config", str(tmp_path / "cfg.yaml"), "--points", "2", "--no-base",
                                   "--no-progress", "--no-write-front", "--out", str(tmp_path / "o")],
                                  backbone=FakeBackbone()) == 0
    assert "no --scorer given" in stream.getvalue() and "no --scorer" not in capsys.readouterr().err


def test_without_config_or_steps_eval_samples_as_the_file_was_trained(tmp_path):
    import json

    from pareto_core import TrainingMetadata, load_paretoslider, save_paretoslider
    path = make_file(tmp_path / "s.safetensors")
    f = load_paretoslider(path)
    f.metadata.training = TrainingMetadata(sample_steps=3, resolution=16)
    save_paretoslider(path, f.metadata, f.lora, f.preference_state)
    (tmp_path / "p.txt").write_text("a cat\n")
    rc = eval_cli.evaluate_main([str(path), "--prompts", str(tmp_path / "p.txt"), "--scorer", "brightness",
                                 "--points", "2", "--no-base", "--no-progress", "--no-write-front",
                                 "--out", str(tmp_path / "o")], backbone=FakeBackbone())
    assert rc == 0
    assert json.loads((tmp_path / "o" / "eval.json").read_text())["steps"] == 3
