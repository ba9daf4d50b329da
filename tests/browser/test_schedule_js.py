"""The schedule node's widget previews what the node samples: web/preference/schedule.js reads
keypoints and curves as pareto_core.schedule does (same ω at the same positions, the same lines
refused). Runs node on the JS side; skips without node >= 18."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pareto_core import ParetoSliderError, validate_preference
from pareto_core.schedule import CURVES, parse_keypoints

ROOT = Path(__file__).resolve().parents[2]
GOOD = [("0: 1, 0\n1: 0, 1", "percent"),
        ("0.8: 1, 3\n\n0: 1, 0\n0.5 : 0.5; 0.5  # halfway", "percent"),
        ("# flow σ\n1: 0.2, 0.8\n0.4: 0.9, 0.1", "sigma"),
        ("14.6: 1, 0, 0\n7: 0, 2, 2\n0.5: 0, 0, 1", "sigma"),
        ("0.3: 0.6, 0.4", "percent")]
BAD = [("0: 1, 0\nhalf: 1, 1", "percent"), ("0: 1, 0, 3", "percent"), ("0.5 0.5, 0.5", "percent"),
       ("0.7: -1, 2", "percent"), ("1.5: 1, 1", "percent"), ("0: 1, 1\n0: 0, 1", "percent"),
       ("-1: 1, 1", "sigma"), ("0.2: 0, 0", "percent"), ("0.2: 1, nan", "percent")]
XS = [-0.5, 0, 0.1, 0.25, 0.4, 0.5, 0.63, 0.8, 0.99, 1, 3, 10, 20]
TS = [0, 0.1, 0.25, 0.49, 0.5, 0.75, 0.9, 1]

JS = """
import { CURVES, parseKeypoints, keypointsAt } from %s;
const [good, bad, xs, ts] = JSON.parse(process.argv[1]);
console.log(JSON.stringify({
  curves: Object.fromEntries(Object.entries(CURVES).map(([n, f]) => [n, ts.map(f)])),
  good: good.map(([text, axis, k]) => { const p = parseKeypoints(text, k, axis);
    return { errors: p.errors, at: xs.map((x) => keypointsAt(p.points, x)) }; }),
  bad: bad.map(([text, axis]) => parseKeypoints(text, 2, axis).errors.length),
}));
"""


def _k(text: str) -> int:
    """The number of weights on the first keypoint line (the slider's K in these cases)."""
    line = next(v.split("#")[0] for v in text.splitlines() if ":" in v.split("#")[0])
    return len(line.split(":", 1)[1].replace(";", ",").split(","))


def _python(text: str, axis: str, k: int = 0):
    k = k or _k(text)
    return parse_keypoints(text, axis).validated(lambda w: validate_preference(w, k))


@pytest.fixture(scope="module")
def js():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed; the schedule preview check needs node >= 18")
    module = json.dumps((ROOT / "web" / "preference" / "schedule.js").as_uri())
    run = subprocess.run([node, "--input-type=module", "-e", JS % module, json.dumps([[(t, a, _k(t)) for t, a in GOOD], BAD, XS, TS])],
                         check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_curves_match_the_node(js):
    assert set(js["curves"]) == set(CURVES), "the widget offers the node's curves"
    for name, values in js["curves"].items():
        assert values == pytest.approx([CURVES[name](t) for t in TS], abs=1e-12), name


@pytest.mark.parametrize("i", range(len(GOOD)))
def test_keypoints_preview_the_node_s_omega(js, i):
    text, axis = GOOD[i]
    got = js["good"][i]
    assert got["errors"] == []
    schedule = _python(text, axis)
    for x, w in zip(XS, got["at"]):
        assert w == pytest.approx(schedule.at(x).tolist(), abs=1e-6), f"{text!r} at {x}"


@pytest.mark.parametrize("i", range(len(BAD)))
def test_keypoints_the_node_refuses_are_flagged(js, i):
    text, axis = BAD[i]
    with pytest.raises(ParetoSliderError):
        _python(text, axis, 2)          # a two-objective slider
    assert js["bad"][i] > 0, f"the widget did not flag {text!r}, which the node refuses"
