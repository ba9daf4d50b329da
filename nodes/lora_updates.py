"""A LoRA file on a ComfyUI model, as per-layer updates a forward hook adds to chosen batch rows.

ComfyUI decides what the file means: its key map (`comfy.lora.model_lora_keys_unet`) names the
weight each key updates with the transform attached to it (a slice of a fused qkv, the scale/shift
swap of `norm_out`, ...), and its weight adapters (`comfy/weight_adapter`: LoRA, LoCon, LoHa, LoKr,
DoRA, OFT, GLoRA; 'diff' patches) compute the update. Each patch becomes one `LayerUpdate`:
- factored: ComfyUI's bypass form `adapter.h(x)` (LoRA / LoCon with or without a Tucker mid, LoKr),
  for patches without DoRA, reshape or a transform other than a slice of the outputs: the LoRA's
  own small factors run on the layer's input, no dense ΔW is ever built;
- dense: ΔW (or Δbias) = ComfyUI's `calculate_weight` of that patch alone, applied with the layer's
  own op: everything else (LoHa, DoRA, transforms, 'diff' patches, OFT, ...), so a format ComfyUI
  learns later is computed by ComfyUI too.
Every update is linear in its strength (DoRA included: W + s·(W_dora − W)), so row r of a batch gets
Σ_j c_rj · update_j(x). DoRA is not additive *across* LoRAs (its norm sees the patches before it):
`chained_delta` is ComfyUI's calculate_weight of the whole chain, for soups mixing LoRAs on a DoRA layer.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ..pareto_core import ParetoSliderMismatchError
from .lora import comfy_warnings

FACTORED_ADAPTERS = ("LoRAAdapter", "LoKrAdapter")   # whose bypass h(x) equals their weight update


class UpdateDoesNotFit(ParetoSliderMismatchError):
    """ComfyUI cannot apply a LoRA's update to this model's weight (it logs why; LoraLoader skips it)."""

    def __init__(self, key: str, shape: tuple, detail: str):
        self.key, self.shape, self.detail = key, tuple(shape), detail
        super().__init__(f"ComfyUI cannot apply the update of {key} to this model's "
                         f"{'×'.join(map(str, shape))} weight ({detail})")


@dataclass
class LayerUpdate:
    """One LoRA's update of one layer (`module` inside diffusion_model; `param` weight or bias)."""
    module: str
    param: str
    kind: str                          # "factored" | "dense"
    patch: Any                         # ComfyUI's patch (an adapter or a ('diff', ...) tuple)
    offset: tuple | None               # ComfyUI's (dim, start, size) slice of the weight
    function: Any                      # ComfyUI's transform of the update (None: identity)
    dora: bool
    delta: torch.Tensor | None = None  # dense: ΔW or Δbias, in the weight's float dtype
    placed: dict = field(default_factory=dict, repr=False, compare=False)   # (device, dtype) → PlacedUpdate

    @property
    def nbytes(self) -> int:
        if self.delta is not None:
            return self.delta.numel() * self.delta.element_size()
        return sum(w.numel() * 4 for w in _tensors(self.patch))


def _tensors(patch) -> list[torch.Tensor]:
    weights = getattr(patch, "weights", patch)
    if torch.is_tensor(weights):
        return [weights]
    if isinstance(weights, (list, tuple)):
        return [t for w in weights for t in _tensors(w)]
    return []


def is_layer(module: torch.nn.Module) -> bool:
    return isinstance(module, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d))


def channel_dim(module: torch.nn.Module) -> int:
    return -1 if isinstance(module, torch.nn.Linear) else 1


