"""trainer.rewards: the registry, weight-free rewards against hand-computed / reference values,
model-based rewards from tiny local models, user functions, and the NaN/failure guard."""
import json
import math
import string

import pytest
import torch

from trainer.rewards import (
    FunctionReward,
    RewardError,
    build_reward,
    build_rewards,
    describe_rewards,
    list_rewards,
)
from trainer.rewards.ssim import ms_ssim, ssim

ALL_IDS = {"jpeg_compressibility", "jpeg_incompressibility", "saturation", "colourfulness", "colorfulness",
           "brightness", "ssim", "ms_ssim", "lpips", "clip_score", "pickscore", "aesthetic", "python"}


def solid(rgb, n=1, size=16):
    return torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(n, 3, size, size).clone()


def pattern(n):
    """Deterministic smooth test images (values from pytorch_msssim 1.0.0 are pinned below)."""
    i = torch.arange(n, dtype=torch.float64)
    yy, xx = torch.meshgrid(i, i, indexing="ij")
    a = torch.stack([0.5 + 0.5 * torch.sin(xx / 7), 0.5 + 0.5 * torch.cos(yy / 5),
                     0.5 + 0.5 * torch.sin((xx + yy) / 11)])[None]
    b = torch.stack([0.5 + 0.4 * torch.sin(xx / 7 + 0.3), 0.5 + 0.5 * torch.cos(yy / 6),
                     0.3 + 0.3 * torch.sin((xx - yy) / 9)])[None]
    return a.float(), b.float()


# ------------------------------------------------------------------------------------- registry

def test_registry_lists_every_builtin_reward_with_its_options():
    assert ALL_IDS <= set(list_rewards())
    d = describe_rewards()
    assert d["clip_score"]["options"]["path"] is None and d["jpeg_compressibility"]["options"]["quality"] == 95
    assert d["ssim"]["needs_source"] and not d["brightness"]["needs_source"]


def test_build_reward_from_string_dict_and_name():
    assert build_reward("brightness").name == "brightness"
    r = build_reward({"id": "jpeg_compressibility", "quality": 80, "name": "simple"})
    assert r.name == "simple" and r.quality == 80


def test_unknown_id_and_option_are_refused_with_the_valid_ones():
    with pytest.raises(RewardError, match="unknown reward id 'nope'.*brightness"):
        build_reward({"id": "nope"})
    with pytest.raises(RewardError, match=r"no option\(s\) \['qualty'\].*quality"):
        build_reward({"id": "jpeg_compressibility", "qualty": 80})
    with pytest.raises(RewardError, match=r"needs option\(s\) \['path'\]"):
        build_reward({"id": "clip_score"})
    with pytest.raises(RewardError, match="quality must be in 1..100"):
        build_reward({"id": "jpeg_compressibility", "quality": 0})
    with pytest.raises(RewardError, match="share the name"):
        build_rewards(["brightness", {"id": "brightness"}])


def test_nan_inf_wrong_count_and_exceptions_name_the_reward():
    nan = FunctionReward(lambda im, p, s: torch.tensor([1.0, float("nan")]), name="broken_fn")
    with pytest.raises(RewardError, match=r"'broken_fn'.*NaN or infinity for image\(s\) \[1\]"):
        nan(torch.rand(2, 3, 8, 8), ["a", "b"])
    inf = FunctionReward(lambda im, p, s: torch.full((2,), float("inf")), name="inf_fn")
    with pytest.raises(RewardError, match="inf_fn"):
        inf(torch.rand(2, 3, 8, 8), ["a", "b"])
    short = FunctionReward(lambda im, p, s: torch.zeros(1), name="short")
    with pytest.raises(RewardError, match="returned 1 scores for 2 images"):
        short(torch.rand(2, 3, 8, 8), ["a", "b"])

    def boom(im, p, s):
        raise KeyError("missing thing")
    with pytest.raises(RewardError, match=r"reward 'boom' \(function\) failed: KeyError"):
        FunctionReward(boom)(torch.rand(1, 3, 8, 8), ["a"])


def test_input_checks():
    r = build_reward("brightness")
    with pytest.raises(RewardError, match="3 channels"):
        r(torch.rand(2, 4, 8, 8), ["a", "b"])
    with pytest.raises(RewardError, match="2 prompts for 3 images"):
        r(torch.rand(3, 3, 8, 8), ["a", "b"])
    with pytest.raises(RewardError, match="float tensor"):
        r(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), ["a"])
    with pytest.raises(RewardError, match="no sources were given"):
        build_reward("ssim")(torch.rand(1, 3, 16, 16), ["a"])


