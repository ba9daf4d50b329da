"""The reward interface and the registry that builds rewards from config specs.

A reward scores generated images, higher is better:

    reward(images, prompts, sources=None) -> tensor (B,)

- images:  float (B, 3, H, W) in [0, 1]; videos (B, F, 3, H, W) are scored per frame and the
  frame scores averaged, so every reward works on video unchanged (`video = True` rewards, e.g.
  motion and temporal consistency in video.py, get the whole videos instead);
- prompts: list of B strings (the text the images were generated from);
- sources: optional (B, 3, H, W) in [0, 1] (editing: the image that was edited), or
  (B, F, 3, H, W) for video-to-video.

A spec is a dict with an "id" and that reward's options, e.g. {"id": "jpeg_compressibility"}
or {"id": "clip_score", "path": "/models/clip-vit-large-patch14"}; a bare string is an id with
no options. Every call is checked: a reward that raises, or returns NaN / infinity / the wrong
shape, raises RewardError with the reward's name in the message. An exception raised inside the
user's own code (a "python" reward, a wrapped function) becomes one RewardError line naming the
reward; one raised inside a built-in reward is a bug of ours and keeps its traceback.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import torch

from ..errors import UserError

_REGISTRY: dict[str, type["Reward"]] = {}


class RewardError(UserError, RuntimeError):
    """A reward could not be built or returned unusable scores. The message names the reward."""


class Reward:
    """Base class. Subclasses set `id` (registry key) and implement `score` on (N, 3, H, W) images.

    `needs_source` rewards (fidelity to the edited image) refuse to run without sources.
    Model-based rewards load their weights in `__init__` from local paths and move them to the
    images' device on first use.
    """

    id: str = ""
    needs_source: bool = False
    description: str = ""
    video: bool = False          # True: `score` gets whole videos (B, F, 3, H, W), not frames
    user_code: bool = False      # True: `score` runs the user's code, whose exceptions are user errors

    def __init__(self, name: str | None = None):
        self.name = name or self.id

    # --- what subclasses implement -------------------------------------------------------
    def score(self, images: torch.Tensor, prompts: list[str],
              sources: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    # --- what callers use ----------------------------------------------------------------
    def __call__(self, images: torch.Tensor, prompts: Sequence[str] | str | None = None,
                 sources: torch.Tensor | None = None) -> torch.Tensor:
        images, prompts, sources, frames = self._prepare(images, prompts, sources)
        try:
            with torch.no_grad():
                out = self.score(images, prompts, sources)
            out = torch.as_tensor(out, dtype=torch.float32).to(images.device).reshape(-1)
        except RewardError:
            raise
        except Exception as err:
            if not self.user_code:      # a built-in reward's failure is our bug: keep its traceback
                raise
            # broad on purpose: the user's function can raise anything; one line naming it (original chained)
            raise RewardError(f"reward {self.name!r} ({self.id}) failed: {type(err).__name__}: {err}") from err
        if out.numel() != images.shape[0]:
            raise RewardError(f"reward {self.name!r} ({self.id}) returned {out.numel()} scores for "
                              f"{images.shape[0]} images; it must return one score per image")
        if not torch.isfinite(out).all():
            bad = (~torch.isfinite(out)).nonzero().flatten().tolist()
            raise RewardError(f"reward {self.name!r} ({self.id}) returned NaN or infinity for image(s) "
                              f"{bad[:8]} (values {out[bad[:8]].tolist()}); check the reward and its inputs")
        if frames:
            out = out.view(-1, frames).mean(1)
        return out

    def to(self, device: torch.device | str) -> "Reward":
        """Move model weights (if any). The default has none."""
        return self

    def check_ready(self) -> None:
        """Called before any model loads: fail now, in seconds, if the reward cannot work (a server that
        is down). The default has nothing to check."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _prepare(self, images, prompts, sources):
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise RewardError(f"reward {self.name!r}: images must be a float tensor in [0, 1], "
                              f"got {type(images).__name__}"
                              + (f" of {images.dtype}" if isinstance(images, torch.Tensor) else ""))
        frames = 0
        if self.video:
            if images.ndim != 5 or images.shape[2] != 3:
                raise RewardError(f"reward {self.name!r} ({self.id}) scores videos (B, F, 3, H, W), got shape "
                                  f"{tuple(images.shape)}; use it with a video backbone (ltx2)")
            b = images.shape[0]
            prompts = [""] * b if prompts is None else [prompts] * b if isinstance(prompts, str) else list(prompts)
            if len(prompts) != b:
                raise RewardError(f"reward {self.name!r}: {len(prompts)} prompts for {b} videos")
            return images.float(), prompts, None if sources is None else sources.to(images.device).float(), 0
        if images.ndim == 5:
            b, frames = images.shape[:2]
            images = images.flatten(0, 1)
        elif images.ndim != 4:
            raise RewardError(f"reward {self.name!r}: images must be (B, 3, H, W) or (B, F, 3, H, W), "
                              f"got shape {tuple(images.shape)}")
        else:
            b = images.shape[0]
        if images.shape[1] != 3:
            raise RewardError(f"reward {self.name!r}: images must have 3 channels (RGB), "
                              f"got shape {tuple(images.shape)}")
        images = images.float()
        if prompts is None:
            prompts = [""] * b
        elif isinstance(prompts, str):
            prompts = [prompts] * b
        prompts = list(prompts)
        if len(prompts) != b:
            raise RewardError(f"reward {self.name!r}: {len(prompts)} prompts for {b} images")
        if frames:
            prompts = [p for p in prompts for _ in range(frames)]
        if sources is None:
            if self.needs_source:
                raise RewardError(f"reward {self.name!r} ({self.id}) compares each image with its source "
                                  "image, but no sources were given; use it with an editing backbone")
        else:
            if sources.shape[0] != b:
                raise RewardError(f"reward {self.name!r}: {sources.shape[0]} source images for {b} images")
            sources = sources.to(images.device).float()
            if frames:
                if sources.ndim == 4:       # one source image for all frames
                    sources = sources.unsqueeze(1).expand(-1, frames, -1, -1, -1)
                sources = sources.flatten(0, 1)
            if sources.ndim != 4 or sources.shape[1] != 3:
                raise RewardError(f"reward {self.name!r}: sources must be (B, 3, H, W), "
                                  f"got {tuple(sources.shape)}")
        return images, prompts, sources, frames


