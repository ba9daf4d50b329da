"""Runs the widget's pure-logic unit tests (web/simplex.js, web/preference helpers) with node, when installed."""
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# simplex.test.mjs: ω maths; preference_helpers.test.mjs: chain / graph / view / controls load on
# their own without side effects; schedule_helpers.test.mjs: LoRA labels, schedule preview, walks
SUITES = ["simplex.test.mjs", "preference_helpers.test.mjs", "schedule_helpers.test.mjs"]


@pytest.mark.parametrize("suite", SUITES)
def test_widget_helpers_with_node(suite):
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed; the widget's unit tests need node >= 18 (no npm packages)")
    version = subprocess.run([node, "--version"], check=False, capture_output=True, text=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version} has no built-in test runner (need >= 18)")
    run = subprocess.run([node, "--test", str(HERE / suite)], check=False, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_every_suite_is_run():
    assert sorted(p.name for p in HERE.glob("*.test.mjs")) == sorted(SUITES)
