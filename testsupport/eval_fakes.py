"""Helpers for the evaluation tests: a tiny fake backbone, a ParetoSlider file for it, a scorer."""
import zlib

import torch
from torch import nn

from pareto_core import EmbeddingConfig, Objective, ParetoSliderMetadata, PreferenceModules, save_paretoslider
from trainer.backbones.base import Backbone, Conditioning
from trainer.rewards import FunctionReward

WIDTH = 8


class TinyTransformer(nn.Module):
    """temb = time_text_embed([σ, pooled]); v = mix(x) + proj(temb) per channel."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.time_text_embed = nn.Linear(1 + 4, WIDTH)
        self.proj = nn.Linear(WIDTH, 3)
        self.mix = nn.Conv2d(3, 3, 1)
        for p in self.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x, sigma, pooled):
        temb = self.time_text_embed(torch.cat([sigma[:, None], pooled], 1))
        return self.mix(x) + self.proj(temb)[:, :, None, None]


class FakeBackbone(Backbone):
    architecture = "sd3"
    temb_module = "time_text_embed"
    width = WIDTH
    default_lora_targets = ("proj",)

    def __init__(self):
        self.transformer = TinyTransformer().requires_grad_(False)

    def encode(self, samples):
        pooled = torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(zlib.crc32(s.prompt.encode())))
                              for s in samples])
        return Conditioning({"pooled": pooled}, {})

    def noise(self, n, generator=None):
        return torch.randn(n, 3, 8, 8, generator=generator)

    def velocity(self, x_t, sigma, cond):
        return self.transformer(x_t, sigma, cond.tensors["pooled"])

    def decode(self, latents):
        return ((latents + 1) / 2).clamp(0, 1)


def make_file(path, seed=1, lora=True):
    cfg = EmbeddingConfig(num_objectives=2, width=WIDTH, hidden=16)
    modules = PreferenceModules(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in modules.parameters():       # a trained-looking, ω-dependent module
            p.copy_(torch.randn(p.shape, generator=g))
    meta = ParetoSliderMetadata(architecture="sd3", width=WIDTH, embedding=cfg,
                                objectives=[Objective("bright", "Bright", "brightness"),
                                            Objective("sat", "Saturated", "saturation")])
    state = {}
    if lora:
        state = {"transformer.proj.lora_A.weight": torch.randn(2, WIDTH, generator=g) * 0.5,
                 "transformer.proj.lora_B.weight": torch.randn(3, 2, generator=g) * 0.5,
                 "transformer.proj.alpha": torch.tensor(4.0)}
    save_paretoslider(path, meta, state, modules)
    return path


def channel_mean(c):
    return FunctionReward(lambda im, p, s: im[:, c].mean((1, 2)), name=f"channel{c}")


