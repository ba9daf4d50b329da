"""The options that make a real run fit one GPU, on tiny models: a text cache on disk (encoders never
loaded for training), an fp8 frozen base, VAE decode in chunks, and the per-GPU configs."""
import json
from pathlib import Path

import pytest
import torch
from torch import nn
from testsupport.trainer_helpers import tiny_config

REPO = Path(__file__).resolve().parents[2]


def _cfg(tiny_sd3_path, tmp_path, model=None, **train):
    from dataclasses import replace
    cfg = tiny_config(tiny_sd3_path, tmp_path / "run", **train)
    return replace(cfg, model=replace(cfg.model, **(model or {})))


# ----------------------------------------------------------------------------- text cache
def test_text_cache_encodes_each_prompt_once_and_training_loads_no_text_encoder(tiny_sd3_path, tmp_path):
    from trainer.backbones import text_cache
    from trainer.backbones import build_backbone
    from trainer.backbones.base import Sample
    from trainer.run.train import Trainer
    cache = tmp_path / "text.safetensors"
    cfg = _cfg(tiny_sd3_path, tmp_path, {"text_cache": str(cache)})
    trainer = Trainer(cfg)
    assert cache.is_file()
    pipe = trainer.backbone.pipe
    assert pipe.text_encoder is None and pipe.text_encoder_2 is None and pipe.text_encoder_3 is None
    assert text_cache.fill(cfg.model, ["a red cat", "a blue dog"], "cpu", torch.float32) == 0   # nothing new
    metrics = trainer.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    # the cached embeddings are the ones the text encoders give
    full = build_backbone(tiny_config(tiny_sd3_path, tmp_path / "b").model, "cpu", torch.float32)
    got = trainer.backbone.encode([Sample("a blue dog")])
    want = full.encode([Sample("a blue dog")])
    for k in ("prompt_embeds", "pooled"):
        torch.testing.assert_close(got.tensors[k], want.tensors[k])
    # a prompt the cache lacks, with no encoder to encode it: a clear error
    with pytest.raises(Exception, match="not in model.text_cache"):
        trainer.backbone.encode([Sample("a green bird")])


def test_text_cache_made_for_another_model_is_refused(tiny_sd3_path, tmp_path):
    from dataclasses import replace

    from trainer.backbones import text_cache
    from trainer.errors import UserError
    cache = tmp_path / "text.safetensors"
    cfg = _cfg(tiny_sd3_path, tmp_path, {"text_cache": str(cache)})
    text_cache.fill(cfg.model, ["a red cat"], "cpu", torch.float32)
    other = replace(cfg.model, max_sequence_length=12)
    with pytest.raises(UserError, match="was made for"):
        text_cache.fill(other, ["a red cat"], "cpu", torch.float32)


# ----------------------------------------------------------------------------- fp8 base
def test_fp8_linear_matches_the_linear_and_keeps_no_upcast_weight_for_backward():
    from trainer.backbones.quantize import FP8Linear, quantize_frozen_base
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 96), nn.GELU(), nn.Linear(96, 32)).requires_grad_(False)
    x = torch.randn(8, 64, requires_grad=True)
    ref = net(x)
    ref.square().sum().backward()
    gref, x.grad = x.grad.clone(), None
    assert quantize_frozen_base(net, "fp8") == 2
    assert all(isinstance(m, FP8Linear) and m.weight.dtype == torch.float8_e4m3fn for m in (net[0], net[2]))
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = net(x)
    out.square().sum().backward()
    rel = (out - ref).norm() / ref.norm()
    assert rel < 0.05
    assert (x.grad - gref).norm() / gref.norm() < 0.08
    # nothing of weight size is saved for backward: the hook keeps the fp8 weight's recipe
    assert all(t.numel() < 64 * 96 for t in saved)


def test_fp8_base_trains_with_fp32_lora_and_checkpointing(tiny_sd3_path, tmp_path):
    from trainer.backbones.quantize import FP8Linear
    from trainer.run.train import Trainer
    cfg = _cfg(tiny_sd3_path, tmp_path, {"quantize": "fp8", "gradient_checkpointing": True})
    trainer = Trainer(cfg)
    tr = trainer.backbone.transformer
    base = [m for m in tr.modules() if isinstance(m, FP8Linear)]
    assert base and all(m.weight.dtype == torch.float8_e4m3fn for m in base)
    assert all(p.dtype == torch.float32 for p in trainer.policy.params)
    before = [p.detach().clone() for p in trainer.policy.params]
    metrics = trainer.step()
    assert metrics["skipped_updates"] == 0 and torch.isfinite(torch.tensor(metrics["loss"]))
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.policy.params))


def test_quantising_after_the_lora_is_refused(tiny_sd3_path):
    from trainer.errors import UserError
    from trainer.adapters.lora import attach_lora
    from trainer.backbones.quantize import quantize_frozen_base
    net = nn.Sequential(nn.Linear(8, 8))
    attach_lora(net, 2, 4, ["0"])
    with pytest.raises(UserError, match="before attaching the LoRA"):
        quantize_frozen_base(net, "fp8")


# ----------------------------------------------------------------------------- decode in chunks
def test_rewards_decode_in_chunks_of_decode_batch_rows(tiny_sd3_path, tmp_path):
    from trainer.run.train import Trainer
    cfg = _cfg(tiny_sd3_path, tmp_path, group_size=4, sample_batch=4, decode_batch=1)
    trainer = Trainer(cfg)
    rows, decode = [], trainer.backbone.decode

    def recording(z):
        rows.append(z.shape[0])
        return decode(z)
    trainer.backbone.decode = recording
    trainer.step()
    assert rows == [1] * 8          # 1 prompt × 2 ω × 4 samples, one row per decode
    z = torch.randn(3, 16, 16, 16)
    torch.testing.assert_close(torch.cat([decode(z[i:i + 1]) for i in range(3)]), decode(z), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- the GPU configs
@pytest.mark.parametrize("name,model,resolution,gpu_gb", [
    ("gpu_16gb", "sd35_medium", 512, 16), ("gpu_24gb", "flux_kontext_dev", 512, 24),
    ("gpu_48gb", "flux_kontext_dev", 1024, 48), ("gpu_80gb", "flux_kontext_dev", 1024, 80)])
def test_each_gpu_config_loads_and_its_predicted_peak_fits_its_gpu(name, model, resolution, gpu_gb):
    from trainer.config import load_config
    cfg = load_config(REPO / "trainer" / "configs" / f"{name}.yaml")
    assert cfg.model.resolution == resolution
    assert cfg.model.backbone == {"sd35_medium": "sd3", "flux_kontext_dev": "flux_kontext"}[model]
    data = json.loads((REPO / "bench" / "results" / "memory.json").read_text())
    (row,) = [r for r in data["results"] if r["option_set"] == name and r["model"] == model
              and r["resolution"] == resolution]
    assert row["peak_gb"] + data["headroom_gb"] <= gpu_gb