def register_reward(cls: type[Reward]) -> type[Reward]:
    """Class decorator: make `cls` buildable as {"id": cls.id, ...}."""
    if not cls.id:
        raise ValueError(f"{cls.__name__} has no id")
    if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
        raise ValueError(f"reward id {cls.id!r} is already registered by {_REGISTRY[cls.id].__name__}")
    _REGISTRY[cls.id] = cls
    return cls


def list_rewards() -> list[str]:
    """Ids that build_reward accepts."""
    return sorted(_REGISTRY)


def describe_rewards() -> dict[str, dict[str, Any]]:
    """id → {"description", "options": {name: default}, "needs_source"} (for docs and --help)."""
    out = {}
    for rid, cls in sorted(_REGISTRY.items()):
        opts = {}
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            opts[p.name] = None if p.default is inspect.Parameter.empty else p.default
        out[rid] = {"description": cls.description or " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split()),
                    "options": opts, "needs_source": cls.needs_source}
    return out


def build_reward(spec: Mapping[str, Any] | str | Reward) -> Reward:
    """{"id": ..., **options} → a Reward. Unknown ids and options are refused with the valid ones."""
    if isinstance(spec, Reward):
        return spec
    if isinstance(spec, str):
        spec = {"id": spec}
    if not isinstance(spec, Mapping) or "id" not in spec:
        raise RewardError(f"a reward spec is a mapping with an 'id' (one of {list_rewards()}), got {spec!r}")
    options = dict(spec)
    rid = str(options.pop("id"))
    if ":" in rid and rid not in _REGISTRY:     # "mypkg.module:function" is a python reward
        options["target"], rid = rid, "python"
    if rid not in _REGISTRY:
        raise RewardError(f"unknown reward id {rid!r}; available: {', '.join(list_rewards())} "
                          "(or {'id': 'python', 'target': 'module:function'} for your own)")
    cls = _REGISTRY[rid]
    params = inspect.signature(cls.__init__).parameters
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    allowed = [n for n in params if n != "self" and params[n].kind not in (inspect.Parameter.VAR_KEYWORD,
                                                                            inspect.Parameter.VAR_POSITIONAL)]
    unknown = [k for k in options if k not in allowed]
    if unknown and not accepts_any:
        raise RewardError(f"reward {rid!r} has no option(s) {unknown}; its options are {allowed}")
    missing = [n for n in allowed if params[n].default is inspect.Parameter.empty and n not in options]
    if missing:
        raise RewardError(f"reward {rid!r} needs option(s) {missing}, e.g. "
                          f"{{'id': {rid!r}, {missing[0]!r}: ...}}")
    try:
        reward = cls(**options)
        reward.spec = {"id": rid, **options}         # what built it (eval.json records it)
        return reward
    except RewardError:
        raise
    except Exception as err:
        # a built-in constructor's ValueError / OSError is about the user's options or files; anything else
        # it raises is a bug of ours (traceback kept); the user's own class may raise anything
        if not cls.user_code and not isinstance(err, (ValueError, OSError)):
            raise
        raise RewardError(f"reward {options.get('name', rid)!r} ({rid}) could not be built: "
                          f"{type(err).__name__}: {err}") from err


def build_rewards(specs: Sequence[Mapping[str, Any] | str]) -> list[Reward]:
    rewards = [build_reward(s) for s in specs]
    names = [r.name for r in rewards]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RewardError(f"two rewards share the name(s) {dup}; give them distinct 'name' options")
    return rewards


class FunctionReward(Reward):
    """Wraps a plain callable (images, prompts, sources) -> scores (used by the 'python' reward)."""

    id = "function"
    user_code = True

    def __init__(self, fn: Callable, name: str | None = None, needs_source: bool = False):
        super().__init__(name or getattr(fn, "__name__", "function"))
        self.fn = fn
        self.needs_source = needs_source

    def score(self, images, prompts, sources):
        return self.fn(images, prompts, sources)
