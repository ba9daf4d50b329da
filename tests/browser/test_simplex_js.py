"""Runs the widget's pure-logic unit tests (web/simplex.js, web/preference helpers) with node, when installed."""
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def test_simplex_helpers_with_node():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed; web/simplex.js unit tests need node >= 18 (no npm packages)")
    version = subprocess.run([node, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} has no built-in test runner (need >= 18)")
    run = subprocess.run([node, "--test", str(HERE / "simplex.test.mjs")], check=False, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_preference_helper_modules_with_node():
    """web/preference/{chain,graph,view,controls}.js load on their own without side effects."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed; the helper module tests need node >= 18 (no npm packages)")
    version = subprocess.run([node, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} has no built-in test runner (need >= 18)")
    run = subprocess.run([node, "--test", str(HERE / "preference_helpers.test.mjs")], check=False,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout
