"""The parts of nodes/ that need no ComfyUI (the Front Preview chart, the error helper), tested
without it. The repository is imported as a package under a test name, the way ComfyUI imports
custom_nodes/<folder>/, so the modules' relative imports (`from ..pareto_core import`) work; the
root __init__ registers no nodes when ComfyUI is absent."""
from __future__ import annotations

import importlib.util
import sys
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "paretoslider_runtime_under_test"


def import_repo():
    if PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE, ROOT / "__init__.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = module
        spec.loader.exec_module(module)
    return sys.modules[PACKAGE]


@pytest.fixture(scope="session")
def nodes_module():
    """nodes_module("front_plot") → the repo's nodes/front_plot.py, imported as ComfyUI would."""
    package = import_repo().__name__
    return lambda name: import_module(f"{package}.nodes.{name}")
