"""trainer.evaluation.evaluate: ω sweep on a tiny fake backbone, outputs, the front stored in the file."""
import json

import numpy as np
import pytest
import torch
from testsupport.eval_fakes import WIDTH, FakeBackbone, channel_mean, make_file

from pareto_core import (
    EmbeddingConfig,
    Objective,
    ParetoSliderMetadata,
    ParetoSliderMismatchError,
    PreferenceModules,
    load_paretoslider,
    read_metadata,
    save_paretoslider,
)
from trainer.backbones.base import Sample
from trainer.evaluation.cli import evaluate_main
from trainer.evaluation.evaluate import evaluate_file, image_strip, merged_lora, omega_grid, summarize, sweep
from trainer.evaluation.pareto import hypervolume
from trainer.rewards import build_reward


def test_omega_grid_edge_for_two_and_simplex_for_three():
    w = omega_grid(2)
    assert w.shape == (11, 2)
    assert torch.allclose(w[0], torch.tensor([1.0, 0.0])) and torch.allclose(w[5], torch.tensor([0.5, 0.5]))
    g = omega_grid(3)
    assert g.shape == (21, 3) and torch.allclose(g.sum(1), torch.ones(21))
    assert omega_grid(3, points=4, mode="edge", start=2, end=0).tolist()[0] == [0.0, 0.0, 1.0]


def test_merged_lora_adds_scaled_low_rank_update_and_restores_weights(tmp_path):
    bb = FakeBackbone()
    sl = load_paretoslider(make_file(tmp_path / "a.safetensors"))
    w0 = bb.transformer.proj.weight.clone()
    a, b = sl.lora["transformer.proj.lora_A.weight"], sl.lora["transformer.proj.lora_B.weight"]
    with merged_lora(bb.transformer, sl.lora, strength=0.5):
        expected = w0 + 0.5 * (4.0 / 2) * (b @ a)
        assert torch.allclose(bb.transformer.proj.weight, expected, atol=1e-6)
    assert torch.equal(bb.transformer.proj.weight, w0)


def test_merged_lora_names_a_module_the_model_lacks(tmp_path):
    bb = FakeBackbone()
    lora = {"transformer.nope.lora_A.weight": torch.zeros(2, WIDTH),
            "transformer.nope.lora_B.weight": torch.zeros(3, 2)}
    with pytest.raises(ParetoSliderMismatchError, match="nope"):
        with merged_lora(bb.transformer, lora):
            pass


def test_sweep_uses_the_same_noise_for_every_omega_and_omega_changes_the_images():
    bb = FakeBackbone()
    modules = PreferenceModules(EmbeddingConfig(2, WIDTH, hidden=16))
    w = omega_grid(2, points=3)
    # zero-initialised modules: ω has no effect, so identical noise gives identical images
    res = sweep(bb, modules, ["a cat"], w, [channel_mean(0)], steps=3, progress=False)
    imgs = res.images[0]
    assert torch.allclose(imgs[0], imgs[1]) and torch.allclose(imgs[0], imgs[2])
    with torch.no_grad():
        modules.embedding.net[2].weight.normal_()
    res2 = sweep(bb, modules, ["a cat"], w, [channel_mean(0)], steps=3, progress=False)
    assert not torch.allclose(res2.images[0][0], res2.images[0][2])
    # the same seed reproduces; batch size does not change the result
    res3 = sweep(bb, modules, ["a cat"], w, [channel_mean(0)], steps=3, batch_size=1, progress=False)
    assert torch.allclose(res2.images[0], res3.images[0], atol=1e-6)


def test_summarize_means_std_and_hypervolume():
    from trainer.evaluation.evaluate import SweepResult
    res = SweepResult(omega=omega_grid(2, points=3), samples=[Sample("p"), Sample("q")],
                      scores={"x": torch.tensor([[3.0, 3.0], [2.0, 2.0], [0.0, 2.0]]),
                              "y": torch.tensor([[0.0, 0.0], [2.0, 2.0], [3.0, 3.0]])})
    s = summarize(res, reference=[0.0, 0.0], objective_names=["a", "b"])
    assert s["scores"]["x"] == [3.0, 2.0, 1.0] and s["std"]["x"][2] == pytest.approx(1.0)
    # points (3,0) (2,2) (1,3) over (0,0): 2·2 + 1·1 = 5 ((3,0) adds nothing above y=0)
    assert s["hypervolume"] == pytest.approx(5.0)
    assert s["non_dominated"] == [0, 1, 2]
    assert s["spearman"]["x"]["b"] == pytest.approx(-1.0)
    auto = summarize(res)
    assert auto["reference"] == [1.0, 0.0] and "minimum" in auto["reference_source"]


