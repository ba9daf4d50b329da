"""`python -m trainer import-reference CHECKPOINT_DIR -o FILE [--objectives a,b]`: a checkpoint of the
reference ParetoSlider code → one ParetoSlider file for ComfyUI (docs/FORMAT.md, README)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from ..errors import UserError, cli_exit_code

DESCRIPTION = ("Convert a checkpoint trained with the reference ParetoSlider code (its checkpoint-<step> "
               "folder: lora/ in the PEFT or the older save_pretrained layout, and metadata.json) into one "
               "ParetoSlider file for ComfyUI/models/paretoslider/.")


def add_import_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("checkpoint", help="the reference's checkpoint-<step> folder (or its lora/ folder)")
    p.add_argument("-o", "--output", required=True, help="the ParetoSlider file to write (.safetensors)")
    p.add_argument("--objectives", help="objective names in ω's order, comma-separated (e.g. photo,sketch); "
                                        "required when the checkpoint has no metadata.json, else they rename them")
    p.add_argument("--block-form", choices=["residual", "affine", "scale_only", "shift_only"],
                   help="the run's block_mod_form, when metadata.json does not record it")
    p.add_argument("--block-fraction", type=float,
                   help="the run's mod_block_fraction, when metadata.json does not record it (default 1.0)")
    p.add_argument("--lora-alpha", type=float,
                   help="legacy layout only: the run's lora_alpha (not recorded there; default 2 × rank)")
    p.add_argument("--run-config", help="the run's config (YAML or JSON, e.g. wandb's files/config.yaml) for "
                                        "the resolution, sampling steps and guidance it trained with")
    return p


def _read_run_config(path: str | None) -> dict | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--run-config {path}: no such file")
    import yaml
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))     # JSON is YAML too
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise UserError(f"--run-config {path}: not YAML or JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"--run-config {path}: expected a mapping of config fields")
    return data


def run_import(args) -> None:
    from .reference_import import ImportOptions, import_reference
    opts = ImportOptions(objectives=args.objectives.split(",") if args.objectives else None,
                         block_form=args.block_form, block_fraction=args.block_fraction,
                         lora_alpha=args.lora_alpha, run_config=_read_run_config(args.run_config))
    path, notes = import_reference(args.checkpoint, args.output, opts)
    for note in notes:
        print(f"[paretoslider] note: {note}")
    from pareto_core import read_metadata
    meta = read_metadata(path)
    summary = {"file": str(path), "objectives": [o.name for o in meta.objectives],
               "conditioning": meta.embedding.to_dict(), "lora_modules": meta.lora.get("modules")}
    print(f"[paretoslider] wrote {path} (imported from {meta.imported_from})")
    print(json.dumps(summary, indent=None))


def import_reference_main(argv: Sequence[str] | None = None) -> int:
    p = add_import_arguments(argparse.ArgumentParser(prog="python -m trainer import-reference",
                                                     description=DESCRIPTION))
    args = p.parse_args(list(argv) if argv is not None else None)
    return cli_exit_code(lambda: run_import(args), "import-reference")
