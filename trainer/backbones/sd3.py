"""SD3 / SD3.5 text-to-image (MMDiT) through diffusers, from a local folder or single-file checkpoint.

- a diffusers folder (model_index.json with transformer/, vae/, text_encoder{,_2,_3}/ and the
  tokenizers): everything is read from it;
- a single `.safetensors` file plus `config_path`, a local diffusers folder of the same model
  (configs, tokenizers, VAE, text encoders; nothing is downloaded): a transformer in diffusers'
  key layout (e.g. a fine-tune) replaces the folder's transformer; the original release layout
  (`model.diffusion_model.*`) goes through `from_single_file(path, config=config_path)`.
A folder without T5 (model_index.json: "text_encoder_3": [null, null]) works: diffusers feeds zeros.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import torch

from ..errors import MissingPathError, UserError
from .base import Backbone, Conditioning, Sample


def load_pipeline(cls, path: str, config_path: str = "", dtype: torch.dtype = torch.float32, **components):
    """A diffusers pipeline from local files only (HF_HUB_OFFLINE style). `components` replace the
    folder's (e.g. text_encoder=None: loaded without it)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise MissingPathError(f"model.path {path!r} does not exist; give a local diffusers folder "
                                "or a single-file .safetensors checkpoint")
    # diffusers >= 0.36 calls it `dtype` (torch_dtype is deprecated there); older ones `torch_dtype`
    key = "dtype" if "dtype" in inspect.signature(cls.from_pretrained).parameters or _diffusers_at_least("0.36") \
        else "torch_dtype"
    if p.is_dir():
        if not (p / "model_index.json").is_file():
            raise MissingPathError(f"model.path {path!r} is a folder without model_index.json; give the "
                                    "diffusers folder of the model (the one containing transformer/ and vae/)")
        return cls.from_pretrained(str(p), local_files_only=True, **{key: dtype}, **components)
    if not config_path:
        raise UserError(f"model.path {path!r} is a single-file checkpoint; also set model.config_path to a "
                         "local diffusers folder of the same model (configs and tokenizers), since nothing "
                         "is downloaded")
    if p.suffix != ".safetensors":
        raise UserError(f"model.path {path!r}: only .safetensors checkpoints are read (never pickles)")
    cfg_dir = Path(config_path).expanduser()
    if not (cfg_dir / "model_index.json").is_file():
        raise MissingPathError(f"model.config_path {config_path!r} is not a diffusers folder (no model_index.json)")
    prefix = _diffusers_transformer_prefix(p)
    if prefix is not None:
        # a transformer saved in diffusers' own key layout (e.g. a fine-tune): the rest of the
        # pipeline comes from config_path, the transformer weights from this file
        pipe = cls.from_pretrained(str(cfg_dir), local_files_only=True, **{key: dtype}, **components)
        _load_transformer_file(pipe.transformer, p, prefix, dtype)
        return pipe
    # the original release layout (model.diffusion_model.*): diffusers converts it
    return cls.from_single_file(str(p), config=str(cfg_dir), local_files_only=True, **{key: dtype}, **components)


def _diffusers_transformer_prefix(path: Path) -> str | None:
    """The key prefix ("" or "transformer.") of a diffusers-layout transformer file, else None."""
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    for prefix in ("", "transformer."):
        if any(k.startswith(prefix + "transformer_blocks.") for k in keys) and \
                any(k.startswith(prefix + "time_text_embed.") for k in keys):
            return prefix
    return None


def _load_transformer_file(transformer, path: Path, prefix: str, dtype: torch.dtype) -> None:
    from safetensors.torch import load_file
    state = {k[len(prefix):]: v.to(dtype) for k, v in load_file(str(path)).items() if k.startswith(prefix)}
    expected = transformer.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    bad_shape = [k for k in set(state) & set(expected) if state[k].shape != expected[k].shape]
    if missing or extra or bad_shape:
        raise UserError(f"model.path {path.name}: its transformer does not match model.config_path's "
                         f"(missing {missing[:3]}, unexpected {extra[:3]}, other shapes {bad_shape[:3]}); "
                         "point model.config_path at the diffusers folder of the same model")
    transformer.load_state_dict(state, strict=True)


def frozen_pipeline_parts(pipe, device: torch.device, encoders: tuple[str, ...], quantize: str = "none"):
    """Move `pipe` to `device`, freeze its VAE and text encoders; return (transformer, vae, width)
    where width is the transformer's inner (timestep-embedding) width. quantize != "none": the
    transformer's Linear weights are quantised layer by layer onto `device` first (trainer.backbones.quantize)."""
    if quantize != "none":
        from .quantize import quantize_frozen_base
        quantize_frozen_base(pipe.transformer, quantize, device)
    pipe.to(device)
    for name in ("vae", *encoders):
        m = getattr(pipe, name, None)
        if m is not None:
            m.requires_grad_(False).eval()
    cfg = pipe.transformer.config
    return pipe.transformer, pipe.vae, int(cfg.num_attention_heads * cfg.attention_head_dim)


def _diffusers_at_least(version: str) -> bool:
    import diffusers
    from packaging.version import Version
    return Version(diffusers.__version__.split("+")[0]) >= Version(version)


