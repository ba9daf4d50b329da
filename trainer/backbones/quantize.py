"""A quantised frozen base: the transformer's Linear weights stored in 8 bits, upcast per forward.

    quantize_frozen_base(transformer, "fp8", device="cuda")   # before LoRA is attached

`fp8`: each Linear's weight becomes float8_e4m3fn with one fp32 scale per output row
(absmax / 448); its forward upcasts the weight to the dtype it was loaded in (bf16 on a GPU)
and runs an ordinary `F.linear`, so autocast, LoRA (peft wraps these modules as it wraps
nn.Linear) and gradient checkpointing see nothing new. Autograd would keep that upcast copy for
the backward of every layer (the full bf16 model again); a saved-tensor hook stores the recipe
instead (the 8-bit weight and its scale, already resident) and upcasts again in backward.
The LoRA and the preference modules stay in fp32 (model.make_trainable); only frozen weights
are quantised. Quantising moves one layer at a time to `device`, so the bf16 model never sits
on the GPU whole. Cost: one upcast per Linear per forward (memory-bound; see docs/TRAINING.md).
"""
from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError

KINDS = ("none", "fp8")
FP8 = torch.float8_e4m3fn
FP8_MAX = 448.0


class FP8Linear(nn.Linear):
    """A frozen Linear whose weight is float8_e4m3fn × a per-row fp32 scale (`weight_scale`)."""

    compute_dtype: torch.dtype

    @classmethod
    def from_linear(cls, linear: nn.Linear, device: torch.device | str | None = None) -> FP8Linear:
        w = linear.weight.detach().to(device) if device is not None else linear.weight.detach()
        q = cls.__new__(cls)
        nn.Module.__init__(q)
        q.in_features, q.out_features = linear.in_features, linear.out_features
        q.compute_dtype = w.dtype
        w8, scale = quantize_fp8(w)
        q.weight = nn.Parameter(w8, requires_grad=False)
        q.register_buffer("weight_scale", scale)
        bias = linear.bias
        q.bias = None if bias is None else nn.Parameter(bias.detach().to(w.device), requires_grad=False)
        return q

    def dequantized(self) -> torch.Tensor:
        w = self.weight.to(self.compute_dtype)
        return w.mul_(self.weight_scale.to(self.compute_dtype)[:, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.dequantized()
        store = weakref.ref(w.untyped_storage())   # a strong reference here would keep every upcast alive

        def pack(t):
            # the upcast weight (or a view of it, e.g. its transpose): keep how to rebuild it
            if t.untyped_storage() is store():
                return ("fp8", t.shape, t.stride(), t.storage_offset())
            return t

        def unpack(p):
            if isinstance(p, tuple) and p and p[0] == "fp8":
                return self.dequantized().as_strided(p[1], p[2], p[3])
            return p

        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 (×scale → {self.compute_dtype})"


def quantize_fp8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) weight → (float8_e4m3fn weight, fp32 scale per row) with w ≈ w8 · scale."""
    amax = w.detach().abs().amax(dim=1).float()
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    w8 = (w.float() / scale[:, None]).clamp_(-FP8_MAX, FP8_MAX).to(FP8)
    return w8, scale


def quantize_frozen_base(module: nn.Module, kind: str = "fp8", device: torch.device | str | None = None) -> int:
    """Replace every nn.Linear of `module` (before LoRA is attached) by its quantised form, one
    layer at a time on `device`; returns how many were replaced."""
    if kind not in KINDS:
        raise UserError(f"model.quantize: unknown kind {kind!r}; choose one of {list(KINDS)}")
    if kind == "none":
        return 0
    if any("lora_" in n for n, _ in module.named_parameters()):
        raise UserError("model.quantize: quantise the base before attaching the LoRA")
    targets = [(name, m) for name, m in module.named_modules()
               if isinstance(m, nn.Linear) and not isinstance(m, FP8Linear)]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, FP8Linear.from_linear(linear, device))
    return len(targets)