def test_evaluate_file_writes_json_plot_strips_and_front_metadata(tmp_path):
    path = make_file(tmp_path / "slider.safetensors")
    before = load_paretoslider(path)
    bb = FakeBackbone()
    w_before = bb.transformer.proj.weight.clone()
    out = tmp_path / "eval"
    evaluate_file(path, bb, ["a red cat", "a blue dog"],
                            ["brightness", {"id": "saturation", "name": "sat"}, channel_mean(2)],
                            out, steps=3, progress=False)
    data = json.loads((out / "eval.json").read_text())
    assert len(data["omega"]) == 11 and data["scorers"] == ["brightness", "sat", "channel2"]
    assert len(data["per_omega"]) == 11 and set(data["per_omega"][0]["scores"]["sat"]) == {"mean", "std"}
    assert data["base"] is not None and data["num_samples"] == 2
    pts = np.stack([data["scores"][n] for n in data["scorers"]], 1)
    assert data["hypervolume"] == pytest.approx(hypervolume(pts, data["reference"]))
    assert (out / "front.png").stat().st_size > 1000
    # one strip per prompt, named by it, and the summary says they cover every prompt
    assert sorted(p.name for p in (out / "strips").iterdir()) == ["a_blue_dog.png", "a_red_cat.png"]
    assert data["strips"] == {"written": 2, "of": 2, "files": ["a_red_cat.png", "a_blue_dog.png"]}
    from PIL import Image
    assert Image.open(out / "strips" / "a_red_cat.png").size[0] > 12 * 128   # base + 11 ω tiles
    # scores move with ω (the file's preference module is not zero)
    assert max(data["scores"]["brightness"]) > min(data["scores"]["brightness"])
    # the file now carries the front; tensors are unchanged
    meta = read_metadata(path)
    assert meta.front["scorers"] == ["brightness", "sat", "channel2"]
    assert meta.front["omega"] == data["omega"] and meta.front["hypervolume"] == data["hypervolume"]
    assert meta.front["scores"]["sat"] == data["scores"]["sat"]
    after = load_paretoslider(path)
    assert all(torch.equal(after.lora[k], before.lora[k]) for k in before.lora)
    assert all(torch.equal(after.preference_state[k], before.preference_state[k]) for k in before.preference_state)
    assert not list(tmp_path.glob(".*.tmp"))
    assert torch.equal(bb.transformer.proj.weight, w_before)      # LoRA unmerged afterwards


def test_evaluate_file_refuses_a_file_for_another_width(tmp_path):
    path = make_file(tmp_path / "s.safetensors")
    bb = FakeBackbone()
    bb.width = 16
    with pytest.raises(ParetoSliderMismatchError, match="width 8"):
        evaluate_file(path, bb, ["x"], ["brightness"], tmp_path / "o", steps=1, progress=False)


def test_evaluate_main_cli_with_given_backbone(tmp_path, capsys):
    path = make_file(tmp_path / "s.safetensors", lora=False)
    prompts = tmp_path / "heldout.txt"
    prompts.write_text("# held out\na cat\n\na dog\n")
    rc = evaluate_main([str(path), "--prompts", str(prompts), "--scorer", "brightness", "--scorer",
                        '{"id": "colourfulness", "name": "colour"}', "--points", "5", "--steps", "2",
                        "--reference", "0,0", "--no-progress", "--no-base", "--out", str(tmp_path / "o")],
                       backbone=FakeBackbone())
    assert rc == 0
    data = json.loads((tmp_path / "o" / "eval.json").read_text())
    assert len(data["omega"]) == 5 and data["reference"] == [0.0, 0.0] and data["base"] is None
    assert data["prompts"] == ["a cat", "a dog"]
    assert read_metadata(path).front["scorers"] == ["brightness", "colour"]
    assert "hypervolume" in capsys.readouterr().out


