"""`python -m trainer import-reference`: checkpoints of the reference code (saved here in its PEFT and
legacy layouts from a re-written reference model, testsupport/reference_sd3.py) become ParetoSlider
files whose velocity in the trainer's model (trainer/adapters/inject.py hooks) is the reference's; bad
inputs get one line saying what to do, and no file."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from pareto_core import load_paretoslider, read_metadata
from testsupport.reference_sd3 import (CASES, SD35M_TINY, base_state, build_reference_sd3, make_case,
                                       parity_inputs, reference_velocity, save_legacy_checkpoint,
                                       save_peft_checkpoint)
from trainer.cli import main


def _merge(model, lora):
    """W += (alpha / rank) · B A: how ComfyUI applies the file's LoRA (and the trainer's merge)."""
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key, a in lora.items():
            if key.endswith(".lora_A.weight"):
                name = key[len("transformer."):-len(".lora_A.weight")]
                alpha = lora[f"transformer.{name}.alpha"].item()
                modules[name].weight += (alpha / a.shape[0]) * (lora[key.replace("lora_A", "lora_B")] @ a)


def trainer_velocity(file, t, with_preference: bool = True) -> torch.Tensor:
    from diffusers import SD3Transformer2DModel
    import trainer.adapters.inject as inject
    from trainer.backbones.sd3 import SD3Backbone
    model = SD3Transformer2DModel(**SD35M_TINY).eval()
    model.load_state_dict(base_state(build_reference_sd3(block_form=None)))
    _merge(model, file.lora)
    x2, s2 = torch.cat([t["x"], t["x"]]), torch.cat([t["sigma"], t["sigma"]])
    modules = file.preference_modules() if with_preference else None
    with inject.preference_hooks(model, SD3Backbone, modules, t["omega"]), torch.no_grad():
        return model(hidden_states=x2, encoder_hidden_states=t["context"], pooled_projections=t["pooled"],
                     timestep=s2 * 1000, return_dict=False)[0]


def _import(tmp_path, folder, *extra) -> tuple[int, str]:
    out = tmp_path / "out.safetensors"
    code = main(["import-reference", str(folder), "-o", str(out), *extra])
    return code, out


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_imported_checkpoint_gives_the_reference_velocity_in_the_trainers_model(tmp_path, case):
    model, names = make_case(case, tmp_path)
    t = parity_inputs(model.ref["pref_dim"])
    ref = reference_velocity(model, t)
    code, out = _import(tmp_path, tmp_path / case)
    assert code == 0
    file = load_paretoslider(out)
    assert [o.name for o in file.metadata.objectives] == names
    got = trainer_velocity(file, t)
    rel = ((got - ref).norm() / ref.norm()).item()
    assert rel < 1e-5, f"{case}: trainer vs reference, relative error {rel:.2e}"
    # the preference modules matter: without them the velocity is far from the reference's
    assert ((trainer_velocity(file, t, with_preference=False) - ref).norm() / ref.norm()).item() > 1e-2


def test_the_file_records_the_forms_the_source_and_the_run(tmp_path, capsys):
    model, _ = make_case("affine_pooled_half", tmp_path)
    run = tmp_path / "config.yaml"   # wandb's layout: each top-level value under "value"
    run.write_text("resolution:\n  value: 512\nsample:\n  value:\n    num_steps: 25\n    guidance_scale: 1.0\n")
    code, out = _import(tmp_path, tmp_path / "affine_pooled_half", "--run-config", str(run))
    assert code == 0
    meta = read_metadata(out)
    e = meta.embedding
    assert (e.block_projector, e.block_form, e.block_fraction, e.pooled_width, e.num_frequencies) == \
        ("fourier", "affine", 0.5, 32, 3)
    assert meta.format_version == 2 and meta.architecture == "sd3" and meta.width == 256
    assert meta.imported_from == "the reference code (affine_pooled_half)"
    assert (meta.training.resolution, meta.training.sample_steps, meta.training.cfg) == (512, 25, 1.0)
    assert meta.lora["rank"] == 4 and meta.lora["modules"] == 4 * 8 - 1   # the last block has no to_add_out
    assert "wrote" in capsys.readouterr().out


def test_the_lora_part_reads_the_lora_alpha_of_the_adapter(tmp_path):
    model = build_reference_sd3()
    save_peft_checkpoint(model, tmp_path / "ckpt", ["a", "b"], rank=4, alpha=6.0)
    code, out = _import(tmp_path, tmp_path / "ckpt")
    assert code == 0
    file = load_paretoslider(out)
    assert {v.item() for k, v in file.lora.items() if k.endswith(".alpha")} == {6.0}


def test_temb_only_checkpoint_stays_a_version_1_file(tmp_path):
    make_case("temb_only", tmp_path)
    code, out = _import(tmp_path, tmp_path / "temb_only")
    assert code == 0
    meta = read_metadata(out)
    assert meta.format_version == 1 and not meta.embedding.block_modulation


def _fails(tmp_path, capsys, folder, *extra) -> str:
    code, out = _import(tmp_path, folder, *extra)
    err = capsys.readouterr().err
    assert code == 2 and not out.exists(), "an error must leave no file"
    assert len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.glob("*.tmp")) == [] and list(tmp_path.glob(".out*")) == []
    return err


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.txt").write_text("x")
    err = _fails(tmp_path, capsys, tmp_path / "photos")
    assert "is not a checkpoint of the reference ParetoSlider code (no lora/ folder in it)" in err
    err = _fails(tmp_path, capsys, tmp_path / "missing")
    assert "no such folder" in err


def test_a_plain_lora_without_preference_modules_is_not_a_checkpoint(tmp_path, capsys):
    from peft import LoraConfig, get_peft_model
    from diffusers import SD3Transformer2DModel
    plain = get_peft_model(SD3Transformer2DModel(**SD35M_TINY), LoraConfig(r=2, target_modules=["attn.to_q"]))
    plain.save_pretrained(str(tmp_path / "plain" / "lora"))
    err = _fails(tmp_path, capsys, tmp_path / "plain")
    assert "no pref_mlp / pref_blk_projector tensors" in err and "LoRA loader" in err


def test_missing_metadata_needs_objectives(tmp_path, capsys):
    save_peft_checkpoint(build_reference_sd3(block_form="affine"), tmp_path / "ckpt", None)
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "has no metadata.json with the objectives' names" in err and "--objectives objective1,objective2" in err
    err = _fails(tmp_path, capsys, tmp_path / "ckpt", "--objectives", "photo,sketch,color")
    assert "--objectives names 3 objectives (photo, sketch, color) but the checkpoint's preference has 2" in err
    code, out = _import(tmp_path, tmp_path / "ckpt", "--objectives", "photo,sketch")
    assert code == 0
    meta = read_metadata(out)
    # affine is read from the projector's width; the fraction is the reference's default and said so
    assert [o.name for o in meta.objectives] == ["photo", "sketch"]
    assert meta.embedding.block_form == "affine" and meta.embedding.block_fraction == 1.0
    assert "assumed 1.0" in capsys.readouterr().out


@pytest.mark.parametrize("option, message", [
    ({"use_dora": True}, "DoRA"),
])
def test_an_unsupported_peft_option_is_refused(tmp_path, capsys, option, message):
    save_peft_checkpoint(build_reference_sd3(), tmp_path / "ckpt", ["a", "b"], **option)
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert message in err and "supports plain LoRA" in err


def test_an_unsupported_conditioning_mode_is_refused(tmp_path, capsys):
    model = build_reference_sd3()
    save_peft_checkpoint(model, tmp_path / "ckpt", ["a", "b"])
    meta = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    meta["conditioning_mode"] = "adaln_per_block"
    (tmp_path / "ckpt" / "metadata.json").write_text(json.dumps(meta))
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "conditioning_mode 'adaln_per_block' is not supported by import-reference" in err


def test_a_full_fine_tune_in_the_legacy_layout_is_refused(tmp_path, capsys):
    save_legacy_checkpoint(build_reference_sd3(), tmp_path / "ckpt", ["a", "b"], with_lora=False)
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "is a full fine-tune of the transformer" in err


def test_a_pickled_adapter_is_never_unpickled(tmp_path, capsys):
    save_peft_checkpoint(build_reference_sd3(), tmp_path / "ckpt", ["a", "b"])
    lora = tmp_path / "ckpt" / "lora"
    (lora / "adapter_model.safetensors").rename(lora / "adapter_model.bin")
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "is a pickle; ParetoSlider never unpickles files" in err


@pytest.mark.parametrize("pretrained, message", [
    ("black-forest-labs/FLUX.1-dev", "was trained on black-forest-labs/FLUX.1-dev (Flux)"),
    ("stabilityai/stable-diffusion-xl-base-1.0", "(SDXL)"),
])
def test_a_checkpoint_for_another_base_is_refused(tmp_path, capsys, pretrained, message):
    model = build_reference_sd3()
    save_peft_checkpoint(model, tmp_path / "ckpt", ["a", "b"])
    meta = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    meta["pretrained_model"] = pretrained
    (tmp_path / "ckpt" / "metadata.json").write_text(json.dumps(meta))
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert message in err and "SD3 / SD3.5 text-to-image code only" in err


def test_a_checkpoint_whose_width_disagrees_with_its_metadata_is_refused(tmp_path, capsys):
    model = build_reference_sd3()
    save_peft_checkpoint(model, tmp_path / "ckpt", ["a", "b"])
    meta = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    meta["transformer_hidden_size"] = 1536          # says SD3.5 Medium, tensors are 256 wide
    (tmp_path / "ckpt" / "metadata.json").write_text(json.dumps(meta))
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "the transformer is 1536 wide but pref_mlp writes 256 values" in err


def test_an_existing_file_is_kept_when_the_import_fails(tmp_path, capsys):
    out = tmp_path / "out.safetensors"
    out.write_bytes(b"previous")
    (tmp_path / "empty").mkdir()
    assert main(["import-reference", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert out.read_bytes() == b"previous"
    shutil.rmtree(tmp_path / "empty")


def test_output_must_be_safetensors(tmp_path, capsys):
    make_case("residual_defaults", tmp_path)
    code = main(["import-reference", str(tmp_path / "residual_defaults"), "-o", str(tmp_path / "x.ckpt")])
    assert code == 2 and "ends in .safetensors" in capsys.readouterr().err


def test_trainer_eval_measures_the_front_of_an_imported_file(tmp_path, tiny_sd3_path):
    """The Front Preview's advice holds: `trainer eval` runs on an imported version-2 file (pooled text,
    affine, half the blocks) on the trainer's SD3 backbone, ω moves the scores, the front is stored and
    the file still says where it came from."""
    from diffusers import SD3Transformer2DModel
    from trainer.backbones import build_backbone
    from trainer.config import config_from_dict
    from trainer.evaluation.evaluate import evaluate_file
    base = SD3Transformer2DModel.from_pretrained(str(tiny_sd3_path / "transformer"))
    config = {k: v for k, v in base.config.items() if not k.startswith("_")}
    model = build_reference_sd3(block_form="affine", use_pooled_text=True, num_freqs=2, block_fraction=0.5,
                                config=config)
    save_peft_checkpoint(model, tmp_path / "checkpoint-40", ["bright", "dark"])
    out = tmp_path / "imported.safetensors"
    assert main(["import-reference", str(tmp_path / "checkpoint-40"), "-o", str(out)]) == 0
    cfg = config_from_dict({"model": {"backbone": "sd3", "path": str(tiny_sd3_path), "resolution": 32,
                                      "max_sequence_length": 8},
                            "objectives": [{"name": "bright", "reward": "brightness"},
                                           {"name": "dark", "reward": "brightness"}]})
    s = evaluate_file(out, build_backbone(cfg.model), ["a red cat"], ["brightness"], tmp_path / "eval", points=3,
                      steps=2, progress=False)
    assert max(s["scores"]["brightness"]) > min(s["scores"]["brightness"])
    meta = read_metadata(out)
    assert meta.front["omega"] == s["omega"] and meta.imported_from == "the reference code (checkpoint-40)"
    assert meta.training.steps == 40 and meta.embedding.block_form == "affine"


def test_a_pref_dim_override_asks_for_the_names_of_the_models_objectives(tmp_path, capsys):
    """The reference records its reward list's objectives; with pref_dim_override the model takes
    another count, and the names must be given."""
    model = build_reference_sd3(pref_dim=3)
    save_peft_checkpoint(model, tmp_path / "ckpt", ["a", "b", "c"])
    meta = json.loads((tmp_path / "ckpt" / "metadata.json").read_text())
    meta.update(objective_names=["multi"], reward_fn_keys=["multi"], pref_dim=1)
    (tmp_path / "ckpt" / "metadata.json").write_text(json.dumps(meta))
    err = _fails(tmp_path, capsys, tmp_path / "ckpt")
    assert "metadata.json names 1 objectives (multi) but the checkpoint's preference has 3 values; the run " \
           "set pref_dim_override: give the 3 names in ω's order with --objectives" in err
    code, out = _import(tmp_path, tmp_path / "ckpt", "--objectives", "x,y,z")
    assert code == 0 and [o.name for o in read_metadata(out).objectives] == ["x", "y", "z"]
