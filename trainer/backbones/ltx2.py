"""LTX-2 text-to-video (audio + video DiT) through diffusers, from a local folder or a single file.

- a diffusers LTX2Pipeline folder (model_index.json with transformer/, vae/, audio_vae/,
  text_encoder/, tokenizer/, connectors/, vocoder/): everything is read from it;
- a single `.safetensors` transformer plus `config_path` (a local diffusers folder of the same
  model): the original Lightricks key layout (what ComfyUI loads, optionally under
  `model.diffusion_model.`) goes through diffusers' own converter
  (`convert_ltx2_transformer_to_diffusers`); a diffusers-layout file is loaded as it is.

Latents are one flat row per sample: the video tokens (F·H·W × C, patch size 1) followed by the
audio tokens (L × C·M). LTX-2's transformer needs both streams, so the audio latents are sampled
jointly with the video ones; `decode` returns only the video, so video rewards ignore the audio.
ω goes into the video stream's timestep embedding `time_embed.emb` (ComfyUI: `adaln_single.emb`);
the audio stream's (`audio_time_embed` / `audio_adaln_single`) is left untouched.

The transformer is called as ComfyUI's LTXAVModel computes it: timestep = σ·1000 for the video and
audio AdaLN, the *unscaled* σ of the other stream for the audio–video cross-attention modulation
(`use_cross_timestep=True`, `sigma=σ`). ComfyUI takes that cross-attention σ as the batch maximum
(`timestep.max()`); sampling gives every row the same σ, so it equals the per-row σ used here
(`cross_timestep = "batch_max"` reproduces ComfyUI also for rows at different σ).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch

from ..errors import MissingPathError, UserError
from .base import Backbone, Conditioning, Sample
from .sd3 import frozen_pipeline_parts, load_pipeline, offload_text_encoders

VIDEO_LORA_TARGETS = tuple(f"{attn}.{proj}" for attn in ("attn1", "attn2")
                           for proj in ("to_q", "to_k", "to_v", "to_out.0"))
FROZEN_PARTS = ("text_encoder", "connectors", "audio_vae", "vocoder")   # besides the VAE


def load_ltx2_pipeline(path: str, config_path: str = "", dtype: torch.dtype = torch.float32):
    """An LTX2Pipeline from local files: a folder, or a single transformer file + config_path."""
    from diffusers import LTX2Pipeline
    p = Path(path).expanduser()
    if p.is_dir() or not p.exists():
        return load_pipeline(LTX2Pipeline, path, config_path, dtype)
    if p.suffix != ".safetensors":
        raise UserError(f"model.path {path!r}: only .safetensors checkpoints are read (never pickles)")
    if not config_path:
        raise UserError(f"model.path {path!r} is a single-file checkpoint; also set model.config_path to a "
                        "local diffusers LTX-2 folder of the same model (configs, tokenizer, VAE, text encoder), "
                        "since nothing is downloaded")
    cfg_dir = Path(config_path).expanduser()
    if not (cfg_dir / "model_index.json").is_file():
        raise MissingPathError(f"model.config_path {config_path!r} is not a diffusers folder (no model_index.json)")
    pipe = load_pipeline(LTX2Pipeline, str(cfg_dir), "", dtype)
    load_transformer_file(pipe.transformer, p, dtype)
    return pipe


def transformer_state_from_file(path: Path) -> dict[str, torch.Tensor]:
    """A transformer file's tensors in diffusers' key layout (original layout → diffusers' converter)."""
    from safetensors.torch import load_file
    state = load_file(str(path))
    if any(k.startswith("transformer.") for k in state):          # a pipeline-style diffusers file
        state = {k[len("transformer."):]: v for k, v in state.items() if k.startswith("transformer.")}
    if any(k.endswith("adaln_single.emb.timestep_embedder.linear_1.weight") for k in state):
        from diffusers.loaders.single_file_utils import convert_ltx2_transformer_to_diffusers
        state = convert_ltx2_transformer_to_diffusers(state)      # drops the text connectors
    return state


def load_transformer_file(transformer, path: Path, dtype: torch.dtype) -> None:
    state = {k: v.to(dtype) for k, v in transformer_state_from_file(path).items()}
    expected = transformer.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    bad = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or extra or bad:
        raise UserError(f"model.path {path.name}: its LTX-2 transformer does not match model.config_path's "
                        f"(missing {missing[:3]}, unexpected {extra[:3]}, other shapes {bad[:3]}); point "
                        "model.config_path at the diffusers folder of the same LTX-2 model")
    transformer.load_state_dict(state, strict=True)


class LTX2Backbone(Backbone):
    architecture = "ltx2"
    temb_module = "time_embed.emb"      # the video stream's timestep embedding (ComfyUI adaln_single.emb)
    joint_blocks = ""                   # block modulation is SD3/Flux only
    default_lora_targets = VIDEO_LORA_TARGETS
    cross_timestep = "row"              # σ of the a/v cross-attention modulation: "row" | "batch_max" (ComfyUI)

    def __init__(self, path: str, config_path: str = "", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, resolution: int = 512, num_frames: int = 9,
                 frame_rate: float = 25.0, max_sequence_length: int = 128, variant: str = "", pipeline=None):
        self.pipe = pipeline if pipeline is not None else load_ltx2_pipeline(path, config_path, dtype)
        self.device, self.dtype = torch.device(device), dtype
        self.transformer, self.vae, _ = frozen_pipeline_parts(self.pipe, self.device, FROZEN_PARTS)
        cfg = self.transformer.config
        self.width = int(cfg.num_attention_heads * cfg.attention_head_dim)
        self.variant = variant or f"ltx2-{cfg.num_layers}L-{self.width}"
        s_ratio, t_ratio = self.pipe.vae_spatial_compression_ratio, self.pipe.vae_temporal_compression_ratio
        if resolution % s_ratio or resolution < s_ratio:
            raise UserError(f"model.resolution {resolution}: use a multiple of the VAE's spatial compression "
                            f"{s_ratio}")
        if num_frames < 1 or (num_frames - 1) % t_ratio:
            raise UserError(f"model.num_frames {num_frames}: LTX-2 takes 1 + k·{t_ratio} frames "
                            f"(e.g. {1 + t_ratio}, {1 + 2 * t_ratio}, {1 + 4 * t_ratio})")
        if frame_rate <= 0:
            raise UserError(f"model.frame_rate must be > 0 (got {frame_rate})")
        self.resolution, self.num_frames, self.frame_rate = resolution, num_frames, float(frame_rate)
        self.max_sequence_length = max_sequence_length
        self.latent_frames = (num_frames - 1) // t_ratio + 1
        self.latent_size = resolution // s_ratio
        self.channels = cfg.in_channels
        # audio latents as the pipeline sizes them: duration × latents per second
        audio = self.pipe.audio_vae.config
        per_second = audio.sample_rate / audio.mel_hop_length / float(self.pipe.audio_vae_temporal_compression_ratio)
        self.audio_frames = max(1, round(num_frames / self.frame_rate * per_second))
        self.audio_channels = cfg.audio_in_channels
        self.video_dim = self.latent_frames * self.latent_size ** 2 * self.channels
        self.audio_dim = self.audio_frames * self.audio_channels
        self.text_device = self.device
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    # --- text ---------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, samples: Sequence[Sample]) -> Conditioning:
        todo = sorted({s.prompt for s in samples if s.prompt not in self._cache})
        if todo:
            embeds, mask, _, _ = self.pipe.encode_prompt(todo, do_classifier_free_guidance=False,
                                                         max_sequence_length=self.max_sequence_length,
                                                         device=self.text_device)
            connectors = self.pipe.connectors
            side = getattr(self.pipe.tokenizer, "padding_side", "left")
            video, audio, conn_mask = connectors(embeds.to(connectors.dtype), mask, padding_side=side)
            for i, p in enumerate(todo):
                self._cache[p] = (video[i].to("cpu", self.dtype), audio[i].to("cpu", self.dtype),
                                  conn_mask[i].to("cpu"))
        rows = [self._cache[s.prompt] for s in samples]
        tensors = {name: torch.stack([r[j] for r in rows]).to(self.device)
                   for j, name in enumerate(("video_embeds", "audio_embeds", "mask"))}
        return Conditioning(tensors, {})

    def offload_text_encoders(self, samples: Sequence[Sample], chunk: int = 16) -> None:
        """Encode these samples' prompts now, then keep Gemma and the connectors in CPU memory."""
        offload_text_encoders(self, samples, ("text_encoder", "connectors"), chunk)

    # --- latents ------------------------------------------------------------------------------
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        x = torch.randn(n, self.video_dim + self.audio_dim, generator=generator, dtype=torch.float32)
        return x.to(self.device, self.dtype)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat rows → video tokens (B, F·H·W, C) and audio tokens (B, L, C·M)."""
        b = x.shape[0]
        return (x[:, :self.video_dim].reshape(b, -1, self.channels),
                x[:, self.video_dim:].reshape(b, self.audio_frames, self.audio_channels))

    def video_latents(self, x: torch.Tensor) -> torch.Tensor:
        """The video part of flat rows as (B, C, F, H, W) latents (ComfyUI's LATENT layout)."""
        tokens = self.split(x)[0]
        f, h = self.latent_frames, self.latent_size
        return tokens.reshape(x.shape[0], f, h, h, self.channels).permute(0, 4, 1, 2, 3)

    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        b = x_t.shape[0]
        video, audio = self.split(x_t)
        sigma = sigma.to(x_t.device, torch.float32).reshape(-1).expand(b)
        cross = sigma.max().expand(b) if self.cross_timestep == "batch_max" else sigma
        t = cond.tensors
        v_video, v_audio = self.transformer(
            hidden_states=video, audio_hidden_states=audio, encoder_hidden_states=t["video_embeds"].to(x_t.dtype),
            audio_encoder_hidden_states=t["audio_embeds"].to(x_t.dtype), encoder_attention_mask=t["mask"],
            audio_encoder_attention_mask=t["mask"], timestep=sigma * 1000.0, sigma=cross, use_cross_timestep=True,
            num_frames=self.latent_frames, height=self.latent_size, width=self.latent_size, fps=self.frame_rate,
            audio_num_frames=self.audio_frames, return_dict=False)
        return torch.cat([v_video.reshape(b, -1), v_audio.reshape(b, -1)], dim=1).to(x_t.dtype)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Flat rows → videos (B, F, 3, H, W) in [0, 1] (the audio part is not decoded)."""
        vae = self.vae
        z = self.video_latents(latents.float())
        mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(z.device, z.dtype)
        std = vae.latents_std.view(1, -1, 1, 1, 1).to(z.device, z.dtype)
        z = z * std / vae.config.scaling_factor + mean
        video = vae.decode(z.to(vae.dtype), None, return_dict=False)[0]
        return ((video.float() + 1) / 2).clamp(0, 1).permute(0, 2, 1, 3, 4)

    def sigmas(self, steps: int) -> torch.Tensor:
        # the pipeline's resolution-dependent shift (scheduler config: 0.95 at 1024 tokens, 2.05 at 4096)
        sched = self.pipe.scheduler.config
        n = self.latent_frames * self.latent_size ** 2
        lo, hi = sched.get("base_image_seq_len", 1024), sched.get("max_image_seq_len", 4096)
        b_shift, m_shift = sched.get("base_shift", 0.95), sched.get("max_shift", 2.05)
        mu = b_shift + (m_shift - b_shift) * (n - lo) / (hi - lo)
        s = torch.linspace(1.0, 0.0, steps + 1)
        out = torch.zeros_like(s)
        nz = s > 0
        out[nz] = math.exp(mu) / (math.exp(mu) + (1 / s[nz] - 1))
        return out