def test_three_objective_grid_sweep(tmp_path):
    cfg = EmbeddingConfig(num_objectives=3, width=WIDTH, hidden=8)
    meta = ParetoSliderMetadata(architecture="sd3", width=WIDTH, embedding=cfg,
                                objectives=[Objective("a"), Objective("b"), Objective("c")])
    path = save_paretoslider(tmp_path / "k3.safetensors", meta, {}, PreferenceModules(cfg))
    s = evaluate_file(path, FakeBackbone(), ["x"], [channel_mean(0), channel_mean(1), channel_mean(2)],
                      tmp_path / "o", divisions=2, steps=1, base=False, progress=False)
    assert len(s["omega"]) == 6 and (tmp_path / "o" / "front.png").exists()
    assert read_metadata(path).front["omega"][0] == [1.0, 0.0, 0.0]


def test_image_strip_labels_and_upscales():
    strip = image_strip(torch.rand(3, 3, 16, 16), ["1/0", "0.5/0.5", "0/1"], title="p")
    assert strip.size[0] >= 3 * 128 and strip.size[1] > 128


def test_sweep_with_the_toy_sd3_transformer_through_preference_hooks():
    from trainer.backbones import toy
    config = dict(sample_size=8, patch_size=2, in_channels=3, out_channels=3, num_layers=1,
                  attention_head_dim=16, num_attention_heads=2, joint_attention_dim=16,
                  caption_projection_dim=32, pooled_projection_dim=8, pos_embed_max_size=4)
    bb = toy.ToyBackbone(path=None, config=config)
    modules = PreferenceModules(EmbeddingConfig(2, bb.width, hidden=8))
    with torch.no_grad():
        modules.embedding.net[2].weight.normal_()
    res = sweep(bb, modules, [toy.PROMPTS[0]], omega_grid(2, points=3), [build_reward("brightness")],
                steps=2, progress=False)
    assert res.scores["brightness"].shape == (3, 1)
    assert not torch.allclose(res.images[0][0], res.images[0][2])


def test_merged_lora_switches_off_a_live_peft_lora_meanwhile(tmp_path):
    from peft import LoraConfig, inject_adapter_in_model
    bb = FakeBackbone()
    x = torch.randn(5, WIDTH)
    base_out = bb.transformer.proj(x)
    inject_adapter_in_model(LoraConfig(r=2, lora_alpha=2, target_modules=["proj"], init_lora_weights=False),
                            bb.transformer)
    live_out = bb.transformer.proj(x)
    assert not torch.allclose(live_out, base_out)
    sl = load_paretoslider(make_file(tmp_path / "a.safetensors"))
    a, b = sl.lora["transformer.proj.lora_A.weight"], sl.lora["transformer.proj.lora_B.weight"]
    with merged_lora(bb.transformer, sl.lora):
        assert torch.allclose(bb.transformer.proj(x), base_out + 2.0 * x @ (b @ a).T, atol=1e-5)
    assert torch.allclose(bb.transformer.proj(x), live_out)


def test_plot_fronts_overlays_a_sweep_and_fixed_weight_points(tmp_path):
    from trainer.evaluation.evaluate import plot_fronts
    fronts = {"ParetoSlider": {"omega": [[1, 0], [0.5, 0.5], [0, 1]], "scores": {"a": [3, 2, 1], "b": [1, 2, 3]},
                               "hypervolume": 5.0},
              "fixed 0.5/0.5": {"scores": {"a": [1.5], "b": [1.5]}}}
    out = plot_fronts(fronts, tmp_path / "cmp.png", "a", "b", title="toy", reference=[0, 0])
    assert out.stat().st_size > 1000


