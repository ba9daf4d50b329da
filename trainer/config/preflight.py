"""Everything about a config that can be known before anything loads, reported at once.

    cfg = load_checked("my.yaml", ["model.path=/models/sd35m"])   # ConfigError naming every problem

`load_config` checks the values (loading.py); this adds what needs the disk or the combination of
sections: every path (model, config_path, text cache, prompts / edits, output folder, each
reward's weights), every reward id and its required options, and whether the backbone can take
the rewards, data and options chosen. One line per problem, in one ConfigError, in well under a
second: nothing here imports torch, diffusers or a reward (reward_catalogue.py knows them).
A path problem shows the absolute path it was resolved to and the rule (paths.RULE).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from .loading import load_config
from .paths import TOY_BASE, PathProblem, resolve, shipped_names, shown
from .reward_catalogue import REWARDS
from .schema import ConfigError, TrainerConfig

__all__ = ["config_problems", "load_checked", "preflight"]

EDITING = ("flux_kontext",)          # backbones that edit a source image
VIDEO = ("ltx2",)                     # backbones that make videos
TEXT_CACHE = ("sd3", "flux_kontext")  # backbones whose prompt embeddings can be cached (backbones/text_cache.py)
QUANTIZE = ("sd3", "flux_kontext")    # backbones whose frozen base can be fp8 (backbones/quantize.py)


def load_checked(path: str | Path | None, overrides: list[str] | None = None, weights: bool = True) -> TrainerConfig:
    """`load_config` + every check below: the config, or ONE ConfigError listing every problem found,
    the values' and these together. `weights=False` leaves out the model's and the rewards' weights on
    disk (`trainer check --no-weights`: before downloading)."""
    return load_config(path, overrides, checks=lambda cfg: config_problems(cfg, weights))


def preflight(cfg: TrainerConfig, weights: bool = True) -> None:
    """The checks below on a config already loaded (or built in Python): one ConfigError if any fails."""
    found = config_problems(cfg, weights)
    if found:
        raise ConfigError.of(found, getattr(cfg, "source", ""))


def config_problems(cfg: TrainerConfig, weights: bool = True) -> list[str]:
    """Every problem with the paths, rewards and combinations of a loaded config; [] when none.
    Path problems are `PathProblem`s."""
    found = _model(cfg, weights) + _data(cfg) + _output(cfg)
    for i, ob in enumerate(cfg.objectives):
        spec = {"id": ob.reward, **(ob.kwargs or {})}
        found.extend(_reward(spec, f"objectives[{i}] ({ob.name})", cfg.model.backbone, weights))
    return found


# ----------------------------------------------------------------------------------- paths

def _written(cfg: TrainerConfig, field: str, value: str) -> str:
    return getattr(cfg, "written_paths", {}).get(field, value) or value


def _next_to_config(cfg: TrainerConfig, written: str) -> str:
    """A hint when the file is next to the config: the old rule read it from there."""
    source = getattr(cfg, "source", "")
    if not source or not written or Path(os.path.expanduser(written)).is_absolute():
        return ""
    there = Path(source).resolve().parent / written
    return f"; there is one next to the config: write {there}" if there.exists() else ""


def _missing(cfg: TrainerConfig, field: str, value: str, what: str) -> str:
    written = _written(cfg, field, value)
    return PathProblem(f"{field}: {what} {shown(written, value)} does not exist{_next_to_config(cfg, written)}")


def _diffusers_folder(p: Path) -> bool:
    return (p / "model_index.json").is_file()


def _model(cfg: TrainerConfig, weights: bool = True) -> list[str]:
    m, out = cfg.model, []
    if not weights:
        pass
    elif m.backbone == "toy":
        base = Path(m.path) if m.path else TOY_BASE
        if not base.is_file():
            line = _missing(cfg, "model.path", str(base), "the toy base file")
            out.append(PathProblem(line + "; make it with `python -m bench.toytask.pretrain`") if not m.path else line)
    elif not m.path:
        out.append(f"model.path: give the local diffusers folder (with model_index.json) or single-file "
                   f".safetensors of the {m.backbone} model, e.g. --set model.path=/models/...")
    else:
        p = Path(m.path)
        if not p.exists():
            out.append(_missing(cfg, "model.path", m.path, "the model folder"))
        elif p.is_dir() and not _diffusers_folder(p):
            out.append(PathProblem(f"model.path: {shown(_written(cfg, 'model.path', m.path), m.path)} is a folder "
                                   "without model_index.json; give the diffusers folder of the model (the one "
                                   "holding transformer/ and vae/)"))
        elif p.is_file():
            if p.suffix != ".safetensors":
                out.append(f"model.path: {m.path}: only .safetensors checkpoints are read (never pickles)")
            if not m.config_path:
                out.append(f"model.config_path: model.path {m.path} is a single file; also give the local "
                           "diffusers folder of the same model (configs, tokenizers, VAE, text encoders)")
    if weights and m.config_path and m.backbone != "toy":
        c = Path(m.config_path)
        if not c.exists():
            out.append(_missing(cfg, "model.config_path", m.config_path, "the diffusers folder"))
        elif not _diffusers_folder(c):
            out.append(PathProblem(f"model.config_path: {m.config_path} is not a diffusers folder "
                                   "(no model_index.json)"))
    if m.text_cache:
        if m.backbone not in TEXT_CACHE:
            out.append(f"model.text_cache: caches prompt embeddings for {' and '.join(TEXT_CACHE)}, not "
                       f"{m.backbone}; leave it empty")
        else:
            out.extend(_writable(cfg, "model.text_cache", m.text_cache, file=True))
    if m.quantize != "none" and m.backbone not in QUANTIZE:
        out.append(f"model.quantize: {m.quantize} is for {' and '.join(QUANTIZE)}; {m.backbone} keeps its "
                   "weights in model.dtype (set quantize: none)")
    return out


def _writable(cfg: TrainerConfig, field: str, value: str, file: bool) -> list[str]:
    """A path the run will create: not a folder where a file goes (or the reverse), and its nearest
    existing folder writable."""
    p = Path(value)
    if p.exists() and p.is_dir() == file:
        kind = "a folder" if file else "a file"
        return [PathProblem(f"{field}: {shown(_written(cfg, field, value), value)} is {kind}; give a "
                            + ("file path" if file else "folder"))]
    parent = p.parent if file else p
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return [PathProblem(f"{field}: cannot create {value}: {parent} is a file")]
    if not os.access(parent, os.W_OK):
        return [PathProblem(f"{field}: cannot write {value}: {parent} is not writable")]
    return []


def _data(cfg: TrainerConfig) -> list[str]:
    d, backbone, out = cfg.data, cfg.model.backbone, []
    names = {"prompts": shipped_names(("data", "prompts")), "edits": shipped_names(("data", "edits"))}
    if backbone in EDITING and not d.edits:
        out.append(f"data.edits: {backbone} edits images; give a .jsonl of {{\"image\", \"instruction\"}} pairs "
                   f"or a folder of images with .txt instructions (shipped example: {', '.join(names['edits'])})")
    if backbone not in EDITING and d.edits:
        out.append(f"data.edits: {backbone} makes images from text; give data.prompts instead (edit pairs are "
                   f"for {', '.join(EDITING)})")
    if backbone not in EDITING and not d.prompts:
        out.append(f"data.prompts: give a .txt file (one prompt a line), an inline list, or a shipped set by "
                   f"name ({', '.join(names['prompts'])})")
    if isinstance(d.prompts, str) and d.prompts and not Path(d.prompts).is_file() and not d.edits:
        out.append(PathProblem(_missing(cfg, "data.prompts", d.prompts, "the prompts file")
                               + f" (shipped sets by name: {', '.join(names['prompts'])})"))
    if d.edits and not Path(d.edits).exists():
        out.append(PathProblem(_missing(cfg, "data.edits", d.edits, "the edit pairs (.jsonl or folder)")
                               + f" (shipped by name: {', '.join(names['edits'])})"))
    return out


def _output(cfg: TrainerConfig) -> list[str]:
    return _writable(cfg, "output.dir", cfg.output.dir, file=False)


# ----------------------------------------------------------------------------------- rewards

def _reward(spec: Any, where: str, backbone: str, weights: bool = True) -> list[str]:
    """One reward spec (an id or {"id": ..., options}), its nested specs included."""
    if isinstance(spec, str):
        spec = {"id": spec}
    if not isinstance(spec, dict) or not spec.get("id"):
        return [f"{where}: reward must be an id ({', '.join(sorted(REWARDS))}) or 'module:function', got {spec!r}"]
    rid, out = str(spec["id"]), []
    if ":" in rid and rid not in REWARDS:
        return _python_target(rid, where)
    info = REWARDS.get(rid)
    if info is None:
        return [f"{where}: unknown reward {rid!r}; available: {', '.join(sorted(REWARDS))} "
                "(or 'module:function' for your own)"]
    missing = [o for o in info.required if spec.get(o) in (None, "")]
    if missing:
        out.append(f"{where}: reward {rid} needs the option(s) {', '.join(missing)} (in kwargs)")
    for option in info.paths if weights else ():
        value = spec.get(option)
        if isinstance(value, str) and value:
            resolved = resolve(value)
            if not Path(resolved).exists():
                out.append(PathProblem(f"{where}: reward {rid} option {option}: {shown(value, resolved)} does not "
                                       "exist (rewards load local weights only; download them once and point "
                                       "it there)"))
    if rid == "python" and isinstance(spec.get("target"), str):
        out.extend(_python_target(spec["target"], where))
    if info.needs_source and backbone not in EDITING:
        out.append(f"{where}: reward {rid} compares each image with its source image; {backbone} has none "
                   f"(use it with {', '.join(EDITING)})")
    if info.video and backbone not in VIDEO:
        out.append(f"{where}: reward {rid} scores videos; {backbone} makes images (use it with {', '.join(VIDEO)})")
    for option in info.nested:
        value = spec.get(option)
        inner = value if isinstance(value, list) else [value] if value is not None else []
        for j, term in enumerate(inner):
            if isinstance(term, dict) and "reward" in term:
                term = term["reward"]
            tag = f"{where} {option}[{j}]" if isinstance(value, list) else f"{where} {option}"
            out.extend(_reward(term, tag, backbone, weights))
    return out


def _python_target(target: str, where: str) -> list[str]:
    """'module:function' or 'path/file.py:function': the module must be findable (it is not run here)."""
    module, _, attr = target.rpartition(":")
    if not module or not attr:
        return [f"{where}: {target!r}: write your reward as 'package.module:function' or 'path/file.py:function'"]
    if module.endswith(".py"):
        p = Path(resolve(module))
        return [] if p.is_file() else [PathProblem(f"{where}: reward file {shown(module, str(p))} does not exist")]
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    return [] if found else [f"{where}: cannot find the module {top!r} of {target!r} (run from the folder that "
                             "holds it, or add it to PYTHONPATH)"]