def test_videos_are_scored_per_frame_and_averaged():
    frames = torch.stack([solid([0, 0, 0], 2), solid([1, 1, 1], 2)], 1)       # (2, F=2, 3, 16, 16)
    out = build_reward("brightness")(frames, ["a", "b"])
    assert out.shape == (2,) and torch.allclose(out, torch.tensor([0.5, 0.5]))
    src = solid([0.5, 0.5, 0.5], 2)                                        # one source for all frames
    s = build_reward("ssim")(frames, ["a", "b"], src)
    assert s.shape == (2,) and (s < 1).all()


# ------------------------------------------------------------------------------------- weight-free

def test_jpeg_sizes_in_kb_flat_compresses_better_than_noise():
    g = torch.Generator().manual_seed(0)
    imgs = torch.cat([solid([0.3, 0.6, 0.9], size=64), torch.rand(1, 3, 64, 64, generator=g)])
    comp = build_reward("jpeg_compressibility")(imgs, ["a", "b"])
    incomp = build_reward("jpeg_incompressibility")(imgs, ["a", "b"])
    assert torch.equal(comp, -incomp)
    assert comp[0] > comp[1]
    assert 0.3 < incomp[0] < 2.0 and 5.0 < incomp[1] < 20.0        # kB: a flat 64² JPEG vs noise


def test_saturation_hand_values():
    imgs = torch.cat([solid([0.5, 0.5, 0.5]), solid([1, 0, 0]), solid([0.5, 0.25, 0.25]), solid([0, 0, 0])])
    out = build_reward("saturation")(imgs, list("abcd"))
    assert torch.allclose(out, torch.tensor([0.0, 1.0, 0.5, 0.0]))


def test_colourfulness_hasler_susstrunk_hand_value():
    img = torch.zeros(1, 3, 1, 2)
    img[0, 0, 0, 0] = 1.0        # a red pixel
    img[0, 2, 0, 1] = 1.0        # a blue pixel
    rg, yb = [255.0, 0.0], [127.5, -255.0]
    std = math.sqrt(127.5 ** 2 + 191.25 ** 2)
    mean = math.sqrt((sum(rg) / 2) ** 2 + (sum(yb) / 2) ** 2)
    out = build_reward("colourfulness")(img, ["x"])
    assert out.item() == pytest.approx(std + 0.3 * mean, rel=1e-6)        # 272.62
    assert build_reward("colorfulness")(solid([0.4, 0.4, 0.4]), ["x"]).item() == pytest.approx(0.0, abs=1e-4)


def test_brightness_modes():
    green = solid([0, 1, 0])
    assert build_reward("brightness")(green, ["g"]).item() == pytest.approx(0.587)
    assert build_reward({"id": "brightness", "mode": "value"})(green, ["g"]).item() == pytest.approx(1.0)
    assert build_reward({"id": "brightness", "mode": "mean"})(green, ["g"]).item() == pytest.approx(1 / 3)
    assert build_reward("brightness")(torch.cat([solid([1, 1, 1]), solid([0, 0, 0])]), "p").tolist() == \
        pytest.approx([1.0, 0.0])


# ------------------------------------------------------------------------------------- SSIM

def test_ssim_identical_is_one_and_matches_reference_values():
    a, b = pattern(192)
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-7)
    assert ms_ssim(a, a).item() == pytest.approx(1.0, abs=1e-7)
    # pinned from pytorch_msssim 1.0.0 (same definition: 11-tap Gaussian σ 1.5, valid filtering;
    # it builds the window in float32, we in float64: agreement to ~2e-6)
    assert ssim(a, b).item() == pytest.approx(0.28774343723111695, abs=1e-5)
    assert ms_ssim(a, b).item() == pytest.approx(0.30956929952213613, abs=1e-5)
    a32, b32 = pattern(32)
    assert ssim(a32, b32).item() == pytest.approx(0.4872292655010852, abs=1e-5)


def test_ssim_of_constant_images_is_the_luminance_term():
    # σ = 0 everywhere: SSIM = (2ab + C1) / (a² + b² + C1)
    x, y = solid([0.2, 0.2, 0.2], size=16), solid([0.6, 0.6, 0.6], size=16)
    c1 = 0.01 ** 2
    assert ssim(x, y).item() == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2 ** 2 + 0.6 ** 2 + c1), rel=1e-5)


def test_ms_ssim_on_small_images_uses_the_scales_that_fit():
    a, b = pattern(48)              # fits 3 scales of an 11-tap window
    v = ms_ssim(a, b).item()
    assert 0 < v < 1 and ms_ssim(a, a).item() == pytest.approx(1.0)
    assert ms_ssim(*pattern(12)).item() == pytest.approx(ssim(*pattern(12)).item())   # one scale → SSIM


