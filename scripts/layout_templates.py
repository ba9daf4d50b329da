"""Re-lay out the templates (example_workflows/*.json) from what the browser measured.

Each renderer draws a node at its own height (Vue nodes are taller, with the node-source badge at
the bottom; the classic canvas draws that badge 22 px above the title), so a layout typed by hand
overlaps in one of them. This keeps every node's column (its x) and order in the column, stacks
the column with the larger of the two measured heights and GAP between nodes, and saves a view
(`extra.ds`) that shows the whole graph in the free part of a 1600 × 900 window.

    PARETOSLIDER_SCENARIOS=templates,templates_vue scripts/test.sh \
        tests/browser/test_preference_widget.py::test_template_opens_readable_at_1600x900 --basetemp=/tmp/tpl
    python scripts/layout_templates.py /tmp/tpl/comfy_base0/report.json [NAME ...]

then run the test again (a node that changed width changes height: run both twice). Move a node
to another column by editing its x (and a large y to put it last) before running this.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "example_workflows"
GAP = 24            # px of graph between one node's bottom and the next one's badge or title
MARGIN = 12         # px of screen around the graph in the frame
MAX_SCALE = 1.0


def extents(report: dict, name: str) -> dict[int, tuple[float, float, float, float]]:
    """node id → (left, top, right, bottom) around its pos, in graph units, over both renderers."""
    ext: dict[int, tuple[float, float, float, float]] = {}
    for mode in ("templates", "templates_vue"):
        t = report[mode][name]
        pos = {n["id"]: n["pos"] for n in t["nodes"]}       # where the boxes were measured
        s, (ox, oy) = t["opened"]["scale"], t["opened"]["offset"]
        for b in t["opened"]["boxes"]:
            px, py = pos[b["id"]]
            for part in ("body", "badge"):
                if part in b:
                    x0, y0, x1, y1 = b[part]
                    g = (x0 / s - ox - px, y0 / s - oy - py, x1 / s - ox - px, y1 / s - oy - py)
                    e = ext.get(b["id"], g)
                    ext[b["id"]] = (min(e[0], g[0]), min(e[1], g[1]), max(e[2], g[2]), max(e[3], g[3]))
    return ext


def lay_out(wf: dict, ext: dict, frame: list[float]) -> dict:
    columns: dict[float, list[dict]] = {}
    for n in wf["nodes"]:
        columns.setdefault(n["pos"][0], []).append(n)
    for nodes in columns.values():
        nodes.sort(key=lambda n: n["pos"][1])
        bottom = None
        for n in nodes:     # the first node keeps its y; each next one starts GAP below
            if bottom is not None:
                n["pos"][1] = round(bottom + GAP - ext[n["id"]][1])
            bottom = n["pos"][1] + ext[n["id"]][3]
    def edge(i: int) -> list[float]:    # i: left, top, right, bottom
        return [n["pos"][i % 2] + ext[n["id"]][i] for n in wf["nodes"]]
    box = [min(edge(0)), min(edge(1)), max(edge(2)), max(edge(3))]
    fit = min((frame[2] - frame[0] - 2 * MARGIN) / (box[2] - box[0]),
              (frame[3] - frame[1] - 2 * MARGIN) / (box[3] - box[1]))
    scale = math.floor(min(MAX_SCALE, fit) * 100) / 100
    offset = [round((frame[0] + frame[2]) / 2 / scale - (box[0] + box[2]) / 2),
              round((frame[1] + frame[3]) / 2 / scale - (box[1] + box[3]) / 2)]
    wf.setdefault("extra", {})["ds"] = {"scale": scale, "offset": offset}
    return {"graph": [round(box[2] - box[0]), round(box[3] - box[1])], "scale": scale}


def main(argv: list[str]) -> None:
    report = json.loads(Path(argv[1]).read_text())
    for name in argv[2:] or report["templates"]:
        path = ROOT / f"{name}.json"
        wf = json.loads(path.read_text(encoding="utf-8"))
        done = lay_out(wf, extents(report, name), report["templates"][name]["opened"]["frame"])
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(wf, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        print(f"{name}: graph {done['graph'][0]} x {done['graph'][1]}, opens at {done['scale']:.0%}")


if __name__ == "__main__":
    main(sys.argv)
