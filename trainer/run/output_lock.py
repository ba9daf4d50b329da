"""One run per output folder: an exclusive lock on <output.dir>/.paretoslider.lock for the run's life.

Two runs writing one folder would interleave metrics.csv and overwrite each other's checkpoints
and file, both exiting 0. The lock is an OS file lock (flock) on an open file: the kernel lets go
of it when the process ends, however it ends, so a lock left by a killed run is never "held" —
its file still names the old holder, which is how a take-over is noticed and reported. The file
holds {"pid", "host", "started", "command"} so a refusal can say who holds the folder.
Under torchrun only rank 0 locks; the others learn the outcome from it (the run's caller does that).
Within one process the lock is shared (a notebook re-creating a Trainer on the same folder is not a
second run): each holder counts, and the last release lets go.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import UserError, log

LOCK_NAME = ".paretoslider.lock"
_HELD: dict[Path, list] = {}          # resolved lock path → [fd, holders] in this process

try:
    import fcntl
except ImportError:          # Windows: an exclusive create, with the holder's PID checked by hand
    fcntl = None


class OutputFolderBusy(UserError):
    """Another run holds the output folder."""


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another run"
    return (f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
            + (f": {holder['command']}" if holder.get("command") else ""))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    """`acquire()` or raise OutputFolderBusy; `release()` (also when the process dies)."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.path = self.dir / LOCK_NAME
        self._fd: int | None = None
        self.created_dir = False                 # the folder did not exist before this run
        self.took_over: dict | None = None       # the holder a killed run left in the file, if any

    def acquire(self) -> "OutputLock":
        self.created_dir = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)[:300]}
        key = self.path.resolve()
        if key in _HELD:                               # this process holds it already
            _HELD[key][1] += 1
            self._fd = _HELD[key][0]
            return self
        if fcntl is None:
            self._acquire_by_create(me)
        else:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(_holder(self.path)) from None
            previous = _holder(self.path)
            if previous and previous.get("pid") is not None:
                self.took_over = previous          # its process ended without releasing (killed)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            self._fd = fd
        _HELD[key] = [self._fd, 1]
        if self.took_over:
            log.warning(f"output.dir {self.dir}: took over the lock of a run that ended without releasing it "
                        f"({_describe(self.took_over)})")
        return self

    def _acquire_by_create(self, me: dict) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _holder(self.path)
                if holder.get("pid") and _pid_alive(int(holder["pid"])) and holder.get("host") == me["host"]:
                    raise self._busy(holder) from None
                self.took_over = holder
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, json.dumps(me).encode())
            self._fd = fd
            return
        raise self._busy(_holder(self.path))

    def _busy(self, holder: dict) -> OutputFolderBusy:
        return OutputFolderBusy(f"output.dir {self.dir} is in use by another run ({_describe(holder)}); wait for it "
                                "to finish, stop it, or give this run another output.dir")

    def release(self, tidy: bool = False) -> None:
        """Let go. tidy: a run that stopped before writing anything also removes the folder it created."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        key = self.path.resolve()
        if key in _HELD:
            _HELD[key][1] -= 1
            if _HELD[key][1] > 0:
                return                     # another holder in this process still runs
            del _HELD[key]
        try:
            os.ftruncate(fd, 0)            # an empty file: released cleanly, nothing to take over
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if fcntl is None or (tidy and self.created_dir and [p.name for p in self.dir.iterdir()] == [LOCK_NAME]):
            self.path.unlink(missing_ok=True)
        if tidy and self.created_dir:
            try:
                self.dir.rmdir()           # only if empty
            except OSError:
                pass
