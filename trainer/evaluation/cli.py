"""The evaluation's command line: `python -m trainer eval FILE --config my.yaml --prompts heldout.txt ...`.

    evaluate_main(["runs/x/paretoslider.safetensors", "--config", "my.yaml", "--prompts", "p.txt"])

`run_eval` checks everything it can before a large model loads (the file; its objectives against
the config's rewards when those score it; its architecture, width and variant against the config's
model; the scorers, a judge server included), loads the config's backbone unless one is given, falls back to the config's rewards and data when no
--scorer / --prompts are given (with a warning: held-out ones are the fair test), and hands
everything to `trainer.evaluation.evaluate.evaluate_file`. A user error is one line and exit 2
(`trainer.errors.cli_exit_code`); the result is one line on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pareto_core import read_metadata

from ..backbones import build_backbone, resolve_dtype
from ..backbones.base import Backbone
from ..backbones.probe import probe_model
from ..config import load_config
from ..errors import MissingPathError, UserError, cli_exit_code, log, warnings_on_stderr
from ..rewards import build_reward
from .evaluate import evaluate_file, load_eval_samples
from .file_checks import check_model, check_objectives

__all__ = ["add_eval_arguments", "add_eval_subcommand", "evaluate_main", "run_eval"]

DESCRIPTION = "Evaluation of a ParetoSlider file: sweep ω, score with held-out scorers, measure the front."


def _parse_scorer(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            import yaml
            return yaml.safe_load(text)
    return text


def _parse_reference(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError as err:
        raise UserError(f"--reference {text!r}: give one number per scorer, comma-separated ({err})") from None


def add_eval_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("file", help="the ParetoSlider .safetensors to evaluate (its metadata gets the front)")
    p.add_argument("--config", help="the training YAML (for the backbone and, by default, the scorers)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set model.path=/models/sd35m (repeatable)")
    p.add_argument("--prompts", help="held-out prompts: a .txt file, one per line")
    p.add_argument("--edits", help="held-out edit pairs: a .jsonl of {\"image\", \"instruction\"}")
    p.add_argument("--scorer", action="append", default=[], metavar="SPEC",
                   help="a scorer: an id (jpeg_compressibility), JSON ({\"id\": \"clip_score\", \"path\": "
                        "\"/models/clip\"}) or module:function; repeatable. Default: the config's objective "
                        "rewards (training rewards: prefer held-out ones)")
    p.add_argument("--points", type=int, default=11, help="ω points along the edge (2 objectives)")
    p.add_argument("--from", dest="start", type=int, default=0, help="edge start objective index")
    p.add_argument("--to", dest="end", type=int, default=1, help="edge end objective index")
    p.add_argument("--mode", choices=["auto", "edge", "grid"], default="auto",
                   help="auto: edge for 2 objectives, simplex grid for 3+")
    p.add_argument("--divisions", type=int, default=None, help="simplex grid divisions (3 objectives: 5 → 21 ω)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the config's sample_steps, else the file's "
                        "recorded training steps, else 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples-per-prompt", type=int, default=1, help="noise seeds per prompt")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--reference", default=None,
                   help="hypervolume reference point, one value per scorer, comma-separated (fixed to "
                        "compare runs); default: the per-scorer minimum of the measured points")
    p.add_argument("--out", default=None, help="output folder (default: <file>_eval next to the file)")
    p.add_argument("--max-strips", type=int, default=8, help="image strips for the first N prompts")
    p.add_argument("--lora-strength", type=float, default=1.0)
    p.add_argument("--no-base", action="store_true", help="skip the base-model reference samples")
    p.add_argument("--no-write-front", action="store_true", help="do not store the front in the file")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    return p


def add_eval_subcommand(subparsers) -> argparse.ArgumentParser:
    """For `python -m trainer eval`: `add_eval_subcommand(sub)`; the parser's `func` is run_eval."""
    p = subparsers.add_parser("eval", help="sweep ω on held-out prompts, plot the front, store it in the file",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_eval_arguments(p)
    p.set_defaults(func=run_eval)
    return p


def _build_backbone(cfg, device: str | None = None) -> Backbone:
    """The trainer's backbone factory, on the GPU when there is one (dtype as in training)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return build_backbone(cfg.model, device=dev, dtype=resolve_dtype(cfg.model.dtype, dev))


def _scorers(args: argparse.Namespace, cfg) -> list[Any]:
    """--scorer specs, else the config's objective rewards (named after the objectives)."""
    scorers: list[Any] = [_parse_scorer(s) for s in args.scorer]
    if not scorers and cfg is not None:
        scorers = [{"id": o.reward, "name": o.name, **(o.kwargs or {})} for o in cfg.objectives]
        log.warning("eval: no --scorer given; scoring with the training rewards (%s); held-out scorers tell "
                    "a real front from a reward hack", ", ".join(o.name for o in cfg.objectives))
    if not scorers:
        raise UserError("give at least one --scorer")
    return scorers


def _samples(args: argparse.Namespace, cfg):
    """--prompts / --edits, else the config's training data."""
    prompts, edits = args.prompts, args.edits
    if prompts is None and edits is None and cfg is not None:
        prompts = cfg.data.prompts
        if cfg.data.edits and not prompts:
            edits = cfg.data.edits
        log.warning("eval: no --prompts/--edits given; using the training data (give held-out prompts for a "
                    "fair evaluation)")
    return load_eval_samples(prompts, edits)


def _sample_note(strips: dict | None) -> str:
    """When the strips are a sample of the prompts, say so (and how to get them all)."""
    if not strips or strips["written"] >= strips["of"]:
        return ""
    return f" (strips for the first {strips['written']} of {strips['of']} prompts; --max-strips {strips['of']} for all)"


def _require_file(file: str) -> None:
    """A missing file, in the trainer's terms (the core's own message serves every caller)."""
    p = Path(file).expanduser().resolve()
    if not p.is_file():
        raise MissingPathError(f"{p} does not exist; give the ParetoSlider file `python -m trainer train` wrote "
                               "(its config's output.dir/output.name, e.g. runs/toy_cpu/toy_cpu.safetensors)")


def run_eval(args: argparse.Namespace, backbone: Backbone | None = None) -> dict[str, Any]:
    # everything that can be checked without a model is, first: the file, the config, the scorers
    # against the file's objectives, the model's identity, the scorers' servers, the data
    _require_file(args.file)
    meta = read_metadata(args.file)
    cfg = None
    if args.config or backbone is None:
        if not args.config:
            raise UserError("give --config (the training YAML: it says which backbone to load)")
        cfg = load_config(args.config, overrides=args.overrides)
    specs = _scorers(args, cfg)
    if not args.scorer and cfg is not None:
        check_objectives(meta, cfg, args.file)
    if backbone is None:
        ident = probe_model(cfg.model)
        if ident is not None:
            check_model(meta, ident.architecture, ident.width, ident.variant, args.file)
    scorers = [build_reward(s) for s in specs]
    for r in scorers:
        r.check_ready()
    samples = _samples(args, cfg)
    if backbone is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")        # local weights only
        backbone = _build_backbone(cfg, args.device)
    check_model(meta, backbone.architecture, int(backbone.width), backbone.variant or "", args.file,
                where="the loaded model")
    # sample as trained: the config's steps, else the ones the file records, else 20
    steps = args.steps or (cfg.train.sample_steps if cfg is not None else meta.training.sample_steps or 20)
    out = args.out or str(Path(args.file).with_suffix("")) + "_eval"
    summary = evaluate_file(args.file, backbone, samples, scorers, out, points=args.points, start=args.start,
                            end=args.end, mode=args.mode, divisions=args.divisions, steps=steps, seed=args.seed,
                            samples_per_prompt=args.samples_per_prompt, batch_size=args.batch_size,
                            reference=_parse_reference(args.reference), base=not args.no_base,
                            write_front=not args.no_write_front, max_strips=args.max_strips,
                            lora_strength=args.lora_strength, progress=not args.no_progress)
    print(f"eval: hypervolume {summary['hypervolume']:.6g} (reference {summary['reference']}); "
          f"wrote {summary['outputs']['json']}, {summary['outputs']['plot']}, {summary['outputs']['strips']}/"
          + _sample_note(summary.get("strips"))
          + (f", {summary['outputs']['preview']}" if "preview" in summary["outputs"] else "")
          + (f"; front stored in {args.file}" if summary.get("front_written_to") else ""))
    return summary


def evaluate_main(argv: Sequence[str] | None = None, backbone: Backbone | None = None) -> int:
    """`python -m trainer eval ...` without the subcommand word: evaluate_main(["file", ...])."""
    p = add_eval_arguments(argparse.ArgumentParser(prog="python -m trainer eval", description=DESCRIPTION))
    args = p.parse_args(list(argv) if argv is not None else None)
    with warnings_on_stderr():
        return cli_exit_code(lambda: run_eval(args, backbone=backbone), "eval")
