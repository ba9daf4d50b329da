"""Flux Kontext image editing through diffusers, from a local folder or single-file checkpoint.

A sample is (source image, instruction). The source is VAE-encoded once, packed into 2×2 patch
tokens and appended to the noisy tokens with position ids whose first coordinate is 1 (Kontext's
convention); the transformer's output for the source tokens is dropped. Latents are kept in the
packed (B, N, 4C) form throughout; `decode` unpacks them.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import UserError
from .base import Backbone, Conditioning, Sample
from .sd3 import frozen_pipeline_parts, load_pipeline, missing_text_encoders, offload_text_encoders


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, H/2·W/2, 4C): 2×2 patches as tokens (row-major)."""
    b, c, h, w = latents.shape
    x = latents.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of `pack` for latents of size (h, w)."""
    b, n, d = tokens.shape
    c = d // 4
    x = tokens.view(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)


def position_ids(h2: int, w2: int, first: float = 0.0) -> torch.Tensor:
    ids = torch.zeros(h2, w2, 3)
    ids[..., 0] = first
    ids[..., 1] = torch.arange(h2)[:, None]
    ids[..., 2] = torch.arange(w2)[None, :]
    return ids.reshape(h2 * w2, 3)


class FluxKontextBackbone(Backbone):
    architecture = "flux"
    temb_module = "time_text_embed"
    joint_blocks = "transformer_blocks"
    default_lora_targets = ("to_q", "to_k", "to_v", "to_out.0",
                            "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    text_encoder_names = ("text_encoder", "text_encoder_2")

    def __init__(self, path: str, config_path: str = "", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, resolution: int = 512, guidance: float = 2.5,
                 max_sequence_length: int = 256, variant: str = "", pipeline=None,
                 text_encoders: bool = True, quantize: str = "none"):
        from diffusers import FluxKontextPipeline
        # text_encoders=False: instructions come from a text cache (trainer.backbones.text_cache)
        self.pipe = pipeline if pipeline is not None else load_pipeline(
            FluxKontextPipeline, path, config_path, dtype,
            **({} if text_encoders else dict.fromkeys(self.text_encoder_names)))
        self.device, self.dtype = torch.device(device), dtype
        self.transformer, self.vae, self.width = frozen_pipeline_parts(
            self.pipe, self.device, self.text_encoder_names, quantize)
        self.variant = variant or f"flux-kontext-{self.width}"
        self.resolution, self.guidance, self.max_sequence_length = resolution, guidance, max_sequence_length
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.latent_size = resolution // self.vae_factor
        if self.latent_size % 2:
            raise UserError(f"model.resolution {resolution} gives an odd latent size {self.latent_size}; "
                             f"use a multiple of {2 * self.vae_factor}")
        self.channels = self.vae.config.latent_channels
        h2 = self.latent_size // 2
        self.latent_ids = position_ids(h2, h2, 0.0).to(self.device, dtype)
        self.image_ids = position_ids(h2, h2, 1.0).to(self.device, dtype)
        self._text: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._src: dict[int, torch.Tensor] = {}
        self.text_device = self.device          # caches live on CPU; see offload_text_encoders

    def _resize(self, img: torch.Tensor) -> torch.Tensor:
        return F.interpolate(img[None].float(), size=(self.resolution, self.resolution), mode="bilinear",
                             align_corners=False, antialias=True)[0].clamp(0, 1)

    @torch.no_grad()
    def encode_source(self, img: torch.Tensor) -> torch.Tensor:
        x = self._resize(img).to(self.device, self.vae.dtype)[None] * 2 - 1
        z = self.vae.encode(x).latent_dist.mode()       # deterministic: the mean
        cfg = self.vae.config
        z = (z - (cfg.shift_factor or 0.0)) * cfg.scaling_factor
        return pack(z)[0].to(self.dtype)

    @torch.no_grad()
    def encode(self, samples: Sequence[Sample]) -> Conditioning:
        todo = sorted({s.prompt for s in samples if s.prompt not in self._text})
        if todo:
            missing_text_encoders(self, todo)
            for p, t in zip(todo, self.encode_text(self.pipe, todo, self.text_device, self.max_sequence_length)):
                self.add_text_embedding(p, t)
        src = []
        for s in samples:
            if s.source is None:
                raise UserError(f"Flux Kontext edits an image, but the sample {s.prompt!r} has no source "
                                 "image; give data.edits")
            key = id(s.source)
            if key not in self._src:
                self._src[key] = self.encode_source(s.source).cpu()
            src.append(self._src[key])
        tensors = {"prompt_embeds": torch.stack([self._text[s.prompt][0] for s in samples]),
                   "pooled": torch.stack([self._text[s.prompt][1] for s in samples]),
                   "image_latents": torch.stack(src)}
        return Conditioning({k: v.to(self.device) for k, v in tensors.items()},
                            {"text_ids": self._text[samples[0].prompt][2].to(self.device)})

    @staticmethod
    def encode_text(pipe, prompts: list[str], device, max_sequence_length: int) -> list[dict[str, torch.Tensor]]:
        """Instruction embeddings with `pipe`'s CLIP and T5: per prompt {prompt_embeds, pooled, text_ids} on the CPU."""
        pe, pooled, text_ids = pipe.encode_prompt(prompts, None, device=device, max_sequence_length=max_sequence_length)
        return [{"prompt_embeds": pe[i].cpu(), "pooled": pooled[i].cpu(), "text_ids": text_ids.cpu()}
                for i in range(len(prompts))]

    def add_text_embedding(self, prompt: str, tensors: dict[str, torch.Tensor]) -> None:
        self._text[prompt] = tuple(tensors[k].to("cpu", self.dtype) for k in ("prompt_embeds", "pooled", "text_ids"))

    def offload_text_encoders(self, samples: Sequence[Sample], chunk: int = 16) -> None:
        """Encode these samples' instructions and sources now, then keep CLIP and T5 in CPU memory."""
        offload_text_encoders(self, samples, ("text_encoder", "text_encoder_2"), chunk)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.channels, self.latent_size, self.latent_size, generator=generator,
                        dtype=torch.float32)
        return pack(z).to(self.device, self.dtype)

    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        b, n = x_t.shape[:2]
        sigma = sigma.to(x_t.device, x_t.dtype).reshape(-1).expand(b)
        hidden = torch.cat([x_t, cond.tensors["image_latents"].to(x_t.dtype)], dim=1)
        guidance = (torch.full((b,), self.guidance, device=x_t.device, dtype=x_t.dtype)
                    if self.transformer.config.guidance_embeds else None)
        out = self.transformer(hidden_states=hidden, timestep=sigma, guidance=guidance,
                               pooled_projections=cond.tensors["pooled"],
                               encoder_hidden_states=cond.tensors["prompt_embeds"],
                               txt_ids=cond.extra["text_ids"],
                               img_ids=torch.cat([self.latent_ids, self.image_ids], 0).to(x_t.dtype),
                               return_dict=False)[0]
        return out[:, :n]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.vae.config
        z = unpack(latents.float(), self.latent_size, self.latent_size).to(self.vae.dtype)
        z = z / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        img = self.vae.decode(z, return_dict=False)[0]
        return ((img.float() + 1) / 2).clamp(0, 1)

    def source_images(self, samples: Sequence[Sample]) -> torch.Tensor:
        """The sources at the training resolution (B, 3, H, W) in [0, 1], for fidelity rewards."""
        return torch.stack([self._resize(s.source) for s in samples])

    def sigmas(self, steps: int) -> torch.Tensor:
        # Flux's resolution-dependent shift: mu grows linearly with the token count
        # (0.5 at 256 tokens, 1.15 at 4096), σ' = e^mu / (e^mu + 1/σ - 1).
        n = (self.latent_size // 2) ** 2
        mu = 0.5 + (1.15 - 0.5) * (n - 256) / (4096 - 256)
        s = torch.linspace(1.0, 0.0, steps + 1)
        out = torch.zeros_like(s)
        nz = s > 0
        out[nz] = math.exp(mu) / (math.exp(mu) + (1 / s[nz] - 1))
        return out
