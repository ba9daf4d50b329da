"""Integration tests against a real ComfyUI (COMFYUI_DIR). Skipped with a reason when unset.

One session-wide headless server (--cpu, a temporary --base-directory holding tiny random models
and ParetoSlider files, this repository symlinked into its custom_nodes).
"""
from __future__ import annotations

from pathlib import Path

import pytest


from testsupport.comfy.comfy_client import ComfyClient  # noqa: E402
from testsupport.comfy.comfy_server import comfy_dir, make_base_dir, start_server, stop_server  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if comfy_dir() is None:
        skip = pytest.mark.skip(reason="COMFYUI_DIR is not set (or has no main.py): integration tests "
                                       "need a ComfyUI checkout with its venv (set COMFYUI_PYTHON too)")
        for item in items:
            if "integration" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def comfy_base(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("comfy_base")
    return root, make_base_dir(root)


@pytest.fixture(scope="session")
def comfy(comfy_base) -> ComfyClient:
    root, _ = comfy_base
    proc, url, log = start_server(root)
    client = ComfyClient(url, root)
    client.log = log
    yield client
    stop_server(proc)
