"""Third-party messages that tell a creator nothing, kept off the console (shown under --debug).

Importing diffusers' pipelines makes transformers warn that its image processors "require torchvision
(not installed); falling back to ...Pil": the trainer never uses those processors (rewards preprocess
in torch, clip.py), so the lines only push the real message off the screen. `quiet_third_party()`
filters exactly the messages listed in QUIET on the loggers that emit them (a logger's own filter
runs before any handler, whoever configured it); with `debug=True` it filters nothing, and each
message is then printed once, as its library prints it. Nothing is imported here.
"""
from __future__ import annotations

import logging
import re

# (logger name, pattern of the message): every entry says why it is noise for the trainer
QUIET = (
    # image processors the trainer does not use (rewards preprocess in torch): torchvision is optional
    ("transformers.utils.import_utils", re.compile(r"requires torchvision \(not installed\); falling back to")),
)


class _Drop(logging.Filter):
    def __init__(self, pattern: re.Pattern):
        super().__init__()
        self.pattern = pattern
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pattern.search(record.getMessage()):
            self.dropped += 1
            return False
        return True


def quiet_third_party(debug: bool = False) -> list[logging.Filter]:
    """Install the filters (once per process); returns them (empty under debug)."""
    if debug:
        return []
    installed = []
    for name, pattern in QUIET:
        logger = logging.getLogger(name)
        mine = [f for f in logger.filters if isinstance(f, _Drop) and f.pattern is pattern]
        if not mine:
            mine = [_Drop(pattern)]
            logger.addFilter(mine[0])
        installed.extend(mine)
    return installed
