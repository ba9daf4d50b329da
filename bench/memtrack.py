"""Counting the memory of real torch code without running it at size (bench/memory.py's instruments).

- `LiveBytes`: a TorchDispatchMode that sees every tensor an op creates on one device and follows
  its storage until it is freed (a weakref on the storage, whose Python object torch keeps alive
  exactly as long as the storage). It keeps the running total, the peak, the total by tag at the
  peak, and the peak of each phase. Reading a value (`.item()`, `bool(t)`) returns 1 / True: on
  the meta device there are no values, and memory does not depend on them.
- `SavedBytes`: autograd's saved-tensor hooks; the bytes of distinct storages saved for backward
  that are not parameters.
- `checkpoint_with_emulation`: gradient checkpointing that recomputes under the same emulation.
- `EmulatedAutocast`: a TorchFunctionMode applying an autocast policy (which ops run in the low
  precision, which in fp32) on a device without autocast (meta), above autograd as the real one
  is, with its cache of parameter casts. `CUDA_POLICY` is the table of ATen's
  autocast_mode.h for CUDA; `CPU_POLICY` the CPU one, which the tests compare with torch's own
  CPU autocast.
- `flash_attention`: F.scaled_dot_product_attention as CUDA's flash kernel (what it saves for
  backward: q, k, v, out and the fp32 log-sum-exp), or as the CPU's flash kernel.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map_only, tree_unflatten
from torch.utils.flop_counter import flop_registry

aten = torch.ops.aten
_SCALAR_READS = {aten._local_scalar_dense.default, aten.is_nonzero.default, aten.equal.default}


class LiveBytes(TorchDispatchMode):
    """Live bytes of storages on `device_type` created while active (see the module docstring).

    `round_to`: the allocator's granularity (CUDA's caching allocator rounds every block to 512 B).
    Tags: every new storage gets `self.tag`; `retag(tensors, tag)` moves existing ones."""

    def __init__(self, device_type: str = "meta", round_to: int = 1, memoize: bool = True):
        super().__init__()
        self.device_type, self.round_to = device_type, round_to
        self.memoize = memoize and device_type == "meta"
        self._memo: dict = {}
        self.live: dict[int, list] = {}        # id(storage) -> [bytes, tag, weakref]
        self.current = self.peak = 0
        self.by_tag: dict[str, int] = {}
        self.peak_by_tag: dict[str, int] = {}
        self.tag = "other"
        self.phase = "setup"
        self.phase_peak: dict[str, int] = {}
        self.phase_peak_by_tag: dict[str, dict[str, int]] = {}
        self.ops = 0
        self.flops: dict[str, int] = {}         # matmul / conv / attention FLOPs by phase

    # ----------------------------------------------------------------- bookkeeping
    def _size(self, n: int) -> int:
        r = self.round_to
        return -(-n // r) * r if r > 1 else n

    def track(self, t) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type != self.device_type:
            return
        s = t.untyped_storage()
        key = id(s)
        if key in self.live:
            return
        n = self._size(s.nbytes())
        rec = [n, self.tag, None]
        rec[2] = weakref.ref(s, lambda _r, key=key: self._free(key))
        self.live[key] = rec
        self._add(rec[1], n)

    def _free(self, key: int) -> None:
        rec = self.live.pop(key, None)
        if rec is not None:
            self._add(rec[1], -rec[0])

    def _add(self, tag: str, n: int) -> None:
        self.current += n
        self.by_tag[tag] = self.by_tag.get(tag, 0) + n
        if n > 0:
            if self.current > self.peak:
                self.peak = self.current
                self.peak_by_tag = dict(self.by_tag)
            if self.current > self.phase_peak.get(self.phase, -1):
                self.phase_peak[self.phase] = self.current
                self.phase_peak_by_tag[self.phase] = dict(self.by_tag)

    def retag(self, tensors, tag: str) -> None:
        for t in tensors:
            if not isinstance(t, torch.Tensor) or t.device.type != self.device_type:
                continue
            rec = self.live.get(id(t.untyped_storage()))
            if rec is not None and rec[1] != tag:
                self._add(rec[1], -rec[0])
                rec[1] = tag
                self._add(tag, rec[0])

    def bytes_of(self, tensors) -> int:
        """Bytes of the distinct live storages behind `tensors`."""
        seen = {id(t.untyped_storage()) for t in tensors
                if isinstance(t, torch.Tensor) and t.device.type == self.device_type}
        return sum(self.live[k][0] for k in seen if k in self.live)

    @contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        old = self.phase
        self.phase = phase
        self.phase_peak.setdefault(phase, self.current)
        self.phase_peak_by_tag.setdefault(phase, dict(self.by_tag))
        try:
            yield
        finally:
            self.phase = old

    @contextmanager
    def tagged(self, tag: str) -> Iterator[None]:
        old = self.tag
        self.tag = tag
        try:
            yield
        finally:
            self.tag = old

    # ----------------------------------------------------------------- the mode
    def reset_peak(self) -> None:
        """Forget the peaks so far (e.g. of building the model on meta, which no GPU run does)."""
        self.peak, self.peak_by_tag = self.current, dict(self.by_tag)
        self.phase_peak, self.phase_peak_by_tag = {}, {}
        self.flops = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SCALAR_READS and any(isinstance(a, torch.Tensor) and a.device.type == "meta" for a in args):
            return _scalar_of(args[0])
        if func is aten._to_copy.default and isinstance(args[0], torch.Tensor) and args[0].is_meta \
                and kwargs.get("device") is not None and torch.device(kwargs["device"]).type == "cpu":
            # a copy off the meta device (e.g. embeddings cached on the CPU): same shape, no values
            return torch.empty(args[0].shape, dtype=kwargs.get("dtype") or args[0].dtype, device="cpu")
        out = self._run(func, args, kwargs)
        self.ops += 1
        flop = flop_registry.get(func.overloadpacket)
        if flop is not None:
            self.flops[self.phase] = self.flops.get(self.phase, 0) + int(flop(*args, **kwargs, out_val=out))
        if isinstance(out, torch.Tensor):
            self.track(out)
        elif isinstance(out, (tuple, list)):
            for t in out:
                if isinstance(t, torch.Tensor):
                    self.track(t)
                elif isinstance(t, (tuple, list)):
                    tree_map_only(torch.Tensor, self.track, t)
        return out


    def _run(self, func, args, kwargs):
        """func(*args); on meta, an op that returns fresh tensors is computed once per input signature
        (meta kernels are Python and slow; a transformer repeats the same shapes block after block)."""
        if not self.memoize or not _fresh_outputs(func):
            return func(*args, **kwargs)
        try:
            key = (func, _key(args), _key(kwargs))
            hit = self._memo.get(key)
        except TypeError:            # an unhashable argument: no memo
            return func(*args, **kwargs)
        if hit is None:
            out = func(*args, **kwargs)
            flat, spec = tree_flatten(out)
            if not all(not isinstance(t, torch.Tensor) or t.is_meta for t in flat):
                return out
            self._memo[key] = ([(tuple(t.shape), t.stride(), t.dtype) if isinstance(t, torch.Tensor) else ("v", t)
                                for t in flat], spec)
            return out
        flat, spec = hit
        return tree_unflatten([torch.empty_strided(f[0], f[1], dtype=f[2], device="meta") if f[0] != "v" else f[1]
                               for f in flat], spec)


_FRESH: dict = {}


def _fresh_outputs(func) -> bool:
    """An op that neither mutates nor aliases its inputs (its outputs are new storages)."""
    hit = _FRESH.get(func)
    if hit is None:
        schema = func._schema
        hit = not schema.is_mutable and all(r.alias_info is None for r in schema.returns) \
            and func not in _SCALAR_READS and "rand" not in schema.name and "empty" not in schema.name
        _FRESH[func] = hit
    return hit


def _key(x):
    if isinstance(x, torch.Tensor):
        if not x.is_meta:
            raise TypeError("not on meta")
        return ("T", tuple(x.shape), x.stride(), x.dtype, x.requires_grad)
    if isinstance(x, (list, tuple)):
        return tuple(_key(v) for v in x)
    if isinstance(x, dict):
        return tuple((k, _key(v)) for k, v in sorted(x.items()))
    if x is None or isinstance(x, (int, float, bool, str, torch.dtype, torch.device, torch.memory_format, torch.layout)):
        return x
    raise TypeError(f"no memo key for {type(x).__name__}")


def _scalar_of(t: torch.Tensor):
    if t.dtype == torch.bool:
        return True
    return 1 if not t.is_floating_point() and not t.is_complex() else 1.0


class SavedBytes:
    """Bytes of distinct storages autograd saves for backward inside `forward()` (parameters and
    other `exclude`d tensors are resident anyway); `max_per_forward` over the forwards seen."""

    def __init__(self, exclude=()):
        self.exclude = {id(t.untyped_storage()) for t in exclude}
        self.max_per_forward = 0

    @contextmanager
    def forward(self) -> Iterator[None]:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor):
            s = t.untyped_storage()
            if id(s) not in self.exclude:
                seen.setdefault(id(s), s.nbytes())
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield
        self.max_per_forward = max(self.max_per_forward, sum(seen.values()))


# --------------------------------------------------------------------------- autocast on meta
T = torch.Tensor
_LOWER = [F.linear, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d,
          torch.matmul, T.matmul, T.__matmul__, torch.mm, T.mm, torch.bmm, T.bmm, torch.baddbmm, T.baddbmm,
          torch.addmm, T.addmm, torch.addbmm, torch.einsum, F.prelu, F.scaled_dot_product_attention]
# CUDA: AT_FORALL_FP32 and AT_FORALL_FP32_SET_OPT_DTYPE (ops without an explicit dtype run in fp32)
_CUDA_FP32 = [torch.acos, torch.asin, torch.cosh, torch.erfinv, torch.exp, T.exp, torch.expm1, torch.log, T.log,
              torch.log10, torch.log2, torch.log1p, torch.reciprocal, T.reciprocal, torch.rsqrt, T.rsqrt,
              torch.sinh, torch.tan, torch.pow, T.pow, T.__pow__, F.softplus, F.layer_norm, F.group_norm,
              torch.cosine_similarity, F.cosine_similarity, F.nll_loss, F.kl_div, F.l1_loss, F.smooth_l1_loss,
              F.huber_loss, F.mse_loss, F.binary_cross_entropy_with_logits, torch.dist, torch.cdist,
              torch.renorm, torch.logsumexp, T.logsumexp, F.interpolate, torch.norm, T.norm,
              torch.linalg.vector_norm, torch.linalg.matrix_norm]
_CUDA_FP32_OPT_DTYPE = [torch.prod, T.prod, torch.softmax, T.softmax, F.softmax, torch.log_softmax,
                        T.log_softmax, F.log_softmax, torch.cumprod, T.cumprod, torch.cumsum, T.cumsum,
                        torch.sum, T.sum]
# CPU: the fp32 ops of its table that our models reach (it runs layer_norm, softmax, exp... as given)
_CPU_FP32 = [F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.nll_loss, F.kl_div,
             F.binary_cross_entropy_with_logits, torch.cdist, torch.prod, T.prod]
CUDA_POLICY = {**{f: "lower" for f in _LOWER}, **{f: "fp32" for f in _CUDA_FP32},
               **{f: "fp32_opt_dtype" for f in _CUDA_FP32_OPT_DTYPE}}
CPU_POLICY = {**{f: "lower" for f in _LOWER if f is not F.prelu}, **{f: "fp32" for f in _CPU_FP32}}


class EmulatedAutocast(TorchFunctionMode):
    """autocast(dtype) for tensors on `device_type`, applied at the Python API above autograd (as
    the real one is applied above it), so that autograd records and saves the casted tensors.
    Low-precision casts of fp32 leaf tensors that require grad (parameters) are cached for the
    life of the context, as torch's autocast caches them."""

    def __init__(self, dtype: torch.dtype, policy: dict, device_type: str = "meta"):
        super().__init__()
        self.dtype, self.policy, self.device_type = dtype, policy, device_type
        self.cache: dict[int, tuple[weakref.ref, torch.Tensor]] = {}

    def _eligible(self, t) -> bool:
        return (isinstance(t, torch.Tensor) and t.device.type == self.device_type and t.is_floating_point()
                and t.dtype != torch.float64)

    def _lower(self, t):
        if not self._eligible(t) or t.dtype == self.dtype:
            return t
        if t.is_leaf and t.requires_grad and t.dtype == torch.float32:
            hit = self.cache.get(id(t))
            if hit is not None and hit[0]() is t:
                return hit[1]
            out = t.to(self.dtype)
            self.cache[id(t)] = (weakref.ref(t), out)
            return out
        return t.to(self.dtype)

    def _fp32(self, t):
        return t.float() if self._eligible(t) and t.dtype in (torch.float16, torch.bfloat16) else t

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = self.policy.get(func)
        if kind == "lower":
            args, kwargs = tree_map_only(torch.Tensor, self._lower, (args, kwargs))
        elif kind == "fp32":
            args, kwargs = tree_map_only(torch.Tensor, self._fp32, (args, kwargs))
        elif kind == "fp32_opt_dtype" and kwargs.get("dtype") is None and args and self._eligible(args[0]) \
                and args[0].dtype in (torch.float16, torch.bfloat16):
            kwargs = {**kwargs, "dtype": torch.float32}
        return func(*args, **kwargs)

    def __exit__(self, *exc):
        self.cache.clear()
        return super().__exit__(*exc)

    def fresh(self) -> EmulatedAutocast:
        return EmulatedAutocast(self.dtype, self.policy, self.device_type)