def layer_op(module: torch.nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer's own operation with another weight and no bias (padding, stride, groups kept)."""
    if isinstance(module, torch.nn.Linear):
        return F.linear(x, weight)
    return module._conv_forward(x, weight, None)


def calculate(chain: list[tuple[float, "LayerUpdate"]], weight: torch.Tensor, key: str) -> torch.Tensor:
    """ComfyUI's calculate_weight of (strength, update) patches applied in order to a copy of `weight`."""
    import comfy.lora
    patches = [(s, u.patch, 1.0, u.offset, u.function) for s, u in chain]
    with comfy_warnings() as complaints:
        out = comfy.lora.calculate_weight(patches, weight.detach().float().clone(), key)
    if complaints:
        raise UpdateDoesNotFit(key, weight.shape, complaints[0].getMessage())
    return out


def model_weight(model, key: str, current: torch.Tensor) -> torch.Tensor:
    """The input model's own weight (fp32): its original plus its own patches. Clones share one
    module, which ComfyUI patches in place for whichever clone is loaded, so the module's tensor may
    hold another clone's patches; the shared backup holds the original."""
    import comfy.lora
    backup = model.backup.get(key)
    weight = (backup.weight if backup is not None else current).detach().float().clone()
    if model.patches.get(key):
        weight = comfy.lora.calculate_weight(model.patches[key], weight, key)
    return weight


def dense_delta(update: LayerUpdate, weight: torch.Tensor, key: str) -> torch.Tensor:
    """ΔW of one patch at strength 1. A non-DoRA update is computed on zeros (exactly ΔW); DoRA
    needs the weight it normalises (`model_weight`)."""
    if update.dora:
        return calculate([(1.0, update)], weight, key) - weight
    return calculate([(1.0, update)], torch.zeros(weight.shape), key)


def chained_delta(chain: list[tuple[float, LayerUpdate]], weight: torch.Tensor, key: str) -> torch.Tensor:
    """W_chain − W for several LoRAs on one layer at their strengths, in order (what chained
    LoraLoaders and ComfyUI's weight patches compute, DoRA's norm included)."""
    return calculate(chain, weight, key) - weight.detach().float()


def _factored_fits(module: torch.nn.Module, adapter, out_size: int) -> bool:
    """Run the bypass form once on a zero input: a LoRA of another model fails or gives another width."""
    if isinstance(module, torch.nn.Linear):
        probe = torch.zeros(1, module.in_features)
    else:
        probe = torch.zeros((1, module.in_channels) + tuple(module.kernel_size))
    try:
        out = adapter.h(probe.to(_tensors(adapter)[0].dtype), None)
    except RuntimeError:
        return False
    return out.shape[channel_dim(module)] == out_size


def layer_updates(model, patches: dict, lora: dict, file_name: str, keep_dense: bool = True) -> list[LayerUpdate]:
    """ComfyUI's patch dict of one LoRA (comfy.lora.load_lora) → its per-layer updates. Raises
    UpdateDoesNotFit where ComfyUI cannot apply one (a LoRA of another model). keep_dense=False
    checks every update but keeps no dense ΔW (soups at one ω merge through ComfyUI instead)."""
    from comfy.weight_adapter.bypass import BypassForwardHook
    dm = model.model.diffusion_model
    dora_tensors = {id(v) for k, v in lora.items() if k.endswith(".dora_scale")}
    out = []
    for key, patch in patches.items():
        wkey, offset, function = (key, None, None) if isinstance(key, str) else (tuple(key) + (None, None))[:3]
        if not wkey.startswith("diffusion_model."):
            raise ParetoSliderMismatchError(f"LoRA {file_name}: {wkey} is not a diffusion-model weight")
        path, _, param = wkey[len("diffusion_model."):].rpartition(".")
        module = dm.get_submodule(path)
        weight = getattr(module, param, None)
        replaces = isinstance(patch, tuple) and bool(patch) and patch[0] != "diff"     # 'set' and the like
        layer = is_layer(module) and param in ("weight", "bias") and torch.is_tensor(weight)
        if not keep_dense and (replaces or not torch.is_tensor(weight)):
            continue                     # soups at one ω: ComfyUI's merge applies it as it is
        if keep_dense and replaces:
            raise ParetoSliderMismatchError(
                f"LoRA {file_name}: its '{patch[0]}' patch of {wkey} replaces the weight instead of adding to it; "
                "only soups with one ω can apply it")
        if keep_dense and not layer:
            raise ParetoSliderMismatchError(
                f"LoRA {file_name} updates {path}.{param}, a {type(module).__name__}: blend, msdda and "
                "soups per sample or on a schedule apply updates of Linear and Conv layers only (use soups "
                "with one ω)")
        if offset is not None and int(offset[1]) + int(offset[2]) > weight.shape[int(offset[0])]:
            raise ParetoSliderMismatchError(
                f"LoRA {file_name}: ComfyUI's key map puts its update of {wkey} at rows {offset[1]}–"
                f"{int(offset[1]) + int(offset[2])} of a weight with {weight.shape[int(offset[0])]}, so ComfyUI "
                "cannot apply it to this model either (LoraLoader fails too); choose a LoRA in another layout")
        name = type(patch).__name__
        dora = any(id(t) in dora_tensors for t in _tensors(patch))
        update = LayerUpdate(path, param, "dense", patch, offset, function, dora)
        reshaped = hasattr(patch, "calculate_shape") and patch.calculate_shape(wkey) is not None
        if (layer and name in FACTORED_ADAPTERS and param == "weight" and function is None and not dora and not reshaped
                and (offset is None or offset[0] == 0)):
            BypassForwardHook(module, patch, multiplier=1.0)      # sets the layer's type info on the adapter
            size = int(offset[2]) if offset is not None else int(weight.shape[0])
            if _factored_fits(module, patch, size):
                update.kind = "factored"
        if update.kind == "dense":       # also where the bypass form does not fit: ComfyUI's merge decides
            base = model_weight(model, wkey, weight) if dora else weight
            delta = dense_delta(update, base, wkey)
            # kept at the model's precision (bf16 halves a dense LoHa / DoRA); computed in fp32
            keep = weight.dtype if weight.dtype in (torch.float16, torch.bfloat16) else torch.float32
            update.delta = delta.to(keep) if keep_dense else None
        out.append(update)
    return out


@dataclass
class PlacedUpdate:
    """A LayerUpdate with its tensors on the device and dtype of one model call."""
    update: LayerUpdate
    adapter: Any = None
    delta: torch.Tensor | None = None

    @classmethod
    def place(cls, update: LayerUpdate, device: torch.device, dtype: torch.dtype) -> "PlacedUpdate":
        """Kept on the update, so re-queueing a new ω moves and casts nothing again."""
        key = (torch.device(device), dtype)
        if key not in update.placed:
            if update.kind == "dense":
                update.placed[key] = cls(update, delta=update.delta.to(device, dtype))
            else:
                adapter = copy.copy(update.patch)
                adapter.weights = type(adapter.weights)(w.to(device, dtype) if torch.is_tensor(w) else w
                                                        for w in adapter.weights)
                update.placed[key] = cls(update, adapter=adapter)
        return update.placed[key]

    def __call__(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A weight update's part of the layer's output for input x (the output slice of a fused weight)."""
        if self.adapter is not None:
            return self.adapter.h(x, None)
        return layer_op(module, x, self.delta)

    def add_to(self, module, output: torch.Tensor, x: torch.Tensor, scale, rows=None) -> None:
        """output[rows] += scale · update(x[rows]); scale a float or a (rows,) tensor."""
        u = self.update
        xs = x if rows is None else x[rows]
        target = output if rows is None else output[rows]
        dim = channel_dim(module)
        if u.offset is not None and u.kind == "factored":
            target = target.narrow(dim, int(u.offset[1]), int(u.offset[2]))
        if u.param == "bias":
            shape = [1] * target.ndim
            shape[dim] = -1
            d = self.delta.reshape(shape)
        else:
            d = self(module, xs)
        if torch.is_tensor(scale):
            d = d * scale.to(d.device, d.dtype).reshape((-1,) + (1,) * (d.ndim - 1))
        else:
            d = d * scale
        target += d.to(output.dtype)
