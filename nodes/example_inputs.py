"""The templates' input files (the Kontext template's source image) into ComfyUI's input folder.

LoadImage reads only from input/, and a template cannot carry a file: without this the Kontext
template opens with "Missing Inputs … Load Image". Copied once, when absent (a user's own file
under that name is never replaced), through a temporary file and a rename.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("ParetoSlider")   # nodes/errors.py's logger (no relative import: importable alone)

SOURCE = Path(__file__).resolve().parents[1] / "example_workflows" / "input"


def install_example_inputs(input_dir: str | None = None) -> list[str]:
    """Copy each shipped file missing from `input_dir` (default: ComfyUI's); the names copied."""
    if input_dir is None:
        import folder_paths
        input_dir = folder_paths.get_input_directory()
    copied = []
    if not SOURCE.is_dir():
        return copied
    try:
        os.makedirs(input_dir, exist_ok=True)
        for src in sorted(SOURCE.iterdir()):
            dst = os.path.join(input_dir, src.name)
            if not src.is_file() or os.path.exists(dst):
                continue
            fd, tmp = tempfile.mkstemp(dir=input_dir, prefix=".paretoslider-", suffix=src.suffix)
            os.close(fd)
            try:
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            copied.append(src.name)
    except OSError as err:   # a read-only input folder: the templates still load, LoadImage says what is missing
        log.warning("ParetoSlider: could not copy the templates' input files to %s (%s)", input_dir, err)
    return copied
