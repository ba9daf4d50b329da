// Unit tests for the LoRA-slider labels (web/preference/loras.js), the schedule preview's
// curves and keypoints (web/preference/schedule.js) and the graph walks to a LoRA node and a
// schedule's start ω (web/preference/graph.js). node --test; no dependencies. Run by test_simplex_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

const before = new Set(Object.keys(globalThis));
const loras = await import("../../web/preference/loras.js");
const sched = await import("../../web/preference/schedule.js");
const graph = await import("../../web/preference/graph.js");
await import("../../web/preference/strip.js"); // imports controls.js and view.js: exports only
await import("../../web/preference/schedule_controller.js").catch((err) => {
  // it imports the frontend's app.js through controller.js: only the missing-module error is expected here
  assert.match(String(err), /scripts\/app\.js|Cannot find module/);
});

const close = (a, b, eps = 1e-9) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < eps);

test("importing the new helpers has no side effects", () => {
  assert.deepEqual(Object.keys(globalThis).filter((k) => !before.has(k)), []);
});

const loraNode = (values) => Object.entries(values).map(([name, value]) => ({ name, value }));

test("LoRA objectives: the names given, else the stems of the chosen LoRAs, in slot order", () => {
  const two = loras.loraObjectives(loraNode({
    method: "blend", lora_1: "styles/Ink Wash.v2.safetensors", lora_2: "photo\\real.safetensors",
    lora_3: "None", names: "", strength: 1 }));
  assert.deepEqual(two.loras, ["styles/Ink Wash.v2.safetensors", "photo\\real.safetensors"]);
  assert.deepEqual(two.objectives.map((o) => o.label), ["Ink Wash.v2", "real"]);
  assert.equal(two.extraNames, 0);
  // names: an empty or missing entry falls back to the stem; a LoRA in a later slot counts too
  const three = loras.loraObjectives(loraNode({
    lora_1: "a.safetensors", lora_2: "b.safetensors", lora_3: "None", lora_4: "c.safetensors",
    names: " Sharp , ,", lora_5: "None" }));
  assert.deepEqual(three.objectives.map((o) => o.label), ["Sharp", "b", "c"]);
  assert.deepEqual(three.objectives[0], { name: "Sharp", label: "Sharp" });
  const extra = loras.loraObjectives(loraNode({ lora_1: "a.pt", lora_2: "b.pt", names: "x, y, z, w" }));
  assert.deepEqual(extra.objectives.map((o) => o.label), ["x", "y"]);
  assert.equal(extra.extraNames, 2);
  assert.equal(loras.loraObjectives(loraNode({ lora_1: "a.pt", lora_2: "b.pt", names: "x, y, " })).extraNames, 0,
    "a trailing comma is no extra name (as the node reads it)");
  assert.deepEqual(loras.loraObjectives(loraNode({ lora_1: "a.pt", lora_2: "b/a.pt", names: "" })).duplicates, ["a"]);
  assert.deepEqual(loras.loraObjectives(loraNode({ lora_1: "a.pt", lora_2: "" })).loras, ["a.pt"]);
  assert.equal(loras.loraStem("no_extension"), "no_extension");
  assert.equal(loras.loraStem(".hidden"), ".hidden");
  assert.deepEqual(loras.splitNames("  "), []);
  assert.ok(loras.isLabelWidget("lora_7") && loras.isLabelWidget("names") && !loras.isLabelWidget("strength"));
});

function fakeNode(type, { inputs = [], widgets = [] } = {}) {
  return {
    type, comfyClass: type, widgets,
    inputs: inputs.map(([name, src, widget]) => ({ name, src, link: src ? 1 : null, ...(widget ? { widget: { name: widget } } : {}) })),
    findInputSlot(name) { return this.inputs.findIndex((i) => i.name === name); },
    getInputNode(i) { return this.inputs[i]?.src ?? null; },
  };
}

test("a slider from a LoRA node is found through Reroutes, and its key follows the names", () => {
  const node = fakeNode("ParetoSliderFromLoras", { widgets: loraNode({ method: "msdda", lora_1: "a.safetensors",
    lora_2: "b.safetensors", lora_3: "c.safetensors", names: "" }) });
  const pref = fakeNode("ParetoSliderPreference", { inputs: [["slider", fakeNode("Reroute", { inputs: [["", node]] })]] });
  const up = graph.findSliderSource(pref);
  assert.equal(up.state, "ok");
  assert.equal(up.kind, "loras");
  assert.equal(up.method, "msdda");
  assert.deepEqual(up.objectives.map((o) => o.label), ["a", "b", "c"]);
  const key = graph.upstreamKey(up);
  node.widgets.find((w) => w.name === "names").value = "Alpha";
  assert.notEqual(graph.upstreamKey(graph.findSliderSource(pref)), key, "renaming changes the key");
  node.widgets.find((w) => w.name === "names").value = "";
  assert.equal(graph.upstreamKey(graph.findSliderSource(pref)), key);
  node.widgets.find((w) => w.name === "lora_3").value = "None";
  assert.notEqual(graph.upstreamKey(graph.findSliderSource(pref)), key, "removing a LoRA changes the key");
});