def test_ssim_rewards_compare_with_the_source_resizing_it():
    a, b = pattern(64)
    r = build_reward("ssim")
    assert r(a.float(), ["x"], a.float()).item() == pytest.approx(1.0, abs=1e-6)
    assert r(a.float(), ["x"], b.float()).item() < 0.9
    big = torch.nn.functional.interpolate(a.float(), size=(128, 128), mode="bilinear")
    assert r(a.float(), ["x"], big).item() > 0.9                          # source at another size
    gray = build_reward({"id": "ms_ssim", "grayscale": True})
    assert gray(a.float(), ["x"], a.float()).item() == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------------------------- python

def test_python_reward_from_a_file_and_from_a_module(tmp_path, monkeypatch):
    (tmp_path / "myrewards.py").write_text(
        "import torch\n"
        "def redness(images, prompts, sources, gain=1.0):\n"
        "    return gain * images[:, 0].mean((1, 2))\n"
        "class Counter:\n"
        "    def __init__(self, offset=0.0):\n"
        "        self.offset = offset\n"
        "    def __call__(self, images, prompts, sources):\n"
        "        return [len(p) + self.offset for p in prompts]\n"
        "def bad(images, prompts, sources):\n"
        "    return [float('nan')] * len(prompts)\n")
    img = torch.cat([solid([1, 0, 0]), solid([0.5, 0, 0])])
    r = build_reward({"id": "python", "target": f"{tmp_path / 'myrewards.py'}:redness", "kwargs": {"gain": 2.0}})
    assert r.name == "redness" and r(img, ["a", "b"]).tolist() == pytest.approx([2.0, 1.0])
    monkeypatch.syspath_prepend(str(tmp_path))
    c = build_reward({"id": "myrewards:Counter", "kwargs": {"offset": 0.5}, "name": "plen"})
    assert c.name == "plen" and c(img, ["ab", "abcd"]).tolist() == [2.5, 4.5]
    with pytest.raises(RewardError, match="'bad'.*NaN"):
        build_reward("myrewards:bad")(img, ["a", "b"])
    with pytest.raises(RewardError, match="cannot import 'no_such_mod'"):
        build_reward({"id": "python", "target": "no_such_mod:f"})
    with pytest.raises(RewardError, match="has no attribute 'nope'"):
        build_reward({"id": "python", "target": "myrewards:nope"})


# ------------------------------------------------------------------------------------- CLIP family

@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A random 2-layer CLIP (transformers) and a character-level CLIP tokenizer, saved offline."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    d = tmp_path_factory.mktemp("tiny_clip")
    chars = list(string.ascii_lowercase + string.digits + ".,!?'-")
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(d)
    n = len(vocab)
    cfg = CLIPConfig(text_config=dict(vocab_size=n, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                      num_attention_heads=4, max_position_embeddings=77,
                                      bos_token_id=n - 2, eos_token_id=n - 1, pad_token_id=n - 1),
                     vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, image_size=32, patch_size=8),
                     projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(d)
    (d / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 32},
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}))
    return d


def _manual_embeds(folder, images, prompts):
    from transformers import AutoTokenizer, CLIPModel
    m = CLIPModel.from_pretrained(str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(str(folder))
    x = torch.nn.functional.interpolate(images, size=(32, 32), mode="bicubic", align_corners=False,
                                        antialias=True).clamp(0, 1)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        img = m.get_image_features(pixel_values=(x - mean) / std)
        enc = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        txt = m.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    img = img if isinstance(img, torch.Tensor) else img.pooler_output
    txt = txt if isinstance(txt, torch.Tensor) else txt.pooler_output
    return m, img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)


def test_clip_score_from_a_local_folder_matches_a_manual_computation(tiny_clip):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 64, 64, generator=g)
    prompts = ["a red cat", "a photo of a dog", "sketch"]
    r = build_reward({"id": "clip_score", "path": str(tiny_clip), "batch_size": 2})
    out = r(images, prompts)
    _, img, txt = _manual_embeds(tiny_clip, images, prompts)
    assert out.shape == (3,) and torch.allclose(out, (img * txt).sum(-1), atol=1e-5)
    scaled = build_reward({"id": "clip_score", "path": str(tiny_clip), "scale": 2.5, "clip_negative": True})
    assert torch.allclose(scaled(images, prompts), 2.5 * out.clamp_min(0), atol=1e-5)
    # a template compares with "<template filled with the prompt>" (style rewards)
    tpl = build_reward({"id": "clip_score", "path": str(tiny_clip), "template": "a pencil sketch of {prompt}"})
    _, img2, txt2 = _manual_embeds(tiny_clip, images[:2], ["a pencil sketch of a red cat", "a pencil sketch of x"])
    assert torch.allclose(tpl(images[:2], ["a red cat", "x"]), (img2 * txt2).sum(-1), atol=1e-5)
    # a different prompt changes the score; non-square images are centre-cropped
    assert not torch.allclose(r(images[:1], ["zebra"]), out[:1])
    assert r(torch.rand(1, 3, 48, 80, generator=g), ["x"]).shape == (1,)


