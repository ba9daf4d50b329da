"""Command line: `python -m trainer train --config my.yaml [--set train.lr=3e-3 ...] [--resume latest]`.

Subcommands:
  train        train and export a ParetoSlider file
  check        check a config without loading anything (every problem at once) and print the
               memory model's predicted peak and s/step per GPU size (= train --dry-run)
  config-help  every config field with its default and help text
  eval         the evaluation sweep (trainer.evaluation.cli)
  import-reference  a checkpoint of the reference code → a ParetoSlider file (trainer.interop.cli)
Console script: `paretoslider-train` = `python -m trainer train`.
`--debug` anywhere on the line: a user error shows its traceback too (bugs always do).
Try it in a minute on a CPU: `python -m trainer train --config trainer/configs/toy_cpu.yaml`.

Nothing heavy is imported before the config has passed every check: --help, config-help, check and
a config's mistakes answer in well under a second (torch, diffusers and the rewards load after).
"""
from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, describe, load_config, shipped_configs
from .errors import DEBUG_ENV, cli_exit_code, debug_enabled


EPILOG = """try it in a minute on a CPU:  python -m trainer train --config trainer/configs/toy_cpu.yaml
will my config fit my GPU?     python -m trainer check my.yaml --no-weights
every config field:            python -m trainer config-help"""


def _train_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--config", "-c", required=False, help="YAML config (see trainer/configs/)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.lr=3e-3 --set lora.rank=16 "
                        "(values are YAML: true, 1e-4, [0.3, 0.7]); repeatable")
    p.add_argument("overrides_pos", nargs="*", metavar="KEY=VALUE", help="same as --set")
    p.add_argument("--resume", nargs="?", const="latest", default=None,
                   help="continue from a checkpoint folder, or the newest in output.dir (no value / 'latest')")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--dry-run", action="store_true", help="= `check`: check everything, print the predicted "
                                                          "peak memory and s/step, train nothing")
    p.add_argument("--gpu", default=None, metavar="GB", help="with --dry-run: the GPU size to predict for "
                                                             "(16, 24, 48, 80, 141; default: all)")
    return p


def _check_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("config", nargs="?", help="YAML config (see trainer/configs/)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (as for train); repeatable")
    p.add_argument("--gpu", default=None, metavar="GB", help="the GPU size to predict for (16, 24, 48, 80, 141; "
                                                             "default: every size the memory model knows)")
    p.add_argument("--no-weights", action="store_true", help="skip the checks of model and reward weights on "
                                                             "disk: 'will it fit?' before downloading anything")
    return p


def _need_config(path: str | None, how: str = "--config my.yaml") -> str:
    """A bare `train` / `check`: say what to give, and what is shipped."""
    if not path:
        raise ConfigError(f"give a config: {how} (every field: python -m trainer config-help). Shipped: "
                          + ", ".join(shipped_configs())
                          + ("; a one-minute CPU run: --config trainer/configs/toy_cpu.yaml" if how.startswith("--")
                             else ""))
    return path


def _quiet(args) -> None:
    """Third-party noise off before the heavy imports (on under --debug or PARETOSLIDER_DEBUG=1)."""
    from .quiet_imports import quiet_third_party
    quiet_third_party(debug=debug_enabled())


def cmd_check(config: str | None, overrides: list[str], gpu: str | None = None, weights: bool = True) -> None:
    """Every problem of the config at once (exit 2), else the memory model's prediction (exit 0)."""
    from .config.gpu_prediction import prediction_report
    from .config.preflight import load_checked
    cfg = load_checked(_need_config(config, "python -m trainer check my.yaml"), overrides, weights)
    print(f"check: {config} is ready to train" + ("" if weights else " (model and reward weights not checked)"))
    for line in prediction_report(cfg, gpu):
        print(line)


def cmd_train(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")       # local weights only; never download
    overrides = list(args.overrides) + list(args.overrides_pos)
    if args.dry_run:
        cmd_check(args.config, overrides, args.gpu)
        return
    if args.print_config:
        import yaml
        print(yaml.safe_dump(load_config(_need_config(args.config), overrides).to_dict(), sort_keys=False))
        return
    from .config.preflight import load_checked
    # every value, path, reward and combination, all problems at once, before torch loads
    cfg = load_checked(_need_config(args.config), overrides)
    _quiet(args)
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
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    parser.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub.add_parser("train", help="train and export a ParetoSlider file"))
    _check_parser(sub.add_parser("check", help="check a config (every problem at once) and predict its GPU "
                                               "memory and s/step, without weights"))
    sub.add_parser("config-help", help="list every config field with its help text")
    ev = sub.add_parser("eval", help="evaluation sweep (trainer.evaluation.cli)", add_help=False)
    ev.add_argument("rest", nargs=argparse.REMAINDER)
    imp = sub.add_parser("import-reference", help="a checkpoint of the reference code → a ParetoSlider file "
                                                  "(trainer.interop.cli)", add_help=False)
    imp.add_argument("rest", nargs=argparse.REMAINDER)
    args, unknown = parser.parse_known_args(argv)
    if args.command == "eval":
        _quiet(args)
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
    if args.command == "check":
        return cli_exit_code(lambda: cmd_check(args.config, args.overrides, args.gpu, not args.no_weights), "check")
    return cli_exit_code(lambda: cmd_train(args), "train")


def train_entry() -> int:
    """Console script `paretoslider-train` (= python -m trainer train ...)."""
    return main(["train"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
