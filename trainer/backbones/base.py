"""The interface every backbone adapter implements (SD3, Flux Kontext, LTX-2, the CPU toy task).

The training loop only talks to this interface: it never knows which diffusers class is inside.
Conventions (rectified flow, as in SD3 / Flux / LTX):
    x_t = (1 - sigma) * x0 + sigma * noise,   velocity target v = noise - x0,   sigma in [0, 1].
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn


@dataclass
class Conditioning:
    """Encoded inputs for a batch. `tensors` are batch-first and index/repeat row-wise;
    `extra` holds batch-independent things (e.g. image ids for Flux)."""
    tensors: dict[str, torch.Tensor]
    extra: dict[str, Any]

    def index(self, idx: torch.Tensor | slice) -> "Conditioning":
        return Conditioning({k: v[idx] for k, v in self.tensors.items()}, self.extra)

    def repeat_interleave(self, n: int) -> "Conditioning":
        return Conditioning({k: v.repeat_interleave(n, 0) for k, v in self.tensors.items()}, self.extra)

    def to(self, device, dtype=None) -> "Conditioning":
        def move(v):
            return v.to(device=device, dtype=dtype) if (dtype is not None and v.is_floating_point()) \
                else v.to(device)
        return Conditioning({k: move(v) for k, v in self.tensors.items()}, self.extra)


@dataclass
class Sample:
    """One training example: a prompt and, for editing, the source image (B=1 tensors)."""
    prompt: str
    source: torch.Tensor | None = None   # (3, H, W) in [0, 1] for editing backbones
    key: str = ""                        # identifies the group for advantage normalisation


class Backbone(ABC):
    architecture: str           # pareto_core.ARCHITECTURES key written to the file: sd3|flux|ltx2
    variant: str = ""           # free text for the file's metadata
    transformer: nn.Module      # the diffusers transformer; LoRA is attached to it by the trainer
    temb_module: str            # dotted name inside `transformer` whose output ω is added to
    width: int                  # width of that output
    default_lora_targets: Sequence[str]   # peft target_modules for attention projections
    joint_blocks: str = ""      # dotted name of the ModuleList for block modulation ("" = none)

    @abstractmethod
    def encode(self, samples: Sequence[Sample]) -> Conditioning:
        """Text (and source image) encoders. Called under no_grad; encoders stay frozen."""

    @abstractmethod
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Initial latents x_1 ~ N(0, I), shape (n, ...), on the model's device and dtype."""

    @abstractmethod
    def velocity(self, x_t: torch.Tensor, sigma: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        """v(x_t, sigma | cond) from `self.transformer` (whatever adapters/hooks are active).
        sigma is (B,) in [0, 1]."""

    @abstractmethod
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents → images (B, 3, H, W) in [0, 1] (videos: (B, F, 3, H, W)) for rewards."""

    def sigmas(self, steps: int) -> torch.Tensor:
        """Sampling schedule from 1 to 0 (steps + 1 values). Backbones may shift it."""
        return torch.linspace(1.0, 0.0, steps + 1)

    # --- optional hooks (added by the trainer; defaults suit text-to-image backbones) ---------
    def source_images(self, samples: Sequence[Sample]) -> torch.Tensor | None:
        """Source images (B, 3, H, W) in [0, 1] handed to rewards (fidelity to the edited image);
        None when the samples have no sources. Editing backbones resize them to their output size."""
        if all(s.source is None for s in samples):
            return None
        return torch.stack([s.source for s in samples])