def test_pickscore_is_logit_scale_times_cosine(tiny_clip):
    g = torch.Generator().manual_seed(2)
    images = torch.rand(2, 3, 32, 32, generator=g)
    prompts = ["a cat", "a dog"]
    out = build_reward({"id": "pickscore", "path": str(tiny_clip), "processor_path": str(tiny_clip)})(images, prompts)
    m, img, txt = _manual_embeds(tiny_clip, images, prompts)
    assert torch.allclose(out, m.logit_scale.exp() * (img * txt).sum(-1), atol=1e-4)


def test_aesthetic_head_laion_layout(tiny_clip, tmp_path):
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(3)
    # LAION improved-aesthetic-predictor key layout: layers.{0,2,4,6,7} (dropouts in between)
    dims = [16, 24, 12, 8, 4, 1]
    head = {}
    for idx, (i, o) in zip([0, 2, 4, 6, 7], zip(dims[:-1], dims[1:])):
        head[f"layers.{idx}.weight"] = torch.randn(o, i, generator=g)
        head[f"layers.{idx}.bias"] = torch.randn(o, generator=g)
    save_file(head, str(tmp_path / "head.safetensors"))
    torch.save(head, str(tmp_path / "head.pth"))
    images = torch.rand(2, 3, 32, 32, generator=g)
    r = build_reward({"id": "aesthetic", "path": str(tiny_clip), "head": str(tmp_path / "head.safetensors")})
    out = r(images, ["a", "b"])
    _, img, _ = _manual_embeds(tiny_clip, images, ["a", "b"])
    x = img
    for idx in [0, 2, 4, 6, 7]:
        x = x @ head[f"layers.{idx}.weight"].T + head[f"layers.{idx}.bias"]
    assert torch.allclose(out, x.squeeze(-1), atol=1e-4)
    r2 = build_reward({"id": "aesthetic", "path": str(tiny_clip), "head": str(tmp_path / "head.pth")})
    assert torch.allclose(r2(images, ["a", "b"]), out)
    wrong = {"weight": torch.randn(1, 768), "bias": torch.zeros(1)}     # a ViT-L/14 linear head
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(RewardError, match="768-d embeddings but the CLIP model .* gives 16-d"):
        build_reward({"id": "aesthetic", "path": str(tiny_clip), "head": str(tmp_path / "wrong.safetensors")})


def test_model_rewards_never_download_and_name_the_missing_path(tmp_path):
    missing = str(tmp_path / "no_clip_here")
    for spec in ({"id": "clip_score", "path": missing}, {"id": "pickscore", "path": missing},
                 {"id": "aesthetic", "path": missing, "head": missing},
                 {"id": "lpips", "path": missing}):
        with pytest.raises(RewardError, match="does not exist.*local paths only"):
            build_reward(spec)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RewardError, match="could not load a CLIP model"):
        build_reward({"id": "clip_score", "path": str(tmp_path / "empty")})


# ------------------------------------------------------------------------------------- LPIPS

def _random_lpips_weights(tmp_path, net="alex"):
    from safetensors.torch import save_file

    from trainer.rewards.lpips import LPIPSNet
    torch.manual_seed(4)
    ref = LPIPSNet(net)
    backbone = {f"features.{k}": v for k, v in ref.features.state_dict().items()}    # torchvision layout
    heads = {f"lin{i}.model.1.weight": lin.weight.detach().abs() for i, lin in enumerate(ref.lins)}
    save_file(backbone, str(tmp_path / f"{net}_backbone.safetensors"))
    torch.save(heads, str(tmp_path / f"{net}_lin.pth"))                                # lpips layout
    full = {f"net.slice1.{k}": v for k, v in backbone.items()}
    full = {}
    ends = ref.ends
    for key, v in backbone.items():
        idx = int(key.split(".")[1])
        sl = next(j for j, e in enumerate(ends) if idx < e) + 1
        full[f"net.slice{sl}.{idx}.{key.split('.')[2]}"] = v
    full.update(heads)
    save_file(full, str(tmp_path / f"{net}_full.safetensors"))
    return tmp_path


