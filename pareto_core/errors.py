"""The one user-error type of both halves.

Anything a user can fix (a wrong path, a bad config value, a file for another model, a reward
that returned NaN) raises a subclass of `ParetoSliderError` with a message that says what to do.
Each half turns it into one line in exactly one place: the trainer CLI prints it and exits 2
(`trainer/cli.py`), the ComfyUI nodes raise it as the node's error (`nodes/errors.py`). Anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations


class ParetoSliderError(ValueError):
    """A problem the user can fix; the message says how."""
