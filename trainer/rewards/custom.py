"""A user's own reward function, imported by path: {"id": "python", "target": "mypkg.mod:fn"}.

`target` is "package.module:attribute" (importable from the working directory / PYTHONPATH) or
"path/to/file.py:attribute". The attribute is either
- a function fn(images, prompts, sources) -> scores (tensor, numpy array or list, one per image);
  `kwargs` are passed to it as keyword arguments on every call, or
- a class: it is instantiated with `kwargs` and the instance is called like the function
  (load your model once in __init__).
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from .registry import Reward, RewardError, register_reward


def import_target(target: str, reward: str = "python") -> Any:
    if not isinstance(target, str) or ":" not in target:
        raise RewardError(f"reward {reward!r}: target must look like 'mypkg.module:function' or "
                          f"'path/to/file.py:function', got {target!r}")
    mod_name, _, attr = target.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file {str(path)!r}")
            name = f"_paretoslider_reward_{path.stem}_{abs(hash(str(path)))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except Exception as err:   # broad on purpose: importing runs the user's module (any error, SyntaxError too)
        raise RewardError(f"reward {reward!r}: cannot import {mod_name!r} for target {target!r} "
                          f"({type(err).__name__}: {err})") from err
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise RewardError(f"reward {reward!r}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


@register_reward
class PythonReward(Reward):
    """Your own function or class by import path (see the module docstring)."""

    id = "python"
    user_code = True

    def __init__(self, target: str, kwargs: dict | None = None, needs_source: bool = False,
                 name: str | None = None):
        super().__init__(name or target.rpartition(":")[2])
        obj = import_target(target, self.name)
        kwargs = dict(kwargs or {})
        if inspect.isclass(obj):
            obj = obj(**kwargs)
        elif kwargs:
            obj = functools.partial(obj, **kwargs)
        if not callable(obj):
            raise RewardError(f"reward {self.name!r}: {target!r} is not callable")
        self.fn = obj
        self.target = target
        self.needs_source = bool(needs_source)

    def to(self, device):
        if hasattr(self.fn, "to"):
            self.fn.to(device)
        return self

    def score(self, images, prompts, sources):
        return self.fn(images, prompts, sources)
