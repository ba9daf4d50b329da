"""The CPU toy backbone: a small diffusers `SD3Transformer2DModel` in pixel space.

Same class and code path as SD3/SD3.5 (architecture "sd3"), but 16x16 RGB pixels instead of
VAE latents and 12 learned prompt tokens instead of text encoders:
- `encode`: prompt string -> learned `encoder_hidden_states` (B, L, C) and pooled (B, P);
- `decode`: pixels in [-1, 1] -> images in [0, 1] (clamp and scale; there is no VAE);
- prompts are "<colour> <shape>" with colour in red/green/blue/yellow and shape in
  circle/square/triangle (see bench/toytask/data.py for the renderer the base was trained on).

The pretrained base lives in bench/toytask/base/toy_base.safetensors (keys `transformer.*` and
`text.*`, config in the safetensors metadata; `save_toy_base` writes that layout);
bench/toytask/pretrain.py reproduces it.

It stays in the product (not in testsupport/): it is the backbone of the CPU demo (scripts/demo.sh →
demo/cpu_demo.py) and of the documented tiny run (`model.backbone: toy`). The base file itself is in
the repository, not in the wheel: without it, `model.path` must name one.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import MissingPathError, UserError
from .base import Backbone, Conditioning, Sample

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
PROMPTS = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)   # index = shape * 4 + colour

DEFAULT_BASE = Path(__file__).resolve().parents[2] / "bench" / "toytask" / "base" / "toy_base.safetensors"

# 4 joint blocks, 3 heads x 32 = width 96, patch 2 on 16x16 RGB: ~1.3 M parameters.
DEFAULT_CONFIG = {"sample_size": 16, "patch_size": 2, "in_channels": 3, "out_channels": 3, "num_layers": 4,
                  "attention_head_dim": 32, "num_attention_heads": 3, "joint_attention_dim": 64,
                  "caption_projection_dim": 96, "pooled_projection_dim": 32, "pos_embed_max_size": 8}
DEFAULT_TOKENS = 4


def prompt_index(prompt: str) -> int:
    key = " ".join(prompt.strip().lower().split())
    if key not in PROMPTS:
        raise UserError(f"unknown toy prompt {prompt!r}; the toy backbone knows: {', '.join(PROMPTS)}")
    return PROMPTS.index(key)


class ToyTextEncoder(nn.Module):
    """A lookup table: prompt index -> (tokens, pooled). Trained during pretraining, then frozen."""

    def __init__(self, num_prompts: int, tokens: int, dim: int, pooled_dim: int):
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(num_prompts, tokens, dim) * 0.5)
        self.pooled = nn.Parameter(torch.randn(num_prompts, pooled_dim) * 0.5)

    def forward(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[idx], self.pooled[idx]


def build_transformer(config: dict | None = None):
    from diffusers import SD3Transformer2DModel
    return SD3Transformer2DModel(**(config or DEFAULT_CONFIG))


class ToyBackbone(Backbone):
    architecture = "sd3"
    variant = "toy-sd3-16px"
    temb_module = "time_text_embed"
    default_lora_targets = ("to_q", "to_k", "to_v", "to_out.0",
                            "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    joint_blocks = "transformer_blocks"

    def __init__(self, path: str | Path | None = DEFAULT_BASE, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, config: dict | None = None,
                 tokens: int = DEFAULT_TOKENS):
        """Load the pretrained base from `path` (None: random weights from `config`)."""
        meta = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise MissingPathError(
                    f"toy base model {path} not found; run `python -m bench.toytask.pretrain` to make it")
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("toy_config", "{}"))
        config = dict(meta.get("transformer", config or DEFAULT_CONFIG))
        tokens = int(meta.get("tokens", tokens))
        self.config = config
        self.transformer = build_transformer(config)
        self.text = ToyTextEncoder(len(PROMPTS), tokens, config["joint_attention_dim"],
                                   config["pooled_projection_dim"])
        if path is not None:
            from safetensors.torch import load_file
            state = load_file(str(path))
            self.transformer.load_state_dict(
                {k[len("transformer."):]: v for k, v in state.items() if k.startswith("transformer.")})
            self.text.load_state_dict({k[len("text."):]: v for k, v in state.items() if k.startswith("text.")})
        self.width = self.transformer.inner_dim
        self.device = torch.device(device)
        self.dtype = dtype
        # (only cast when needed: diffusers warns on any .to(dtype))
        if dtype != torch.float32:
            self.transformer.to(dtype=dtype)
            self.text.to(dtype=dtype)
        self.transformer.to(self.device)
        self.text.to(self.device).requires_grad_(False).eval()

    # --- Backbone interface -------------------------------------------------------------
    @torch.no_grad()
    def encode(self, samples: Sequence[Sample | str]) -> Conditioning:
        idx = torch.tensor([prompt_index(s if isinstance(s, str) else s.prompt) for s in samples],
                           device=self.device)
        tokens, pooled = self.text(idx)
        return Conditioning({"encoder_hidden_states": tokens, "pooled_projections": pooled}, {})

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        c, s = self.config["in_channels"], self.config["sample_size"]
        return torch.randn(n, c, s, s, generator=generator).to(self.device, self.dtype)

    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, device=x_t.device, dtype=x_t.dtype).expand(x_t.shape[0])
        return self.transformer(hidden_states=x_t,
                                encoder_hidden_states=cond.tensors["encoder_hidden_states"],
                                pooled_projections=cond.tensors["pooled_projections"],
                                timestep=sigma * 1000, return_dict=False)[0]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return ((latents.float() + 1) / 2).clamp(0, 1)


def save_toy_base(path: str | Path, transformer: nn.Module, text: ToyTextEncoder, config: dict,
                  extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {f"transformer.{k}": v.detach().float().contiguous().cpu() for k, v in transformer.state_dict().items()}
    state.update({f"text.{k}": v.detach().float().contiguous().cpu() for k, v in text.state_dict().items()})
    meta = {"transformer": config, "tokens": text.tokens.shape[1], "prompts": list(PROMPTS), **(extra or {})}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"toy_config": json.dumps(meta)})
    tmp.replace(path)
    return path