def test_lpips_from_local_weights_zero_for_identical_images(tmp_path):
    d = _random_lpips_weights(tmp_path)
    r = build_reward({"id": "lpips", "path": str(d / "alex_lin.pth"), "backbone": str(d / "alex_backbone.safetensors")})
    a, b = pattern(64)
    a, b = a.float(), b.float()
    same = r(a, ["x"], a)
    diff = r(a, ["x"], b)
    assert same.item() == pytest.approx(0.0, abs=1e-6) and diff.item() < 0
    # the full LPIPS state dict layout (net.slice<k>.<i>) gives the same network
    r_full = build_reward({"id": "lpips", "path": str(d / "alex_full.safetensors")})
    assert r_full(a, ["x"], b).item() == pytest.approx(diff.item(), rel=1e-5)
    # small images are upsampled to 64 px instead of failing in AlexNet
    assert r(a[..., :16, :16], ["x"], b[..., :16, :16]).shape == (1,)
    with pytest.raises(RewardError, match="holds only the linear heads"):
        build_reward({"id": "lpips", "path": str(d / "alex_lin.pth")})
    with pytest.raises(RewardError, match="do not fit the vgg network"):
        build_reward({"id": "lpips", "net": "vgg", "path": str(d / "alex_lin.pth"),
                      "backbone": str(d / "alex_backbone.safetensors")})


def test_the_shipped_example_configs_use_valid_reward_ids_and_options():
    """Every objective in trainer/configs/*.yaml builds, or fails only for its missing local weights."""
    from pathlib import Path

    import yaml
    configs = sorted((Path(__file__).resolve().parents[2] / "trainer" / "configs").glob("*.yaml"))
    assert configs, "trainer/configs/*.yaml: the shipped example configs are missing"
    for cfg in configs:
        for obj in yaml.safe_load(cfg.read_text()).get("objectives", []):
            spec = {"id": obj["reward"], **(obj.get("kwargs") or {})}
            try:
                build_reward(spec)
            except RewardError as err:
                assert "does not exist" in str(err), f"{cfg.name}: {obj['name']}: {err}"


def test_muted_rewards_dark_greys_and_conflicts_with_brightness_and_saturation():
    from trainer.rewards import build_reward
    muted = build_reward("muted")
    imgs = torch.zeros(4, 3, 2, 2)
    imgs[1] = 1.0                     # white: bright, not muted
    imgs[2, 0] = 1.0                  # pure red: saturated, not muted
    imgs[3] = 0.2                     # dark grey: (1 − 0.2)(1 − 0) = 0.8
    got = muted(imgs, [""] * 4)
    assert torch.allclose(got, torch.tensor([1.0, 0.0, 0.0, 0.8]), atol=1e-6)


def test_channel_dominance_scores_the_lead_of_one_channel_and_magenta_scores_zero_on_red_and_blue():
    from trainer.rewards import build_reward
    red, blue = build_reward({"id": "channel_dominance", "channel": "red"}), \
        build_reward({"id": "channel_dominance", "channel": "blue"})
    imgs = torch.zeros(3, 3, 1, 2)
    imgs[0, 0] = 0.9
    imgs[0, 1] = 0.3                  # red 0.9 over green 0.3: lead 0.6 in every pixel
    imgs[1, 0] = imgs[1, 2] = 1.0     # magenta: red and blue tie, neither leads
    imgs[2, 2, :, 0] = 0.5            # blue in one pixel of two: 0.25
    assert torch.allclose(red(imgs, [""] * 3), torch.tensor([0.6, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(blue(imgs, [""] * 3), torch.tensor([0.0, 0.0, 0.25]), atol=1e-6)
    with pytest.raises(ValueError, match="channel must be one of"):
        build_reward({"id": "channel_dominance", "channel": "cyan"})


def test_objective_rewards_are_named_after_their_objective_unless_kwargs_name_them():
    from types import SimpleNamespace

    from trainer.rl.scoring import objective_rewards
    objs = [SimpleNamespace(name="bright", reward="brightness", kwargs={"mode": "luma"}),
            SimpleNamespace(name="sat", reward="saturation", kwargs={"name": "my_sat"})]
    built = objective_rewards(SimpleNamespace(objectives=objs), None)
    assert [n for n, _ in built] == ["bright", "sat"]
    assert [r.name for _, r in built] == ["bright", "my_sat"]