test("a schedule's start ω comes from a Preference node unless that node's value is linked", () => {
  const pref = fakeNode("ParetoSliderPreference", { widgets: [{ name: "preference", value: "0.2, 0.8" }],
    inputs: [["slider", null], ["preference", null, "preference"]] });
  const schedule = (src) => fakeNode("ParetoSliderSchedule", { inputs: [["slider", null], ["start", src]] });
  assert.deepEqual(graph.findStartSource(schedule(pref)), { state: "preference", text: "0.2, 0.8" });
  assert.deepEqual(graph.findStartSource(schedule(fakeNode("Reroute", { inputs: [["", pref]] }))),
    { state: "preference", text: "0.2, 0.8" });
  assert.deepEqual(graph.findStartSource(schedule(fakeNode("ParetoSliderSweep"))), { state: "sweep" });
  assert.deepEqual(graph.findStartSource(schedule(null)), { state: "none" });
  pref.inputs[1].src = fakeNode("PrimitiveString");
  pref.inputs[1].link = 4;
  assert.deepEqual(graph.findStartSource(schedule(pref)), { state: "other" });
});

test("curves run from start (t = 0) to end (t = 1), each with its shape", () => {
  for (const [name, f] of Object.entries(sched.CURVES)) {
    assert.equal(f(0), 0, name);
    assert.equal(f(1), 1, name);
  }
  assert.equal(sched.curveAt("linear", 0.25), 0.25);
  assert.equal(sched.curveAt("smoothstep", 0.5), 0.5);
  assert.ok(sched.curveAt("ease_in", 0.5) < 0.5 && sched.curveAt("ease_out", 0.5) > 0.5);
  assert.equal(sched.curveAt("step", 0.49), 0);
  assert.equal(sched.curveAt("linear", 7), 1, "progress is clamped");
  assert.equal(sched.curveAt("unknown", 0.3), 0.3, "an unknown curve previews as linear");
});

test("keypoints: parsed per line, sorted, normalised; bad lines are named", () => {
  const { points, errors } = sched.parseKeypoints("0.8: 1, 3\n\n0: 1, 0\n  0.5 : 0.5; 0.5  ", 2);
  assert.deepEqual(errors, []);
  assert.deepEqual(points.map((p) => p.at), [0, 0.5, 0.8]);
  assert.deepEqual(points[2].omega, [0.25, 0.75]);
  const bad = sched.parseKeypoints("0: 1, 0\nhalf: 1, 1\n1: 1, 2, 3\n0.5 0.5, 0.5\n0.7: -1, 2\n1.5: 1, 1\n0: 0, 1", 2);
  assert.equal(bad.points.length, 1);
  assert.deepEqual(bad.errors, ['line 2: "half" is not a number', "line 3: need 2 weights, got 3",
    "line 4 has no ':'; write e.g. 0.5: 0.3, 0.7", "line 5: negative or non-numeric weight set to 0",
    "line 6: percent position 1.5 is outside 0..1", "line 7: position 0 is given twice"]);
  assert.deepEqual(sched.parseKeypoints("", 3), { points: [], errors: [] });
  const sigma = sched.parseKeypoints("# σ keypoints\n14.6: 1, 0  # noisy: the first\n-1: 0, 1", 2, "sigma");
  assert.deepEqual(sigma.points.map((p) => p.at), [14.6]);
  assert.deepEqual(sigma.errors, ["line 3: σ position -1 is negative"]);
});

test("keypoints are linear between them and constant outside", () => {
  const { points } = sched.parseKeypoints("0.2: 1, 0\n0.6: 0, 1", 2);
  assert.deepEqual(sched.keypointsAt(points, 0), [1, 0]);
  assert.ok(close(sched.keypointsAt(points, 0.4), [0.5, 0.5]));
  assert.deepEqual(sched.keypointsAt(points, 0.9), [0, 1]);
  assert.equal(sched.keypointsAt([], 0.5), null);
});

test("the preview samples the schedule across its range (σ falls: high σ first)", () => {
  const s = sched.sampleSchedule({ start: [1, 0], end: [0, 1], curve: "ease_in", points: null, axis: "percent" }, 4);
  assert.deepEqual(s.map((p) => p.x), [0, 0.25, 0.5, 0.75, 1]);
  assert.ok(close(s[2].omega, [0.75, 0.25]));
  const step = sched.sampleSchedule({ start: [1, 0], end: [0, 1], curve: "step", points: null }, 4);
  assert.ok(step.some((p) => p.omega[1] === 0 && p.x > 0.49), "the jump is drawn sharp");
  const { points } = sched.parseKeypoints("0.9: 1, 0\n0.35: 0, 1", 2, "sigma");
  assert.deepEqual(sched.previewRange("sigma", points), [1, 0]);
  assert.deepEqual(sched.previewRange("sigma", sched.parseKeypoints("14: 1, 0\n2: 0, 1", 2, "sigma").points), [14, 0]);
  assert.deepEqual(sched.previewRange("percent", points), [0, 1]);
  const sig = sched.sampleSchedule({ points, axis: "sigma" }, 4);
  assert.equal(sig[0].x, 1);
  assert.equal(sig.at(-1).x, 0);
  assert.ok(sig.some((p) => p.x === 0.35), "each keypoint is a sample");
  assert.deepEqual(sig[0].omega, [1, 0]);
  assert.deepEqual(sig.at(-1).omega, [0, 1]);
});
