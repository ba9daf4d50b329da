"""The LTX-2 backbone on a tiny random LTX2Pipeline (diffusers' test shapes): video latents with the
audio stream sampled jointly, ω in the video timestep embedding only, training smoke runs."""
import time

import pytest
import torch
from testsupport.trainer_helpers import tiny_config

from pareto_core import EmbeddingConfig, PreferenceModules, load_paretoslider
from trainer.backbones.base import Sample
from trainer.adapters.inject import preference_hooks
from trainer.run.train import run


@pytest.fixture(scope="session")
def tiny_ltx2_path(tmp_path_factory):
    from testsupport.tiny import make_tiny_ltx2
    return make_tiny_ltx2(tmp_path_factory.mktemp("models") / "tiny_ltx2")


@pytest.fixture(scope="session")
def ltx2(tiny_ltx2_path):
    from trainer.backbones.ltx2 import LTX2Backbone
    return LTX2Backbone(str(tiny_ltx2_path), resolution=32, num_frames=5, frame_rate=25.0, max_sequence_length=8)


def ltx2_config(path, out, **train):
    cfg = tiny_config(path, out, backbone="ltx2", **train)
    cfg.model.num_frames, cfg.model.frame_rate = 5, 25.0
    cfg.objectives[0].name, cfg.objectives[0].label, cfg.objectives[0].reward = "motion", "Motion", "motion_magnitude"
    cfg.objectives[1].name, cfg.objectives[1].label, cfg.objectives[1].reward = ("stability", "Steady",
                                                                                 "temporal_consistency")
    return cfg


def test_latents_hold_video_and_audio_and_decode_to_video_frames(ltx2):
    x = ltx2.noise(2, generator=torch.Generator().manual_seed(0))
    # 3 latent frames of 16x16x4 (VAE 2x), audio 5 latents (0.2 s at 25 per second) of 8 ch x 16 mel
    assert x.shape == (2, 3 * 16 * 16 * 4 + 5 * 128)
    assert ltx2.video_latents(x).shape == (2, 4, 3, 16, 16)
    video = ltx2.decode(x)
    assert video.shape == (2, 5, 3, 32, 32) and 0 <= video.min() and video.max() <= 1
    cond = ltx2.encode([Sample("a red ball"), Sample("waves")])
    v = ltx2.velocity(x, torch.tensor([0.8, 0.3]), cond)
    assert v.shape == x.shape and torch.isfinite(v).all()
    # the audio stream takes part: changing only the audio latents changes the video velocity
    x2 = x.clone()
    x2[:, ltx2.video_dim:] += 1.0
    v2 = ltx2.velocity(x2, torch.tensor([0.8, 0.3]), cond)
    assert (v2[:, :ltx2.video_dim] - v[:, :ltx2.video_dim]).abs().max() > 1e-4


def test_omega_enters_the_video_timestep_embedding_per_row_and_not_the_audio_one(ltx2):
    mods = PreferenceModules(EmbeddingConfig(num_objectives=2, width=ltx2.width, hidden=8))
    with torch.no_grad():
        for p in mods.parameters():
            p.normal_(0, 0.5)
    seen = {}
    audio = ltx2.transformer.audio_time_embed.emb.register_forward_hook(
        lambda m, i, o: seen.__setitem__("audio", o.clone()))
    x = ltx2.noise(2, generator=torch.Generator().manual_seed(1))
    cond = ltx2.encode([Sample("a red ball")] * 2)
    sigma = torch.tensor([0.6, 0.6])
    omegas = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    with torch.no_grad():
        base = ltx2.velocity(x, sigma, cond)
        audio_base = seen["audio"]
        with preference_hooks(ltx2.transformer, ltx2, mods, omegas):
            both = ltx2.velocity(x, sigma, cond)
        audio_both = seen["audio"]
        singles = []
        for i in range(2):
            with preference_hooks(ltx2.transformer, ltx2, mods, omegas[i]):
                singles.append(ltx2.velocity(x[i:i + 1], sigma[i:i + 1], cond.index(slice(i, i + 1))))
    audio.remove()
    assert (both - base).abs().max() > 1e-3                       # ω changes the output
    assert torch.equal(audio_both, audio_base)                    # the audio embedding is untouched
    assert torch.allclose(torch.cat(singles), both, atol=1e-5)    # row i follows ω_i


