"""The trainer's user errors and the one place that turns them into a line and exit code 2.

Every error a creator can fix (a config value, a missing model folder, a reward that returned
NaN, a diverged run) is a `UserError` — the core's `ParetoSliderError`, so a bad ParetoSlider
file read by the trainer is one too. `cli_exit_code` is the only place that catches them: the
CLIs print `<prog> error: <message>` and exit 2; anything else is a bug and keeps its traceback.
`--debug` (or PARETOSLIDER_DEBUG=1) shows the traceback of a user error too.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from pareto_core import ParetoSliderError as UserError

log = logging.getLogger("paretoslider")

__all__ = ["UserError", "MissingPathError", "cli_exit_code", "debug_enabled", "log", "setup_logging", "warnings_on_stderr"]


class _ConsoleHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout / sys.stderr is at the time of each record (a notebook's or
    pytest's capture included)."""

    def __init__(self, stream_name: str):
        super().__init__()
        self.stream_name = stream_name

    @property
    def stream(self):
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, _value):
        pass


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler, _ConsoleHandler)


def setup_logging(level: int = logging.INFO) -> None:
    """Training: warnings on stdout (tqdm's bar has stderr), once, unless the application
    configured the logger itself."""
    if not log.handlers:
        handler = _ConsoleHandler("stdout")
        handler.setFormatter(logging.Formatter("[paretoslider] %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(level)
        log.propagate = False


@contextmanager
def warnings_on_stderr() -> Iterator[None]:
    """A CLI whose stdout is its result: its warnings go to stderr for the duration (our own
    console handler is set aside meanwhile; an application's handlers are left alone)."""
    if any(not _ours(h) for h in log.handlers):
        yield
        return
    saved, propagate = list(log.handlers), log.propagate
    handler = _ConsoleHandler("stderr")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers = [handler]
    log.propagate = False
    try:
        yield
    finally:
        log.handlers, log.propagate = saved, propagate


class MissingPathError(UserError, FileNotFoundError):
    """A path from the config or the command line does not exist."""


DEBUG_ENV = "PARETOSLIDER_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def cli_exit_code(fn: Callable[[], object], prog: str) -> int:
    """Run a CLI body: 0 on success, 2 with one line on stderr for a UserError (its traceback too
    under --debug)."""
    try:
        fn()
    except UserError as err:
        if debug_enabled():
            import traceback
            traceback.print_exc()
        print(f"{prog} error: {err}", file=sys.stderr)
        return 2
    return 0
