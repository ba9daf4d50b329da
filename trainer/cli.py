"""Command line: `python -m trainer train --config my.yaml [--set train.lr=3e-3 ...] [--resume latest]`.

Subcommands:
  train        train and export a ParetoSlider file
  config-help  every config field with its default and help text
  eval         the evaluation sweep (trainer.evaluation.cli)
  import-reference  a checkpoint of the reference code → a ParetoSlider file (trainer.interop.cli)
Console script: `paretoslider-train` = `python -m trainer train`.
`--debug` anywhere on the line: a user error shows its traceback too (bugs always do).
"""
from __future__ import annotations

import argparse
import os
import sys

from .config import describe, load_config
from .errors import DEBUG_ENV, cli_exit_code


def _train_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", "-c", required=False, help="YAML config (see trainer/configs/)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.lr=3e-3 --set lora.rank=16 "
                        "(values are YAML: true, 1e-4, [0.3, 0.7]); repeatable")
    p.add_argument("overrides_pos", nargs="*", metavar="KEY=VALUE", help="same as --set")
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from a checkpoint folder, or the newest in output.dir (no value / 'latest')")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def cmd_train(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")       # local weights only; never download
    cfg = load_config(args.config, list(args.overrides) + list(args.overrides_pos))
    if args.print_config:
        import yaml
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    from .run.distributed import close_process_group
    from .run.train import run
    ok = False
    try:
        path = run(cfg, resume=args.resume)
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"[paretoslider] wrote {path}")
        ok = True
    finally:
        close_process_group(wait=ok)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in argv:                 # accepted anywhere, for every subcommand (eval included)
        argv = [a for a in argv if a != "--debug"]
        os.environ[DEBUG_ENV] = "1"
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub.add_parser("train", help="train and export a ParetoSlider file"))
    sub.add_parser("config-help", help="list every config field with its help text")
    ev = sub.add_parser("eval", help="evaluation sweep (trainer.evaluation.cli)", add_help=False)
    ev.add_argument("rest", nargs=argparse.REMAINDER)
    imp = sub.add_parser("import-reference", help="a checkpoint of the reference code → a ParetoSlider file "
                                                  "(trainer.interop.cli)", add_help=False)
    imp.add_argument("rest", nargs=argparse.REMAINDER)
    args, unknown = parser.parse_known_args(argv)
    if args.command == "eval":
        from .evaluation.cli import evaluate_main
        return int(evaluate_main(list(args.rest) + unknown) or 0)
    if args.command == "import-reference":
        from .interop.cli import import_reference_main
        return int(import_reference_main(list(args.rest) + unknown) or 0)
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    if args.command == "config-help":
        print(describe())
        return 0
    return cli_exit_code(lambda: cmd_train(args), "train")


def train_entry() -> int:
    """Console script `paretoslider-train` (= python -m trainer train ...)."""
    return main(["train"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
