"""Loading the trainer's config: YAML files, dotted `--set` overrides, values coerced to the schema's
field types, then the schema's checks (schema.py).

    cfg = load_config("my.yaml", overrides=["train.lr=3e-3", "lora.rank=16"])

The coercion is written by hand rather than with pydantic on purpose: the error text is what a user
reads (tests/trainer/test_config.py pins it: "train.steps: expected an integer, got 'many'",
"train.learning_rate: unknown field; TrainSettings has [...]"), and pydantic's messages and `loc`
tuples would need a translation layer about as long as this module; YAML values need coercions of
their own (a scalar where a list is expected becomes a one-element list, "true"/"yes"/"on" are
booleans, a `--set` value like 3e-3 is a float); and the trainer would gain a dependency for nothing
a user sees. The dataclasses stay plain, so `dataclasses.replace` / `asdict` and attribute access
work as before.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal

import yaml

from .paths import CONFIGS, PATH_FIELDS, RULE, resolve_config_paths
from .schema import ConfigError, TrainerConfig, collecting, problem


def _strip_optional(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _coerce(value: Any, tp: Any, where: str) -> Any:
    tp = _strip_optional(tp)
    if value is None or tp is Any:
        return value
    if typing.get_origin(tp) is Literal:      # a choice: coerced as its values' type, checked by the section
        tp = type(typing.get_args(tp)[0])
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, where)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and item is not str:
            value = [value]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())
                                           or isinstance(value, str)):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected text, got {value!r}")
        return str(value)
    return value


def _build(cls, data: dict, where: str = ""):
    """The dataclass from a mapping. A field that cannot be read is a problem (raised, or recorded
    while `collecting()`: the field then keeps its default so the other checks still run)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    for name in sorted(set(data) - names):
        problem(f"{prefix}{name}: unknown field; {cls.__name__} has {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        if name not in names:
            continue
        try:
            kwargs[name] = _coerce(value, hints[name], f"{prefix}{name}")
        except ConfigError as err:
            for line in err.problems:
                problem(line)
    return cls(**kwargs)


def _checked(data: dict, source: str = "", checks: Callable[[TrainerConfig], list[str]] | None = None
             ) -> TrainerConfig:
    """Build, resolve the paths (paths.py: one rule) and check the values, then run `checks` (the
    disk and cross-section checks of preflight.py) on it too; every problem in one ConfigError."""
    with collecting() as problems:
        cfg = _build(TrainerConfig, dict(data or {}))
        cfg.check()
    written = {f"{s}.{k}": getattr(getattr(cfg, s), k) for s, k in PATH_FIELDS}
    resolve_config_paths(cfg)
    # what the file said, for messages about a path (not a dataclass field: to_dict leaves it out)
    cfg.__dict__["written_paths"] = written
    cfg.__dict__["source"] = source
    if checks is not None:       # a field that failed above has its default here: checked as it stands
        problems = problems + [p for p in checks(cfg) if p not in problems]
    if problems:
        raise ConfigError.of(problems, source)
    return cfg


def config_from_dict(data: dict) -> TrainerConfig:
    """A checked config from a mapping; relative paths are read from the working folder (paths.RULE)."""
    return _checked(data)


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` (value parsed as YAML: 3e-3, true, [0.3, 0.7]) to a nested dict."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: write it as section.field=value, e.g. train.lr=3e-3")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for p in parts[:-1]:
            if isinstance(node, list):
                try:
                    node = node[int(p)]
                    continue
                except (ValueError, IndexError):
                    raise ConfigError(f"override {key}: {p!r} is not a valid list index") from None
            node = node.setdefault(p, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {key}: {p!r} is not a section")
        value = _parse_scalar(raw)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and "e" in raw.lower():
            value = float(value)
        if isinstance(node, list):
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                checks: Callable[[TrainerConfig], list[str]] | None = None) -> TrainerConfig:
    """The YAML file with `--set` overrides applied, checked; every path field absolute (paths.RULE).
    `checks(cfg)` adds problems of its own to the same message (preflight.load_checked)."""
    data: dict = {}
    source = ""
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file {path.resolve()} does not exist"
                              + (f"; shipped configs: {', '.join(shipped_configs())}" if path.suffix else ""))
        with open(path) as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path}: not valid YAML ({err})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (model, train, ...)")
    data = apply_overrides(data, overrides or [])
    return _checked(data, source, checks)


def shipped_configs() -> list[str]:
    """The example configs, as paths relative to the repository (trainer/configs/*.yaml)."""
    return [f"trainer/configs/{p.name}" for p in sorted(CONFIGS.glob("*.yaml"))]


def describe(cls=TrainerConfig, prefix: str = "") -> str:
    """Every field with its default and help text (for `python -m trainer config-help`)."""
    lines = [] if prefix else [f"Paths: {RULE}.", ""]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _strip_optional(hints[f.name])
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            lines.append(f"{key}:  {f.metadata.get('help', '')}")
            lines.append(describe(tp, key + "."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        lines.append(f"  {key} = {default!r}  -- {f.metadata.get('help', '')}")
    return "\n".join(lines)
