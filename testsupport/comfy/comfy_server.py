"""Start / stop a headless ComfyUI for tests and the benchmark (COMFYUI_DIR, COMFYUI_PYTHON).

A temporary --base-directory holds tiny random models and ParetoSlider files; this repository
is symlinked into its custom_nodes/ (any folder name works)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from testsupport.comfy.comfy_client import ComfyClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PORTS = range(8190, 8200)


def comfy_dir() -> Path | None:
    d = os.environ.get("COMFYUI_DIR")
    return Path(d) if d and (Path(d) / "main.py").is_file() else None


def comfy_env(extra: dict | None = None) -> dict:
    """The environment for a script run in ComfyUI's python: the repository root on PYTHONPATH, so
    it imports `testsupport.comfy.*` (ComfyUI's own folder still comes first: comfy_setup puts it
    at sys.path[0], so the repository's nodes/ never shadows ComfyUI's nodes.py)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def comfy_python() -> str:
    if os.environ.get("COMFYUI_PYTHON"):
        return os.environ["COMFYUI_PYTHON"]
    for cand in (comfy_dir() / ".venv/bin/python", comfy_dir().parent / "venv/bin/python"):
        if cand.is_file():
            return str(cand)
    return sys.executable


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def make_base_dir(root: Path) -> dict[str, Path]:
    from testsupport.comfy.tiny_models import build_all
    files = build_all(root)
    nodes = root / "custom_nodes"
    nodes.mkdir(exist_ok=True)
    (nodes / "ComfyUI-ParetoSlider").symlink_to(REPO, target_is_directory=True)
    (nodes / "paretoslider_test_nodes").symlink_to(HERE / "comfy_test_nodes", target_is_directory=True)
    for sub in ("input", "output", "temp", "user"):
        (root / sub).mkdir(exist_ok=True)
    return files


def start_server(root: Path, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    log = root / f"comfyui_{port}.log"
    cmd = [comfy_python(), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--disable-auto-launch", "--disable-api-nodes", "--base-directory", str(root), *extra_args]
    proc = subprocess.Popen(cmd, cwd=comfy_dir(), stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    url = f"http://127.0.0.1:{port}"
    client = ComfyClient(url)
    t0 = time.time()
    while time.time() - t0 < 180:
        if proc.poll() is not None:
            raise RuntimeError(f"ComfyUI exited ({proc.returncode}); log:\n{log.read_text()[-3000:]}")
        try:
            client.get("/system_stats")
            return proc, url, log
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"ComfyUI did not start in 180 s; log:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


