"""The trainer's user errors and the one place that turns them into a line and exit code 2.

Every error a creator can fix (a config value, a missing model folder, a reward that returned
NaN, a diverged run) is a `UserError` — the core's `ParetoSliderError`, so a bad ParetoSlider
file read by the trainer is one too. `cli_exit_code` is the only place that catches them: the
CLIs print `<prog> error: <message>` and exit 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import logging
import sys
from typing import Callable

from pareto_core import ParetoSliderError as UserError

log = logging.getLogger("paretoslider")

__all__ = ["UserError", "MissingPathError", "cli_exit_code", "log", "setup_logging"]


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time (a notebook's or pytest's capture included),
    the stream tqdm's bar does not use."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def setup_logging(level: int = logging.INFO) -> None:
    """Give the trainer's logger a console handler once, unless the application configured one."""
    if not log.handlers:
        handler = _ConsoleHandler()
        handler.setFormatter(logging.Formatter("[paretoslider] %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False


class MissingPathError(UserError, FileNotFoundError):
    """A path from the config or the command line does not exist."""


def cli_exit_code(fn: Callable[[], object], prog: str) -> int:
    """Run a CLI body: 0 on success, 2 with one line on stderr for a UserError."""
    try:
        fn()
    except UserError as err:
        print(f"{prog} error: {err}", file=sys.stderr)
        return 2
    return 0