def test_ltx2_nft_smoke_trains_the_motion_stability_pair_into_a_file(tiny_ltx2_path, tmp_path):
    cfg = ltx2_config(tiny_ltx2_path, tmp_path / "run", steps=2)
    cfg.model.gradient_checkpointing = True
    path = run(cfg)
    f = load_paretoslider(path)
    assert f.metadata.architecture == "ltx2" and f.metadata.width == 16
    assert [o.reward for o in f.metadata.objectives] == ["motion_magnitude", "temporal_consistency"]
    modules = {k[:-len(".lora_A.weight")] for k in f.lora if k.endswith(".lora_A.weight")}
    # video self- and cross-attention only: the audio stream and the a/v attention keep their weights
    assert modules and all(".attn1." in m or ".attn2." in m for m in modules)
    assert not any("audio" in m for m in modules)
    assert any(f.lora[k].abs().sum() > 0 for k in f.lora if k.endswith("lora_B.weight"))
    assert f.preference_state["embedding.net.2.weight"].abs().sum() > 0


def test_a_frame_count_the_vae_cannot_produce_is_refused(tiny_ltx2_path, tmp_path):
    from trainer.errors import UserError
    cfg = ltx2_config(tiny_ltx2_path, tmp_path / "run", steps=1)
    cfg.model.num_frames = 4
    with pytest.raises(UserError, match="1 \\+ k·2 frames"):
        run(cfg)


def test_trainer_eval_on_a_video_file_writes_frame_strips_and_an_animated_preview(tiny_ltx2_path, tmp_path, capsys):
    import dataclasses

    import yaml
    from PIL import Image

    from trainer.evaluation.cli import evaluate_main
    cfg = ltx2_config(tiny_ltx2_path, tmp_path / "run", steps=1)
    path = run(cfg)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    (tmp_path / "heldout.txt").write_text("a horse on a beach\n")
    t0 = time.perf_counter()
    rc = evaluate_main([str(path), "--config", str(tmp_path / "cfg.yaml"), "--prompts", str(tmp_path / "heldout.txt"),
                        "--points", "3", "--steps", "2", "--no-progress", "--out", str(tmp_path / "eval")])
    print(f"tiny LTX-2 eval (3 ω + base): {time.perf_counter() - t0:.1f}s")
    assert rc == 0
    out = tmp_path / "eval"
    assert (out / "front.png").is_file() and (out / "eval.json").is_file()
    strip = Image.open(out / "strips" / "a_horse_on_a_beach.png")
    gif = Image.open(out / "preview.gif")
    assert gif.format == "GIF" and gif.n_frames == 5                  # the video's 5 frames
    assert gif.size[0] >= 4 * 96                                       # base + 3 ω side by side
    assert strip.size[1] > 3 * 96 and strip.size[0] > 5 * 96           # 4 rows (base + ω) × 5 frames
    assert "preview.gif" in capsys.readouterr().out
    f = load_paretoslider(path)
    assert f.metadata.front["scorers"] == ["motion", "stability"] and len(f.metadata.front["omega"]) == 3


def test_files_without_the_audio_stream_field_read_as_video_only_and_a_file_claiming_it_is_refused(tmp_path):
    import json

    from pareto_core import ParetoSliderMetadata, ParetoSliderMismatchError, Objective, save_paretoslider
    emb = EmbeddingConfig(num_objectives=2, width=16, hidden=4)
    meta = ParetoSliderMetadata(architecture="ltx2", width=16, embedding=emb,
                                objectives=[Objective("motion"), Objective("stability")])
    d = json.loads(meta.to_json())
    d.pop("audio_stream")                                    # written before the field existed
    assert ParetoSliderMetadata.from_json(json.dumps(d)).audio_stream is False
    meta.audio_stream = True
    path = save_paretoslider(tmp_path / "audio.safetensors", meta, {}, PreferenceModules(emb))
    with pytest.raises(ParetoSliderMismatchError, match="audio stream"):
        load_paretoslider(path).check_compatible("ltx2", 16)