def _file_for(backbone, path, module):
    """A ParetoSlider file for a real tiny backbone: random LoRA on `module`, ω-dependent embedding."""
    cfg = EmbeddingConfig(num_objectives=2, width=backbone.width, hidden=16)
    modules = PreferenceModules(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        modules.embedding.net[2].weight.copy_(torch.randn(modules.embedding.net[2].weight.shape, generator=g))
    lin = dict(backbone.transformer.named_modules())[module]
    lora = {f"transformer.{module}.lora_A.weight": torch.randn(2, lin.in_features, generator=g) * 0.1,
            f"transformer.{module}.lora_B.weight": torch.randn(lin.out_features, 2, generator=g) * 0.1,
            f"transformer.{module}.alpha": torch.tensor(4.0)}
    meta = ParetoSliderMetadata(architecture=backbone.architecture, width=backbone.width, embedding=cfg,
                                objectives=[Objective("bright", "Bright", "brightness"),
                                            Objective("red", "Red", "testsupport.trainer_helpers:redness")])
    return save_paretoslider(path, meta, lora, modules)


def test_python_m_trainer_eval_on_tiny_sd3_from_a_config(tmp_path, tiny_sd3_path):
    import yaml

    from trainer.backbones import build_backbone
    from trainer.cli import main
    from trainer.config import config_from_dict
    data = {"model": {"backbone": "sd3", "path": str(tiny_sd3_path), "resolution": 32, "max_sequence_length": 8},
            "objectives": [{"name": "bright", "reward": "brightness"},
                           {"name": "red", "reward": "testsupport.trainer_helpers:redness"}],
            # train_timesteps 1: NFT trains on at most sample_steps × timestep_fraction (0.99) = 1 σ
            "data": {"prompts": ["a red cat"]}, "train": {"sample_steps": 2, "train_timesteps": 1}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(data))
    bb = build_backbone(config_from_dict(data).model)
    path = _file_for(bb, tmp_path / "sd3.safetensors", "transformer_blocks.0.attn.to_q")
    (tmp_path / "heldout.txt").write_text("a green tree\n")
    rc = main(["eval", str(path), "--config", str(tmp_path / "cfg.yaml"), "--prompts", str(tmp_path / "heldout.txt"),
               "--points", "3", "--no-progress", "--device", "cpu"])
    assert rc == 0
    out = tmp_path / "sd3_eval"
    data = json.loads((out / "eval.json").read_text())
    # no --scorer: the config's objective rewards, named after the objectives
    assert data["scorers"] == ["bright", "red"] and data["prompts"] == ["a green tree"] and data["steps"] == 2
    assert (out / "front.png").exists() and (out / "strips" / "a_green_tree.png").exists()
    assert read_metadata(path).front["hypervolume"] == data["hypervolume"]


def test_editing_eval_on_tiny_flux_kontext_scores_fidelity_to_the_source(tmp_path, tiny_kontext_path, edits_jsonl):
    from trainer.backbones import build_backbone
    from trainer.config import config_from_dict
    from trainer.evaluation.evaluate import load_eval_samples
    cfg = config_from_dict({"model": {"backbone": "flux_kontext", "path": str(tiny_kontext_path), "resolution": 32,
                                      "max_sequence_length": 8},
                            "objectives": [{"name": "a", "reward": "brightness"}, {"name": "b", "reward": "ssim"}],
                            "data": {"edits": str(edits_jsonl)}})
    bb = build_backbone(cfg.model)
    path = _file_for(bb, tmp_path / "kontext.safetensors", "transformer_blocks.0.attn.to_q")
    samples = load_eval_samples(edits=edits_jsonl)
    s = evaluate_file(path, bb, samples[:1], ["ssim", "brightness"], tmp_path / "o", points=3, steps=2,
                      progress=False)
    assert len(s["scores"]["ssim"]) == 3 and all(-1 <= v <= 1 for v in s["scores"]["ssim"])
    assert s["base"]["ssim"]["mean"] <= 1


def test_cli_errors_are_one_line_messages(tmp_path, capsys):
    assert evaluate_main([str(tmp_path / "missing.safetensors"), "--prompts", "x.txt"]) == 2
    err = capsys.readouterr().err      # advice about the trainer, not about ComfyUI's folders
    assert err == (f"eval error: {tmp_path / 'missing.safetensors'} does not exist; give the ParetoSlider file "
                   "`python -m trainer train` wrote (its config's output.dir/output.name, e.g. "
                   "runs/toy_cpu/toy_cpu.safetensors)\n")
    path = make_file(tmp_path / "s.safetensors")
    (tmp_path / "p.txt").write_text("a cat\n")
    assert evaluate_main([str(path), "--prompts", str(tmp_path / "p.txt"), "--scorer", "nope"],
                         backbone=FakeBackbone()) == 2
    assert "unknown reward id 'nope'" in capsys.readouterr().err