class SD3Backbone(Backbone):
    architecture = "sd3"
    temb_module = "time_text_embed"
    joint_blocks = "transformer_blocks"
    default_lora_targets = ("to_q", "to_k", "to_v", "to_out.0",
                            "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    text_encoder_names = ("text_encoder", "text_encoder_2", "text_encoder_3")

    def __init__(self, path: str, config_path: str = "", device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, resolution: int = 512, shift: float = 3.0,
                 max_sequence_length: int = 256, variant: str = "", pipeline=None, timestep_dtype: str = "fp32",
                 text_encoders: bool = True, quantize: str = "none"):
        from diffusers import StableDiffusion3Pipeline
        # text_encoders=False: prompts come from a text cache (trainer.backbones.text_cache), CLIP/T5 never load
        self.pipe = pipeline if pipeline is not None else load_pipeline(
            StableDiffusion3Pipeline, path, config_path, dtype,
            **({} if text_encoders else dict.fromkeys(self.text_encoder_names)))
        self.device, self.dtype = torch.device(device), dtype
        self.transformer, self.vae, self.width = frozen_pipeline_parts(
            self.pipe, self.device, self.text_encoder_names, quantize)
        self.variant = variant or f"sd3-{self.transformer.config.num_layers}L-{self.width}"
        self.resolution, self.shift, self.max_sequence_length = resolution, shift, max_sequence_length
        self.timestep_dtype = timestep_dtype
        self.vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.latent_channels = self.transformer.config.in_channels
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}   # on CPU: grows with the prompts
        self.text_device = self.device

    @torch.no_grad()
    def encode(self, samples: Sequence[Sample]) -> Conditioning:
        todo = sorted({s.prompt for s in samples if s.prompt not in self._cache})
        if todo:
            missing_text_encoders(self, todo)
            for p, t in zip(todo, self.encode_text(self.pipe, todo, self.text_device, self.max_sequence_length)):
                self.add_text_embedding(p, t)
        pe = torch.stack([self._cache[s.prompt][0] for s in samples]).to(self.device)
        pp = torch.stack([self._cache[s.prompt][1] for s in samples]).to(self.device)
        return Conditioning({"prompt_embeds": pe, "pooled": pp}, {})

    @staticmethod
    def encode_text(pipe, prompts: list[str], device, max_sequence_length: int) -> list[dict[str, torch.Tensor]]:
        """Prompt embeddings with `pipe`'s text encoders: per prompt {prompt_embeds, pooled} on the CPU."""
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, None, None, device=device,
                                                  do_classifier_free_guidance=False,
                                                  max_sequence_length=max_sequence_length)
        return [{"prompt_embeds": embeds[i].cpu(), "pooled": pooled[i].cpu()} for i in range(len(prompts))]

    def add_text_embedding(self, prompt: str, tensors: dict[str, torch.Tensor]) -> None:
        self._cache[prompt] = (tensors["prompt_embeds"].to("cpu", self.dtype), tensors["pooled"].to("cpu", self.dtype))

    def offload_text_encoders(self, samples: Sequence[Sample], chunk: int = 16) -> None:
        """Encode these samples' prompts now, then keep the text encoders in CPU memory (prompts
        seen later are encoded there, slowly). Saves the text encoders' GPU memory (T5-XXL: ~10 GB)."""
        offload_text_encoders(self, samples, ("text_encoder", "text_encoder_2", "text_encoder_3"), chunk)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        h = self.resolution // self.vae_factor
        x = torch.randn(n, self.latent_channels, h, h, generator=generator, dtype=torch.float32)
        return x.to(self.device, self.dtype)

    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        # fp32 like diffusers' pipeline (timestep_dtype "model" rounds σ·1000 to bf16 first, as before)
        dtype = x_t.dtype if self.timestep_dtype == "model" else torch.float32
        sigma = sigma.to(x_t.device, dtype).reshape(-1).expand(x_t.shape[0])
        return self.transformer(hidden_states=x_t, timestep=sigma * 1000.0,
                                encoder_hidden_states=cond.tensors["prompt_embeds"],
                                pooled_projections=cond.tensors["pooled"], return_dict=False)[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        cfg = self.vae.config
        z = latents.to(self.vae.dtype) / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        img = self.vae.decode(z, return_dict=False)[0]
        return ((img.float() + 1) / 2).clamp(0, 1)

    def sigmas(self, steps: int) -> torch.Tensor:
        s = torch.linspace(1.0, 0.0, steps + 1)
        return self.shift * s / (1 + (self.shift - 1) * s)


def missing_text_encoders(backbone, prompts: list[str]) -> None:
    """A clear error when prompts must be encoded but the pipeline was loaded without its text encoders."""
    if all(getattr(backbone.pipe, n, None) is None for n in backbone.text_encoder_names):
        raise UserError(f"prompt {prompts[0]!r} is not in model.text_cache and the text encoders are not loaded; "
                         "list every training prompt in data (the cache is filled from it at start)")


def offload_text_encoders(backbone, samples, names, chunk: int = 16) -> None:
    samples = list(samples)
    for i in range(0, len(samples), chunk):
        backbone.encode(samples[i:i + chunk])
    for name in names:
        m = getattr(backbone.pipe, name, None)
        if m is not None:
            m.to("cpu")
    backbone.text_device = torch.device("cpu")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
