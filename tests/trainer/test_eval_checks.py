"""`trainer eval` checks a file against what would score it and the model it would load onto, before
anything loads (issue 23): objectives against the config's rewards, architecture / width / variant
against the config's model, and a judge server. A model load is a sentinel here: reaching it means
the checks passed."""
from pathlib import Path

import pytest

from pareto_core import EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules, save_paretoslider
from trainer.evaluation import cli as eval_cli

from testsupport.fault_server import refused_url

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "bench" / "toytask" / "toy.yaml"          # the toy model: SD3 class, width 96, toy-sd3-16px


class Loading(Exception):
    pass


@pytest.fixture(autouse=True)
def no_model_loads(monkeypatch):
    def load(cfg, device=None):
        raise Loading(cfg.model.backbone)
    monkeypatch.setattr(eval_cli, "_build_backbone", load)


def slider(path, width=96, variant="", names=(("brightness", "brightness"), ("saturation", "saturation"))):
    cfg = EmbeddingConfig(num_objectives=2, width=width, hidden=8)
    meta = ParetoSliderMetadata(architecture="sd3", width=width, embedding=cfg, variant=variant,
                                objectives=[Objective(n, n.title(), r) for n, r in names])
    modules = PreferenceModules(cfg)
    save_paretoslider(path, meta, {}, modules)
    return str(path)


def run_eval(file, *extra):
    return eval_cli.evaluate_main([file, "--config", str(TOY), "--no-progress", *extra])


def test_a_file_whose_objectives_the_config_does_not_score_is_refused_before_loading(tmp_path, capsys):
    f = slider(tmp_path / "s.safetensors", names=(("bright", "brightness"), ("red", "my.mod:redness")))
    assert run_eval(f) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"eval error: eval: {f} was trained on objectives [bright (brightness), red (my.mod:redness)] but "
                   "the config's are [brightness, saturation], so its scores would be labelled with names they do "
                   "not come from; give --config the file was trained with, or held-out --scorer specs")
    # held-out scorers name their own axes: no objective check, the run goes on to load the model
    with pytest.raises(Loading):
        run_eval(f, "--scorer", "brightness", "--scorer", "saturation")


@pytest.mark.parametrize("width, variant, refused", [
    (8, "", "SD3 / SD3.5 (MMDiT) width 8"),                       # another width
    (96, "sd3-24L-1536", "SD3 / SD3.5 (MMDiT) width 96 (sd3-24L-1536)"),  # another made-up variant: another model
    (96, "toy-sd3-16px", None),                           # the same model
    (96, "my toy", None),                                 # free text against a made-up variant: cannot tell
])
def test_architecture_width_and_variant_are_checked_before_loading(tmp_path, capsys, width, variant, refused):
    f = slider(tmp_path / "s.safetensors", width=width, variant=variant)
    if refused is None:
        with pytest.raises(Loading):
            run_eval(f)
        return
    assert run_eval(f) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"eval error: eval: {f} was trained on {refused} but")
    assert "but the config's model is SD3 / SD3.5 (MMDiT) width 96 (toy-sd3-16px); point --config" in err


def test_a_judge_that_is_down_fails_eval_before_loading(tmp_path, capsys):
    f = slider(tmp_path / "s.safetensors")
    judge = '{"id": "vlm_judge", "base_url": "%s", "model": "judge", "retries": 0}' % refused_url()
    assert run_eval(f, "--scorer", "brightness", "--scorer", judge) == 2
    assert "refused the connection" in capsys.readouterr().err


def test_the_loaded_model_is_checked_too(tmp_path, capsys):
    from testsupport.eval_fakes import FakeBackbone
    f = slider(tmp_path / "s.safetensors", variant="sd3-24L-1536")
    fake = FakeBackbone()                      # width 8: the file (width 96) does not fit it
    (tmp_path / "p.txt").write_text("a cat\n")
    rc = eval_cli.evaluate_main([f, "--scorer", "brightness", "--scorer", "saturation", "--prompts",
                                 str(tmp_path / "p.txt"), "--no-progress"], backbone=fake)
    assert rc == 2
    assert "but the loaded model is SD3 / SD3.5 (MMDiT) width 8" in capsys.readouterr().err
