"""The one place a user error becomes the error ComfyUI shows, and the extension's logger.

A `ParetoSliderError` (pareto_core.errors: a bad file, a file for another model, a bad ω) raised in
a node's `execute` (or in the sampling wrapper) is re-raised as `ParetoSliderNodeError` with its
message on one line and without the frames below the node. ComfyUI (execution.py) reports an
exception raised in `execute` as `exception_type` = module + "." + qualname of its class,
`exception_message` = str(error) + "\n" and `traceback` = the frames it passed through; the frontend
shows "<exception_type>: <exception_message>" in its errors panel, the node's name as the dialog
title, and the traceback only under "Show report". A custom node's module is named after its
folder's absolute path, so this class sits in "builtins" to be shown as plain "ParetoSliderError".
`validate_inputs` returns the same one line as its message. Any other exception is a bug and
passes through untouched.
"""
from __future__ import annotations

import functools
import logging

from ..pareto_core import ParetoSliderError

log = logging.getLogger("ParetoSlider")   # every warning of the nodes goes here (never print)


class ParetoSliderNodeError(ParetoSliderError):
    """A user error as ComfyUI shows it: 'ParetoSliderError: <what to do>'."""


ParetoSliderNodeError.__module__ = "builtins"          # see the module docstring
ParetoSliderNodeError.__qualname__ = ParetoSliderNodeError.__name__ = "ParetoSliderError"


def one_line(err: BaseException) -> str:
    """The error's message as one line (a multi-line message joined with '; ')."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip())


def user_errors(fn):
    """Decorate a node's `execute` (under @classmethod) or a callable ComfyUI invokes: a
    ParetoSliderError leaves it as ParetoSliderNodeError(one line); anything else is unchanged."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ParetoSliderNodeError:
            raise
        except ParetoSliderError as err:
            log.debug("ParetoSlider: user error in %s", fn.__qualname__, exc_info=True)
            raise ParetoSliderNodeError(one_line(err)) from None
    return wrapper


def validation_message(check, *args) -> bool | str:
    """For `validate_inputs`: True if check(*args) passes, else the user error as one line."""
    try:
        check(*args)
    except ParetoSliderError as err:
        return one_line(err)
    return True