def checkpoint_with_emulation():
    """A diffusers gradient_checkpointing_func whose recomputation re-enters the emulation modes
    (autocast, attention kernel) that were active in the forward, as torch's checkpoint re-enters
    its real autocast (the backward may run on another thread, without the caller's modes)."""
    from torch.overrides import _get_current_function_mode_stack
    from torch.utils.checkpoint import checkpoint

    def context_fn():
        modes = [m.fresh() for m in _get_current_function_mode_stack() if isinstance(m, (EmulatedAutocast, _Attention))]
        return _Modes([]), _Modes(modes)

    def fn(module, *args):
        return checkpoint(module.__call__, *args, use_reentrant=False, context_fn=context_fn)
    return fn


class _Modes:
    def __init__(self, modes):
        self.modes = modes

    def __enter__(self):
        for m in self.modes:
            m.__enter__()
        return self

    def __exit__(self, *exc):
        for m in reversed(self.modes):
            m.__exit__(*exc)
        return False


# --------------------------------------------------------------------------- attention kernels
def _flash_cuda(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    q, k, v = query, key, value
    if attn_mask is not None or enable_gqa:   # (the text encoders' masked attention: as torch runs it)
        return F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa)
    return aten._scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal, False, scale=scale)[0]


def _flash_cpu(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    q, k, v = query, key, value
    if attn_mask is not None or enable_gqa:
        return F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa)
    return aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal, scale=scale)[0]


class _Attention(TorchFunctionMode):
    def __init__(self, impl):
        super().__init__()
        self.impl = impl

    def fresh(self) -> _Attention:
        return _Attention(self.impl)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.scaled_dot_product_attention:
            return self.impl(*args, **(kwargs or {}))
        return func(*args, **(kwargs or {}))


def flash_attention(kind: str = "cuda") -> TorchFunctionMode:
    """SDPA as the flash kernel a GPU runs ("cuda", bf16/fp16) or the CPU runs ("cpu")."""
    return _Attention(_flash_cuda if kind == "cuda" else _flash_cpu)
