"""Writing a file so that nobody ever reads half of it: a temp file in the same folder, renamed
over the target.

    with atomic_path(path) as tmp:
        save_file(tensors, tmp)            # whatever writes a file by name

- the file gets a normal new file's permissions (0666 minus the umask): mkstemp's 0600 would hide
  it from a ComfyUI running as another user;
- a write that fails leaves nothing behind and raises OSError: a library's own I/O error (the
  safetensors writer's "I/O error: No space left on device (os error 28)") is turned back into
  the OSError it was, so callers can say "no space left";
- a temp file left by a killed process (".<name>.<random>.tmp") is found by `stray_temp_files`.
"""
from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()
_OS_ERROR = re.compile(r"\(os error (\d+)\)")
TEMP_GLOB = ".*.tmp"


def _umask() -> int:
    with _UMASK_LOCK:              # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def as_os_error(err: BaseException) -> OSError | None:
    """`err` as an OSError when it is one, or a library's wrapper of one ("... (os error 28)")."""
    if isinstance(err, OSError):
        return err
    m = _OS_ERROR.search(str(err))
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code))
    return None


def is_disk_full(err: BaseException) -> bool:
    e = as_os_error(err)
    return e is not None and e.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temp path beside `path`; renamed to `path` when the block ends without an exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            yield Path(tmp)
        except OSError:
            raise
        except Exception as err:
            os_err = as_os_error(err)
            if os_err is None:
                raise
            raise os_err from err
        os.chmod(tmp, 0o666 & ~_umask())       # after writing: some writers (safetensors) recreate the file 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def stray_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Temp files `atomic_path` leaves when its process is killed mid-write."""
    folder = Path(folder)
    return sorted(p for p in folder.glob(TEMP_GLOB) if p.is_file()) if folder.is_dir() else []
