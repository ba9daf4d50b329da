"""Drive the ParetoSlider Preference widget (and the schedule node's) in headless Chromium
against a running ComfyUI.

Run by test_preference_widget.py in whichever interpreter has `playwright` (this one or
$COMFYUI_PYTHON); it only observes and writes a JSON report, the pytest side asserts.

    python drive_widget.py URL REPORT.json SCREENSHOT_DIR [WORKFLOW.json ...]

Uses the system Chromium (never `playwright install`).
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

URL = ""
REPORT_SHOTS = "."
CHROMIUM = os.environ.get("PARETOSLIDER_CHROMIUM", "/usr/bin/chromium")
FILES = {2: "tiny_two_objectives.safetensors", 3: "tiny_three_objectives.safetensors",
         5: "tiny_five_objectives.safetensors"}

# Build Loader → Preference in an empty graph; returns the preference node id.
JS_BUILD = """async ([fileName, vue]) => {
  const app = window.app;
  const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
  app.graph.clear();
  const loader = LiteGraph.createNode("ParetoSliderLoader");
  loader.pos = [40, 80];
  app.graph.add(loader);
  const w = loader.widgets.find((x) => x.name === "slider_name");
  w.value = fileName;
  w.callback?.(fileName);
  const pref = LiteGraph.createNode("ParetoSliderPreference");
  pref.pos = [380, 80];
  app.graph.add(pref);
  loader.connect(0, pref, 0);
  pref.setSize([340, pref.computeSize()[1]]);
  app.canvas.ds.scale = 1.25;
  app.canvas.ds.offset = [0, 0];
  app.canvas.setDirty(true, true);
  return pref.id;
}"""

JS_STATE = """(id) => {
  const app = window.app;
  const node = app.graph.getNodeById(id);
  const view = node.__paretoslider;
  const sw = view?.stringWidget ?? node.widgets.find((w) => w.name === "preference");
  const root = view?.root;
  if (root) root.dataset.psNode = String(id);
  const ghost = root?.querySelector("[data-testid^=paretoslider-start]");
  const shown = (e) => !!e && getComputedStyle(e).display !== "none" && e.getAttribute("display") !== "none";
  return {
    value: sw.value,
    hidden_string_widget: !!(sw.hidden && sw.options?.hidden),
    k: view?.k ?? null,
    mode: root?.dataset.mode ?? null,
    labels: root ? [...root.querySelectorAll(".ps-name")].map((e) => e.textContent) : [],
    percents: root ? [...root.querySelectorAll(".ps-pct")].map((e) => e.textContent) : [],
    status: root?.querySelector(".ps-status")?.textContent ?? null,
    status_title: root?.querySelector(".ps-status")?.title ?? null,
    exact: root?.querySelector(".ps-exact")?.value ?? null,
    connected: root ? root.isConnected : false,
    visible: root ? root.getBoundingClientRect().width > 0 && root.getBoundingClientRect().height > 0 : false,
    in_vue_node: !!root?.closest("[data-node-id]"),
    vue_nodes_setting: !!window.app.extensionManager?.setting?.get?.("Comfy.VueNodes.Enabled"),
    // the schedule node: the start ring (slider: its left %), the legend and the plot's lines
    start_shown: shown(ghost),
    start_left: ghost?.style?.left ?? null,
    start_title: ghost?.title || ghost?.querySelector?.("title")?.textContent || null,
    legend: root ? [...root.querySelectorAll(".ps-legend2 > span")].map((e) => e.textContent) : [],
    axis: root ? [...root.querySelectorAll(".ps-axis > span")].map((e) => e.textContent) : [],
    plot_lines: root ? root.querySelectorAll(".ps-plot polyline").length : 0,
    inactive: !!root?.querySelector(".ps-inactive"),
    widget_names: node.widgets.map((w) => w.name),
    rect: root ? (({ x, y, width, height }) => ({ x, y, width, height }))(root.getBoundingClientRect()) : null,
  };
}"""

# Build ParetoSlider from LoRAs → Preference (→ Schedule, its start from the Preference) in an
# empty graph; returns the node ids.
JS_BUILD_LORAS = """async ([loras, names, preference, schedule, beside]) => {
  const app = window.app;
  const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
  app.graph.clear();
  const set = (node, name, value) => {
    const w = node.widgets.find((x) => x.name === name);
    w.value = value;
    w.callback?.(value);
  };
  const src = LiteGraph.createNode("ParetoSliderFromLoras");
  src.pos = [150, 160];
  app.graph.add(src);
  loras.forEach((f, i) => set(src, `lora_${i + 1}`, f));
  set(src, "names", names);
  src.setSize([400, src.computeSize()[1]]);
  const pref = LiteGraph.createNode("ParetoSliderPreference");
  pref.pos = [610, 160];
  app.graph.add(pref);
  src.connect(0, pref, 0);
  set(pref, "preference", preference);
  pref.setSize([330, pref.computeSize()[1]]);
  let sched = null;
  if (schedule) {
    sched = LiteGraph.createNode("ParetoSliderSchedule");
    // beside: the schedule to the right of the LoRA node, the Preference node under the LoRA node
    if (beside) pref.pos = [150, 160 + src.size[1] + 60];
    sched.pos = beside ? [610, 160] : [610, 160 + pref.size[1] + 50];
    app.graph.add(sched);
    src.connect(0, sched, sched.findInputSlot("slider"));
    pref.connect(0, sched, sched.findInputSlot("start"));
    sched.setSize([330, sched.computeSize()[1]]);
  }
  app.canvas.ds.scale = 1;
  app.canvas.ds.offset = [0, 0];
  app.canvas.setDirty(true, true);
  return { src: src.id, pref: pref.id, sched: sched?.id ?? null,
           src_widgets: src.widgets.map((w) => w.name) };
}"""

# Set a widget as the UI does (value, then its callback); `silent` skips the callback (code
# elsewhere assigning the value: the widget's fallback check must notice).
JS_SET_WIDGET = """([id, name, value, silent]) => {
  const node = window.app.graph.getNodeById(id);
  const w = node.widgets.find((x) => x.name === name);
  w.value = value;
  if (!silent) w.callback?.(value);
}"""

# Put a Reroute between the LoRA node and the Preference node.
JS_REROUTE = """([srcId, prefId]) => {
  const app = window.app;
  const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
  const src = app.graph.getNodeById(srcId), pref = app.graph.getNodeById(prefId);
  const rr = LiteGraph.createNode("Reroute");
  rr.pos = [530, 40];
  app.graph.add(rr);
  src.connect(0, rr, 0);
  rr.connect(0, pref, 0);
  return pref.getInputNode(0)?.type ?? null;
}"""

# The Loader's recommended-settings line (the first Loader in the graph).
JS_LOADER_LINE = """() => {
  const loader = window.app.graph.nodes.find((n) => n.type === "ParetoSliderLoader");
  const line = loader?.__paretoslider_recommended;
  const el = line?.root;
  return { text: el?.textContent ?? null, title: el?.title ?? null, connected: !!el?.isConnected,
           visible: el ? el.getBoundingClientRect().height > 0 : false,
           serialized: loader ? loader.serialize().widgets_values : null };
}"""

JS_SERIALIZE = """async (id) => {
  const app = window.app;
  const workflow = app.graph.serialize();
  const prompt = await app.graphToPrompt();
  const saved = workflow.nodes.find((n) => n.id === id);
  return { workflow, widgets_values: saved.widgets_values, prompt_inputs: prompt.output[String(id)]?.inputs ?? null };
}"""

JS_SET_STRING = """([id, text]) => {
  const app = window.app;
  const node = app.graph.getNodeById(id);
  node.widgets.find((w) => w.name === "preference").value = text;
}"""

JS_STRING_IS_NOT = """([id, text]) => {
  const node = window.app.graph.getNodeById(id);
  return node.widgets.find((w) => w.name === "preference").value !== text;
}"""

JS_LOAD = """async (workflow) => {
  const app = window.app;
  await app.loadGraphData(workflow, true, true, null);
}"""

# Load a template the way the template browser does (fetch from the server) and inspect it.
JS_TEMPLATE = """async (name) => {
  const app = window.app;
  const api = window.comfyAPI.api.api;
  const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
  const index = await (await api.fetchApi("/workflow_templates")).json();
  const pack = Object.keys(index).find((k) => index[k].includes(name));
  if (!pack) return { error: `template ${name} not listed by /workflow_templates: ${JSON.stringify(index)}` };
  const res = await api.fetchApi(`/workflow_templates/${pack}/${name}.json`);
  if (!res.ok) return { error: `GET template ${name}: HTTP ${res.status}` };
  const wf = await res.json();
  await app.loadGraphData(wf, true, true, name);
  // the view the template opens at (the saved extra.ds, restored by the frontend)
  const view = { scale: app.canvas.ds.scale, offset: [...app.canvas.ds.offset] };
  const nodes = app.graph.nodes.map((n) => ({
    id: n.id, type: n.type, pos: [...n.pos], size: [...n.size],
    registered: !!LiteGraph.registered_node_types[n.type],
    has_error: !!n.has_errors,
    widgets: (n.widgets ?? []).filter((w) => w.serialize !== false).map((w) => [w.name, w.value]),
  }));
  const saved = Object.fromEntries(wf.nodes.map((n) => [n.id, n.widgets_values ?? []]));
  // the Loader's line (how its file was trained) is filled from /paretoslider/info
  const loader = app.graph.nodes.find((n) => n.type === "ParetoSliderLoader");
  for (let i = 0; i < 50 && loader && !loader.__paretoslider_recommended?.text; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const recommended = loader ? {
    text: loader.__paretoslider_recommended?.text ?? null,
    shown: !!loader.__paretoslider_recommended?.root.isConnected,
  } : null;
  let prompt_error = null, prompt_nodes = 0, prompt = null;
  try {
    const p = await app.graphToPrompt();
    prompt_nodes = Object.keys(p.output).length;
    prompt = p.output;
  } catch (e) { prompt_error = String(e); }
  // the labels each pad shows (its slider source: a Loader's file or a LoRA node's names)
  const padNodes = app.graph.nodes.filter((n) => n.__paretoslider);
  const labels = () => Object.fromEntries(padNodes.map((n) => [n.type,
    [...n.__paretoslider.root.querySelectorAll(".ps-name")].map((e) => e.textContent)]));
  for (let i = 0; i < 30 && Object.values(labels()).some((l) => l.includes("objective 1")); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const pads = Object.fromEntries(padNodes.map((n) => [n.type, {
    labels: labels()[n.type], mode: n.__paretoslider.root.dataset.mode,
    start_shown: !!n.__paretoslider.start }]));
  return { pack, view, nodes, saved, links: app.graph.links?.size ?? Object.keys(app.graph.links ?? {}).length,
           saved_links: wf.links.length, prompt_error, prompt_nodes, recommended, pads, prompt };
}"""


def nodes_box(page, node_ids, pad: int = 14, top: int = 34) -> dict:
    """Screen rectangle around several nodes."""
    boxes = [node_box(page, i, pad, top) for i in node_ids]
    x0, y0 = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    x1 = max(b["x"] + b["width"] for b in boxes)
    y1 = max(b["y"] + b["height"] for b in boxes)
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def node_box(page, node_id: int, pad: int = 14, top: int = 34) -> dict:
    """Screen rectangle around a node (title bar included) in either renderer."""
    box = page.evaluate("""(id) => {
      const app = window.app;
      const vueEl = document.querySelector(`[data-node-id="${id}"]`);
      if (vueEl) { const r = vueEl.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }
      const node = app.graph.getNodeById(id);
      const ds = app.canvas.ds; const rect = app.canvas.canvas.getBoundingClientRect();
      const title = (window.LiteGraph ?? window.comfyAPI.litegraph.LiteGraph).NODE_TITLE_HEIGHT;
      const x = (node.pos[0] + ds.offset[0]) * ds.scale + rect.left;
      const y = (node.pos[1] - title + ds.offset[1]) * ds.scale + rect.top;
      return [x, y, node.size[0] * ds.scale, (node.size[1] + title) * ds.scale];
    }""", node_id)
    x, y, w, h = box
    return {"x": max(0, x - pad), "y": max(0, y - top), "width": w + 2 * pad, "height": h + pad + top}


def wait_labels(page, node_id: int, want: str, timeout: float = 15.0) -> dict:
    end = time.time() + timeout
    state = page.evaluate(JS_STATE, node_id)
    while time.time() < end:
        state = page.evaluate(JS_STATE, node_id)
        if want in state["labels"] and state["connected"] and state["visible"]:
            return state
        page.wait_for_timeout(150)
    return state


def wait_state(page, node_id: int, ok, timeout: float = 15.0) -> dict:
    """Poll the widget's state until ok(state) holds (or the time is up: the caller asserts)."""
    end = time.time() + timeout
    state = page.evaluate(JS_STATE, node_id)
    while time.time() < end and not ok(state):
        page.wait_for_timeout(150)
        state = page.evaluate(JS_STATE, node_id)
    return state


def in_node(page, node_id: int, testid: str):
    return page.locator(f'[data-ps-node="{node_id}"] [data-testid={testid}]')


def shoot(page, node_id, path: Path):
    """A screenshot of one node (an id) or of several (a list of ids)."""
    page.evaluate("""() => { document.activeElement?.blur?.();
      const c = window.app.canvas; c.deselectAll?.(); c.setDirty(true, true); }""")
    page.mouse.move(2, 790)
    page.wait_for_timeout(250)
    clip = nodes_box(page, node_id) if isinstance(node_id, list) else node_box(page, node_id)
    page.screenshot(path=str(path), clip=clip)


def drag(page, locator, frac_from, frac_to, steps: int = 12):
    """Press at one fractional point of the element, move to another, release."""
    b = locator.bounding_box()
    fx, fy = frac_from
    tx, ty = frac_to
    page.mouse.move(b["x"] + fx * b["width"], b["y"] + fy * b["height"])
    page.mouse.down()
    page.mouse.move(b["x"] + tx * b["width"], b["y"] + ty * b["height"], steps=steps)
    page.mouse.up()
    page.wait_for_timeout(150)


REPORT: dict = {}


def report_note(text: str) -> None:
    REPORT.setdefault("notes", []).append(text)


def open_app(browser, url: str, vue: bool, viewport=(1280, 800), scale: int = 2):
    """A fresh browser context (no saved workflow) with the chosen renderer.
    Settings live on the server, so set them before the page loads."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, device_scale_factor=scale)
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and REPORT["console_errors"].append(m.text))
    page.on("pageerror", lambda e: REPORT["page_errors"].append(str(e)))
    # this pack's .js modules as the page fetches them (ComfyUI imports every .js under web/)
    page.ps_modules = []
    page.on("request", lambda q: page.ps_modules.append(urlparse(q.url).path)
            if q.url.endswith(".js") and "/extensions/comfyui-paretoslider/" in q.url.lower() else None)
    page.request.post(f"{url}/settings", data=json.dumps({
        "Comfy.VueNodes.Enabled": vue, "Comfy.TutorialCompleted": True,
        "Comfy.Workflow.ShowMissingModelsWarning": False, "Comfy.Minimap.Visible": False}))
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function("""() => window.app && window.graph && window.app.canvas
        && window.app.extensionManager?.setting
        && (window.app.extensions ?? []).some((e) => e.name === 'ParetoSlider.PreferenceWidget')""",
                           timeout=60000)
    # the default workflow is loaded after setup: let it land before building our graph
    try:
        page.wait_for_function("() => window.app.graph.nodes.length > 0", timeout=15000)
    except PlaywrightTimeout:
        report_note("the default workflow did not load in 15 s; building on an empty graph")
    page.wait_for_timeout(500)
    return page


def scenario_slider(browser, report, shots: Path, vue: bool):
    tag = "vue" if vue else "classic"
    r = report.setdefault(tag, {})
    page = open_app(browser, URL, vue)
    node_id = page.evaluate(JS_BUILD, [FILES[2], vue])
    page.wait_for_timeout(300)
    r["initial"] = wait_labels(page, node_id, "Prompt adherence")
    r["loader_line"] = page.evaluate(JS_LOADER_LINE)
    track = in_node(page, node_id, "paretoslider-track")
    track.wait_for(state="visible", timeout=10000)
    drag(page, track, (0.5, 0.5), (0.8, 0.5))
    r["after_drag"] = page.evaluate(JS_STATE, node_id)
    drag(page, track, (0.8, 0.5), (0.3, 0.5))
    r["after_drag2"] = page.evaluate(JS_STATE, node_id)
    # keyboard nudge: ← moves 1 % toward the left end
    track.focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(100)
    r["after_key"] = page.evaluate(JS_STATE, node_id)
    ser = page.evaluate(JS_SERIALIZE, node_id)
    r["widgets_values"] = ser["widgets_values"]
    r["prompt_inputs"] = ser["prompt_inputs"]
    shoot(page, node_id, shots / f"preference_widget_{tag}.png")
    # reload the saved workflow into a fresh graph
    page.evaluate("() => window.app.graph.clear()")
    page.evaluate(JS_LOAD, ser["workflow"])
    page.wait_for_timeout(400)
    r["after_reload"] = wait_labels(page, node_id, "Prompt adherence")
    # a malformed saved value is repaired on load
    wf = json.loads(json.dumps(ser["workflow"]))
    for n in wf["nodes"]:
        if n["id"] == node_id:
            n["widgets_values"] = ["0.2, NaN, oops"]
    page.evaluate(JS_LOAD, wf)
    page.wait_for_timeout(400)
    r["after_malformed"] = wait_labels(page, node_id, "Prompt adherence")
    # assigned by code elsewhere (no callback, no event): the widget's fallback check repairs it
    page.evaluate(JS_SET_STRING, [node_id, "3, 1"])
    try:
        page.wait_for_function(JS_STRING_IS_NOT, arg=[node_id, "3, 1"], timeout=8000)
    except PlaywrightTimeout:
        pass  # the assertion on after_external_edit reports it
    r["after_external_edit"] = page.evaluate(JS_STATE, node_id)
    # choosing another file in the Loader relabels the control (and K follows the file)
    page.evaluate("""(name) => {
      const loader = window.app.graph.nodes.find((n) => n.type === "ParetoSliderLoader");
      const w = loader.widgets.find((x) => x.name === "slider_name");
      w.value = name;
      w.callback?.(name);
    }""", FILES[3])
    r["after_file_change"] = wait_labels(page, node_id, "Watercolor")


def scenario_triangle(browser, report, shots: Path, vue: bool):
    tag = "triangle_vue" if vue else "triangle"
    r = report.setdefault(tag, {})
    page = open_app(browser, URL, vue)
    node_id = page.evaluate(JS_BUILD, [FILES[3], vue])
    r["initial"] = wait_labels(page, node_id, "Watercolor")
    pad = in_node(page, node_id, "paretoslider-triangle")
    pad.wait_for(state="visible", timeout=10000)
    # drag from the centre toward the "Photo" corner (top), stopping short of it
    drag(page, pad, (0.5, 0.62), (0.52, 0.35))
    r["after_drag"] = page.evaluate(JS_STATE, node_id)
    # dragging far outside clamps onto the border
    drag(page, pad, (0.52, 0.35), (1.4, 1.4))
    r["after_outside"] = page.evaluate(JS_STATE, node_id)
    drag(page, pad, (0.8, 0.8), (0.55, 0.55))
    r["final"] = page.evaluate(JS_STATE, node_id)
    ser = page.evaluate(JS_SERIALIZE, node_id)
    r["widgets_values"] = ser["widgets_values"]
    r["prompt_inputs"] = ser["prompt_inputs"]
    shoot(page, node_id, shots / f"preference_widget_{tag}.png")


def scenario_bars(browser, report, shots: Path):
    r = report.setdefault("bars", {})
    page = open_app(browser, URL, False)
    node_id = page.evaluate(JS_BUILD, [FILES[5], False])
    r["initial"] = wait_labels(page, node_id, "Saturation")
    bar = in_node(page, node_id, "paretoslider-bar-1")
    bar.wait_for(state="visible", timeout=10000)
    drag(page, bar, (0.1, 0.5), (0.6, 0.5))
    r["after_drag"] = page.evaluate(JS_STATE, node_id)
    shoot(page, node_id, shots / "preference_widget_bars.png")


def scenario_no_loader(browser, report):
    """Unconnected / missing file: generic labels, no crash."""
    r = report.setdefault("no_loader", {})
    page = open_app(browser, URL, False)
    # ComfyUI imports every .js file under web/: one extension, each module fetched once
    r["extensions"] = page.evaluate("() => window.app.extensions.map((e) => e.name).filter((n) => /pareto/i.test(n))")
    r["modules"] = list(page.ps_modules)
    node_id = page.evaluate("""() => {
      const app = window.app;
      const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
      app.graph.clear();
      const pref = LiteGraph.createNode("ParetoSliderPreference");
      pref.pos = [100, 100];
      app.graph.add(pref);
      return pref.id;
    }""")
    r["unconnected"] = wait_labels(page, node_id, "objective 1")
    node_id = page.evaluate(JS_BUILD, ["does_not_exist.safetensors", False])
    page.wait_for_timeout(800)
    r["missing_file"] = page.evaluate(JS_STATE, node_id)
    r["missing_file_line"] = page.evaluate(JS_LOADER_LINE)
    # a server without the /paretoslider/info route (e.g. an older runtime): generic labels
    page.route("**/paretoslider/info**", lambda route: route.fulfill(status=404, body="404: Not Found"))
    node_id = page.evaluate(JS_BUILD, [FILES[3], False])
    page.wait_for_timeout(800)
    r["no_route"] = page.evaluate(JS_STATE, node_id)


def scenario_status_shrink(browser, report, vue: bool):
    """A long status (the Loader's file is missing) grows the Preference node; once a file is
    chosen the status is short and the node gives the room back: its height then is a fresh
    node's with that file."""
    r = report.setdefault("status_shrink_vue" if vue else "status_shrink", {})
    page = open_app(browser, URL, vue)
    height = """(id) => {
      const node = window.app.graph.getNodeById(id);
      const el = document.querySelector(`[data-node-id="${id}"]`);
      return { size: node.size[1], dom: el ? el.getBoundingClientRect().height / window.app.canvas.ds.scale : null,
               status: node.__paretoslider.root.querySelector(".ps-status").textContent };
    }"""
    node_id = page.evaluate(JS_BUILD, ["does_not_exist.safetensors", vue])
    wait_state(page, node_id, lambda st: "does_not_exist" in (st["status"] or ""))
    page.wait_for_timeout(800)
    r["long"] = page.evaluate(height, node_id)
    page.screenshot(path=str(Path(REPORT_SHOTS) / f"status_long_{'vue' if vue else 'classic'}.png"))
    loader = page.evaluate("(id) => window.app.graph.getNodeById(id).getInputNode(0).id", node_id)
    page.evaluate(JS_SET_WIDGET, [loader, "slider_name", FILES[2], False])
    wait_state(page, node_id, lambda st: "objective 1" not in st["labels"])
    page.wait_for_timeout(800)
    r["after"] = page.evaluate(height, node_id)
    # a new Preference node on the same Loader: the height the short status needs
    fresh = page.evaluate("""(loaderId) => {
      const app = window.app;
      const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
      const pref = LiteGraph.createNode("ParetoSliderPreference");
      pref.pos = [800, 80];
      app.graph.add(pref);
      app.graph.getNodeById(loaderId).connect(0, pref, 0);
      pref.setSize([340, pref.computeSize()[1]]);
      return pref.id;
    }""", loader)
    wait_state(page, fresh, lambda st: "objective 1" not in st["labels"])
    page.wait_for_timeout(800)
    r["fresh"] = page.evaluate(height, fresh)
    # a node added from the library, not yet connected (a long "connect ..." status), then connected
    new = page.evaluate("""() => {
      const app = window.app;
      const LiteGraph = window.LiteGraph ?? window.comfyAPI.litegraph?.LiteGraph;
      const pref = LiteGraph.createNode("ParetoSliderPreference");
      pref.pos = [800, 420];
      app.graph.add(pref);
      return pref.id;
    }""")
    wait_state(page, new, lambda st: "connect" in (st["status"] or "").lower())
    page.wait_for_timeout(800)
    r["new_unconnected"] = page.evaluate(height, new)
    page.evaluate("""([loaderId, id]) => {
      const g = window.app.graph;
      g.getNodeById(loaderId).connect(0, g.getNodeById(id), 0);
    }""", [loader, new])
    wait_state(page, new, lambda st: "objective 1" not in st["labels"])
    page.wait_for_timeout(800)
    r["new_connected"] = page.evaluate(height, new)
    page.screenshot(path=str(Path(REPORT_SHOTS) / f"status_after_{'vue' if vue else 'classic'}.png"))


def type_into_widget(page, node_id: int, name: str, text: str, vue: bool) -> None:
    """Type into an (empty) text widget as a user does: the Vue node's input, or a click on the
    canvas widget (which opens the frontend's prompt box), then Enter."""
    if vue:
        box = page.locator(f'[data-node-id="{node_id}"] input[type=text]').first
        box.click()
        box.fill(text)
    else:
        at = page.evaluate("""([id, name]) => {
          const app = window.app, n = app.graph.getNodeById(id), w = n.widgets.find((x) => x.name === name);
          const ds = app.canvas.ds, r = app.canvas.canvas.getBoundingClientRect();
          return [(n.pos[0] + n.size[0] / 2 + ds.offset[0]) * ds.scale + r.left,
                  (n.pos[1] + w.y + 10 + ds.offset[1]) * ds.scale + r.top];
        }""", [node_id, name])
        page.mouse.click(*at)
        page.wait_for_timeout(300)
        page.keyboard.type(text)
    page.keyboard.press("Enter")


LORAS = ["sd35_photoreal.safetensors", "sd35_watercolor.safetensors", "styles/ink_sketch.safetensors",
         "sd35_neon.safetensors"]


def scenario_loras(browser, report, shots: Path, vue: bool):
    """Labels from a ParetoSlider from LoRAs node: its stems, its names, live."""
    tag = "loras_vue" if vue else "loras"
    r = report.setdefault(tag, {})
    page = open_app(browser, URL, vue)
    ids = page.evaluate(JS_BUILD_LORAS, [LORAS[:2], "", "0.500, 0.500", False, False])
    src, pref = ids["src"], ids["pref"]
    r["src_widgets"] = ids["src_widgets"]
    r["stems"] = wait_labels(page, pref, "sd35_watercolor")
    # the user types the names into the LoRA node's text widget (Vue: its input; canvas: the prompt)
    type_into_widget(page, src, "names", "Photoreal, Watercolor", vue)
    r["renamed"] = wait_labels(page, pref, "Watercolor")
    r["typed_value"] = page.evaluate("""(id) => window.app.graph.getNodeById(id).widgets
      .find((w) => w.name === "names").value""", src)
    track = in_node(page, pref, "paretoslider-track")
    track.wait_for(state="visible", timeout=10000)
    drag(page, track, (0.5, 0.5), (0.7, 0.5))
    r["after_drag"] = page.evaluate(JS_STATE, pref)
    shoot(page, [src, pref], shots / f"lora_slider_widget{'_vue' if vue else ''}.png")
    # an empty entry keeps the file's stem
    page.evaluate(JS_SET_WIDGET, [src, "names", " , Aquarelle", False])
    r["partly_named"] = wait_labels(page, pref, "Aquarelle")
    # assigned by code (no callback): the fallback check relabels
    page.evaluate(JS_SET_WIDGET, [src, "names", "Photo, Paint", True])
    r["renamed_silently"] = wait_labels(page, pref, "Paint")
    # a third LoRA: the triangle; its label is the stem (no third name given)
    page.evaluate(JS_SET_WIDGET, [src, "lora_3", LORAS[2], False])
    r["three"] = wait_labels(page, pref, "ink_sketch")
    page.evaluate(JS_SET_WIDGET, [src, "lora_3", "None", False])
    r["back_to_two"] = wait_state(page, pref, lambda st: st["mode"] == "slider")
    # another LoRA in slot 2 and a Reroute in between
    page.evaluate(JS_SET_WIDGET, [src, "names", "Photoreal, Watercolor", False])
    r["via_reroute"] = page.evaluate(JS_REROUTE, [src, pref])
    r["after_reroute"] = wait_labels(page, pref, "Watercolor")
    page.evaluate(JS_SET_WIDGET, [src, "lora_2", LORAS[2], False])
    page.evaluate(JS_SET_WIDGET, [src, "names", "Photoreal, Ink", False])
    r["other_lora"] = wait_labels(page, pref, "Ink")
    page.evaluate(JS_SET_WIDGET, [src, "lora_2", LORAS[1], False])
    page.evaluate(JS_SET_WIDGET, [src, "names", "Photoreal, Watercolor", False])
    r["final"] = wait_labels(page, pref, "Watercolor")


def scenario_schedule(browser, report, shots: Path, vue: bool):
    """The schedule node: end ω dragged, the start ω shown, values saved and reloaded."""
    tag = "schedule_vue" if vue else "schedule"
    r = report.setdefault(tag, {})
    page = open_app(browser, URL, vue)
    ids = page.evaluate(JS_BUILD_LORAS, [LORAS[:2], "Photoreal, Watercolor", "0.800, 0.200", True, False])
    pref, sched = ids["pref"], ids["sched"]
    r["ids"] = ids
    r["initial"] = wait_state(page, sched, lambda st: "Watercolor" in st["labels"] and st["start_shown"])
    # drag the end marker toward Watercolor
    track = in_node(page, sched, "paretoslider-track")
    track.wait_for(state="visible", timeout=10000)
    drag(page, track, (0.5, 0.5), (0.85, 0.5))
    r["after_drag"] = page.evaluate(JS_STATE, sched)
    page.evaluate(JS_SET_WIDGET, [sched, "curve", "smoothstep", False])
    r["curved"] = wait_state(page, sched, lambda st: "curve: smoothstep" in st["axis"])
    # the start follows the Preference node live (its own drag)
    r["pref"] = page.evaluate(JS_STATE, pref)
    ptrack = in_node(page, pref, "paretoslider-track")
    drag(page, ptrack, (0.2, 0.5), (0.1, 0.5))
    pref_value = page.evaluate(JS_STATE, pref)["value"]
    r["pref_after_drag"] = pref_value
    r["start_followed"] = wait_state(page, sched, lambda st: st["start_left"] == "10%")
    if not vue:   # the two nodes side by side in one picture, clear of each other (badges too) and
        # of the window's tabs and Run bar
        page.evaluate("""([p, s]) => {
          const g = window.app.graph, pref = g.getNodeById(p), sched = g.getNodeById(s);
          sched.pos = [pref.pos[0] + pref.size[0] + 40, pref.pos[1]];
          const ds = window.app.canvas.ds;
          ds.offset = [100 / ds.scale - pref.pos[0], 150 / ds.scale - pref.pos[1]];
          window.app.canvas.setDirty(true, true);
        }""", [pref, sched])
    shoot(page, [pref, sched] if not vue else sched, shots / f"schedule_widget{'_vue' if vue else ''}.png")
    ser = page.evaluate(JS_SERIALIZE, sched)
    r["widgets_values"] = ser["widgets_values"]
    r["prompt_inputs"] = ser["prompt_inputs"]
    # keypoints (on σ) replace start / end / curve: saved too
    keys = "1: 0.9, 0.1\n0.6: 0.5, 0.5\n0.2: 0.1, 0.9"
    page.evaluate(JS_SET_WIDGET, [sched, "keypoints", keys, False])
    page.evaluate(JS_SET_WIDGET, [sched, "axis", "sigma", False])
    r["keyed"] = wait_state(page, sched, lambda st: "σ 1" in st["axis"])
    if not vue:
        shoot(page, sched, shots / "schedule_widget_keypoints.png")
    ser2 = page.evaluate(JS_SERIALIZE, sched)
    r["widgets_values_keyed"] = ser2["widgets_values"]
    r["prompt_inputs_keyed"] = ser2["prompt_inputs"]
    # reload the saved workflow into a fresh graph
    page.evaluate("() => window.app.graph.clear()")
    page.evaluate(JS_LOAD, ser2["workflow"])
    page.wait_for_timeout(400)
    r["after_reload"] = wait_state(page, sched, lambda st: "Watercolor" in st["labels"] and "σ 1" in st["axis"])
    r["reloaded_values"] = page.evaluate(JS_SERIALIZE, sched)["widgets_values"]
    # back to the start / end form: the start ring is back, at the Preference node's ω
    page.evaluate(JS_SET_WIDGET, [sched, "keypoints", "", False])
    r["unkeyed"] = wait_state(page, sched, lambda st: st["start_shown"])
    # malformed keypoints: the line is named
    page.evaluate(JS_SET_WIDGET, [sched, "keypoints", "0: 1, 0\nhalf: 1, 1", False])
    page.evaluate(JS_SET_WIDGET, [sched, "axis", "percent", False])
    r["bad_keys"] = wait_state(page, sched, lambda st: "line 2" in (st["status"] or ""))


def scenario_schedule_triangle(browser, report, shots: Path):
    r = report.setdefault("schedule_triangle", {})
    page = open_app(browser, URL, False)
    ids = page.evaluate(JS_BUILD_LORAS, [LORAS[:3], "Photoreal, Watercolor, Ink", "0.700, 0.200, 0.100", True, True])
    src, pref, sched = ids["src"], ids["pref"], ids["sched"]
    r["initial"] = wait_state(page, sched, lambda st: st["mode"] == "triangle" and st["start_shown"])
    pad = in_node(page, sched, "paretoslider-triangle")
    pad.wait_for(state="visible", timeout=10000)
    drag(page, pad, (0.5, 0.62), (0.72, 0.72))
    page.evaluate(JS_SET_WIDGET, [sched, "curve", "ease_in", False])
    r["after_drag"] = wait_state(page, sched, lambda st: "curve: ease_in" in st["axis"])
    shoot(page, sched, shots / "schedule_widget_triangle.png")
    # a fourth LoRA: bars, each with the start weight as a tick
    page.evaluate(JS_SET_WIDGET, [src, "lora_4", LORAS[3], False])
    page.evaluate(JS_SET_WIDGET, [src, "names", "Photoreal, Watercolor, Ink, Neon", False])
    page.evaluate(JS_SET_WIDGET, [pref, "preference", "0.1, 0.2, 0.3, 0.4", False])
    r["bars"] = wait_state(page, sched, lambda st: st["mode"] == "bars" and st["start_shown"]
                           and "Neon" in st["labels"])
    r["bars_ticks"] = page.evaluate("""(id) => [...window.app.graph.getNodeById(id).__paretoslider.root
      .querySelectorAll(".ps-ghost-tick")].map((e) => getComputedStyle(e).display === "none" ? null : e.style.left)""", sched)
    shoot(page, sched, shots / "schedule_widget_bars.png")


# What a user sees of an opened template: text cut by its box (our widgets' lines and, in the
# Vue renderer, every text in a node), a widget sticking out of its node, the zoom against the
# frontend's low-quality threshold (below it nodes are drawn as blank boxes), missing inputs.
JS_OPENED = """async () => {
  const app = window.app;
  const setting = (k) => app.extensionManager?.setting?.get?.(k);
  const cut = [];
  const seen = new Set();
  const check = (e, where) => {
    if (seen.has(e) || !e.isConnected) return;
    seen.add(e);
    const cs = getComputedStyle(e);
    if (cs.display === "none" || cs.visibility === "hidden" || !e.textContent.trim()) return;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    const clips = /hidden|clip/.test(cs.overflow + cs.overflowX + cs.overflowY) || cs.textOverflow === "ellipsis";
    if (clips && (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)) {
      cut.push({ where, text: e.textContent.trim().slice(0, 80), scroll: [e.scrollWidth, e.scrollHeight],
                 client: [e.clientWidth, e.clientHeight] });
    }
  };
  for (const e of document.querySelectorAll(".ps-status, .ps-rec, .ps-name, .ps-pct, .ps-legend2 > span")) check(e, "ours");
  // Vue nodes: titles, socket labels and every widget's text; the one exception is the value of
  // ComfyUI's own combo (a long model file name), which its dropdown shows in full
  for (const node of document.querySelectorAll("[data-node-id]")) {
    const n = app.graph.getNodeById(Number(node.dataset.nodeId));
    const comboValues = new Set((n?.widgets ?? []).filter((w) => w.type === "combo").map((w) => String(w.value)));
    for (const e of node.querySelectorAll("*")) {
      if (e.children.length || e.tagName === "TEXTAREA" || e.tagName === "INPUT") continue;
      if (comboValues.has(e.textContent.trim())) continue;
      check(e, "vue node " + node.dataset.nodeId);
    }
  }
  // our widgets inside their node (classic: the node's box on the canvas; Vue: the node element)
  const overflow = [];
  const ds = app.canvas.ds, cr = app.canvas.canvas.getBoundingClientRect();
  for (const n of app.graph.nodes) {
    const root = n.__paretoslider?.root ?? n.__paretoslider_recommended?.root;
    if (!root || !root.isConnected) continue;
    const r = root.getBoundingClientRect();
    if (!r.height) continue;
    const vueEl = document.querySelector(`[data-node-id="${n.id}"]`);
    const box = vueEl ? vueEl.getBoundingClientRect()
      : { left: (n.pos[0] + ds.offset[0]) * ds.scale + cr.left, top: (n.pos[1] + ds.offset[1]) * ds.scale + cr.top,
          right: (n.pos[0] + n.size[0] + ds.offset[0]) * ds.scale + cr.left,
          bottom: (n.pos[1] + n.size[1] + ds.offset[1]) * ds.scale + cr.top };
    const out = Math.max(box.left - r.left, box.top - r.top, r.right - box.right, r.bottom - box.bottom);
    if (out > 1.5) overflow.push({ node: n.type, px: Math.round(out) });
  }
  // missing inputs: a combo value the server does not list (a model placeholder is listed)
  const missing = [];
  for (const n of app.graph.nodes) {
    for (const w of n.widgets ?? []) {
      const values = w.options?.values;
      if (w.type === "combo" && Array.isArray(values) && values.length && !values.includes(w.value)) {
        missing.push(`${n.type}.${w.name} = ${w.value}`);
      }
    }
  }
  // every node's box on screen: Vue, its element (the source badge is inside, at the bottom);
  // classic, title + body from the canvas and the badges drawn above the title (drawBadges)
  const LG = window.LiteGraph ?? window.comfyAPI.litegraph.LiteGraph;
  const sx = (x) => (x + ds.offset[0]) * ds.scale + cr.left, sy = (y) => (y + ds.offset[1]) * ds.scale + cr.top;
  const rect = (l, t, r, b) => [l, t, r, b].map((v) => Math.round(v * 10) / 10);
  const boxes = app.graph.nodes.map((n) => {
    const vueEl = document.querySelector(`[data-node-id="${n.id}"]`);
    const out = { id: n.id, type: n.type, title: n.title };
    if (vueEl) {
      const r = vueEl.getBoundingClientRect();
      out.body = rect(r.left, r.top, r.right, r.bottom);
      return out;
    }
    const th = LG.NODE_TITLE_HEIGHT, gap = 2;
    out.body = rect(sx(n.pos[0]), sy(n.pos[1] - th), sx(n.pos[0] + n.size[0]), sy(n.pos[1] + n.size[1]));
    const badges = (n.badges ?? []).map((b) => (typeof b === "function" ? b() : b)).filter((b) => b?.visible);
    if (badges.length) {
      const ctx = app.canvas.ctx;
      const w = badges.reduce((acc, b) => acc + b.getWidth(ctx) + gap, 0);
      const h = Math.max(...badges.map((b) => b.height));
      const left = n.badgePosition === "top-left" ? n.pos[0] : n.pos[0] + n.size[0] - w;
      out.badge = rect(sx(left), sy(n.pos[1] - th - gap - h), sx(left + w), sy(n.pos[1] - th - gap));
    }
    return out;
  });
  // the part of the window where the graph is seen: right of the side bar, below the tabs and the
  // floating top bar (menu, Run), above the zoom buttons
  const edge = (sel, side, fallback) => {
    const e = document.querySelector(sel);
    const r = e?.getBoundingClientRect();
    return r && r.width && r.height ? r[side] : fallback;
  };
  const frame = [
    edge(".side-tool-bar-container", "right", cr.left),
    Math.max(edge(".workflow-tabs-container", "bottom", cr.top), edge(".actionbar-container", "bottom", cr.top)),
    cr.right,
    edge(".p-buttongroup:has([data-testid=zoom-controls-button])", "top", cr.bottom),
  ].map(Math.round);
  const threshold = setting("LiteGraph.Canvas.LowQualityRenderingZoomThreshold") ?? 0.6;
  return { cut, overflow, missing, scale: ds.scale, low_quality_threshold: threshold,
           low_quality: !!app.canvas.low_quality, boxes, frame, offset: [...ds.offset],
           viewport: [window.innerWidth, window.innerHeight] };
}"""


def scenario_templates(browser, report, shots: Path, names, vue: bool = False):
    """Every template as the template browser opens it, at 1600 × 900."""
    page = open_app(browser, URL, vue, viewport=(1600, 900), scale=1)
    out = report.setdefault("templates_vue" if vue else "templates", {})
    for name in names:
        try:
            out[name] = page.evaluate(JS_TEMPLATE, name)
            page.wait_for_timeout(1200)      # the Loader line, labels and Vue nodes settle
            out[name]["opened"] = page.evaluate(JS_OPENED)
        except PlaywrightError as err:  # keep going: report per template
            out[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        page.screenshot(path=str(shots / f"opened_{'vue' if vue else 'classic'}_{name}.png"))
        if vue:
            continue
        try:  # a thumbnail for the template browser: the graph as it opens (a fit-to-view of a large
            # graph would fall below the low-quality threshold: blank boxes), badges included
            page.evaluate("""() => {
              const app = window.app;
              app.canvas.deselectAll?.();
              app.canvas.show_info = false;     // no render stats in the picture
              app.canvas.setDirty(true, true);
            }""")
            page.wait_for_timeout(300)
            opened, m = out[name]["opened"], 12
            parts = [b[k] for b in opened["boxes"] for k in ("body", "badge") if k in b]
            left, top, right, bottom = opened["frame"]
            x0, y0 = max(left, min(p[0] for p in parts) - m), max(top, min(p[1] for p in parts) - m)
            x1, y1 = min(right, max(p[2] for p in parts) + m), min(bottom, max(p[3] for p in parts) + m)
            page.screenshot(path=str(shots / f"{name}.jpg"), type="jpeg", quality=82, scale="css",
                            clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})
            page.evaluate("() => { window.app.canvas.show_info = true; }")
        except PlaywrightError as err:
            out[name]["thumbnail_error"] = str(err)


def scenario_missing_models(browser, report, names):
    """ComfyUI's missing-models panel for a template whose files a new user lacks: each template's
    model files renamed to ones the server does not have (the widget value and its
    properties.models entry), the panel opened from the error overlay; its group headings."""
    page = open_app(browser, URL, False, viewport=(1600, 900), scale=1)
    page.evaluate("""async () => {
      await window.app.extensionManager.setting.set('Comfy.Workflow.ShowMissingModelsWarning', true);
    }""")
    out = report.setdefault("missing_models", {})
    for name in names:
        wf = json.loads(page.evaluate("""async (name) => {
          const api = window.comfyAPI.api.api;
          const index = await (await api.fetchApi("/workflow_templates")).json();
          const pack = Object.keys(index).find((k) => index[k].includes(name));
          return await (await api.fetchApi(`/workflow_templates/${pack}/${name}.json`)).text();
        }""", name))
        renamed = []
        for n in wf["nodes"]:
            for m in n.get("properties", {}).get("models", []):
                renamed.append("missing_" + m["name"])
                n["widgets_values"] = [renamed[-1] if v == m["name"] else v for v in n["widgets_values"]]
                m["name"] = renamed[-1]
        page.evaluate("async (wf) => { await window.app.loadGraphData(wf, true, true, 'missing models'); }", wf)
        overlay = page.locator("[data-testid=error-overlay]")
        overlay.wait_for(state="visible", timeout=10000)
        overlay.get_by_role("button", name="Show missing models").click()
        page.get_by_text("Missing Models (").first.wait_for(state="visible", timeout=10000)
        for file in renamed:
            page.get_by_text(file).first.wait_for(state="visible", timeout=10000)
        page.wait_for_timeout(500)
        out[name] = page.evaluate("""() => {
          const lines = document.body.innerText.split("\\n").map((l) => l.trim()).filter(Boolean);
          const i = lines.findIndex((l) => l.startsWith("Missing Models ("));
          return lines.slice(i, i + 12);
        }""")
        page.screenshot(path=str(Path(REPORT_SHOTS) / f"missing_models_{name}.png"))


def main(argv):
    global URL
    URL = argv[1].rstrip("/")
    global REPORT_SHOTS
    report_path, shot_dir = Path(argv[2]), Path(argv[3])
    REPORT_SHOTS = shot_dir
    templates = argv[4:]
    shot_dir.mkdir(parents=True, exist_ok=True)
    report = REPORT
    report.update({"console_errors": [], "page_errors": [], "errors": []})
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            steps = {
                "loras": lambda: scenario_loras(browser, report, shot_dir, False),
                "loras_vue": lambda: scenario_loras(browser, report, shot_dir, True),
                "schedule": lambda: scenario_schedule(browser, report, shot_dir, False),
                "schedule_vue": lambda: scenario_schedule(browser, report, shot_dir, True),
                "schedule_triangle": lambda: scenario_schedule_triangle(browser, report, shot_dir),
                "classic": lambda: scenario_slider(browser, report, shot_dir, False),
                "vue": lambda: scenario_slider(browser, report, shot_dir, True),
                "triangle": lambda: scenario_triangle(browser, report, shot_dir, False),
                "triangle_vue": lambda: scenario_triangle(browser, report, shot_dir, True),
                "bars": lambda: scenario_bars(browser, report, shot_dir),
                "no_loader": lambda: scenario_no_loader(browser, report),
                "status_shrink": lambda: scenario_status_shrink(browser, report, False),
                "status_shrink_vue": lambda: scenario_status_shrink(browser, report, True),
                "templates": lambda: scenario_templates(browser, report, shot_dir, templates),
                "templates_vue": lambda: scenario_templates(browser, report, shot_dir, templates, True),
                "missing_models": lambda: scenario_missing_models(browser, report, templates),
            }
            # PARETOSLIDER_SCENARIOS=loras,schedule runs only those (while working on one)
            only = [x for x in os.environ.get("PARETOSLIDER_SCENARIOS", "").split(",") if x]
            for name, step in steps.items():
                if only and name not in only:
                    continue
                try:
                    step()
                except Exception:  # noqa: BLE001 - any failure is reported to pytest, then the next scenario runs
                    report["errors"].append(traceback.format_exc())
                for ctx in list(browser.contexts):
                    ctx.close()
        finally:
            report_path.write_text(json.dumps(report, indent=1, default=str))
            browser.close()


if __name__ == "__main__":
    main(sys.argv)
