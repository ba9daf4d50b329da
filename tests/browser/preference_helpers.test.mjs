// Unit tests for the Preference widget's helper modules that need neither a DOM nor ComfyUI
// (node --test; no dependencies). Run by test_simplex_js.py. ComfyUI imports every .js file
// under web/ on its own, so importing a helper must do nothing but define exports.
import assert from "node:assert/strict";
import { test } from "node:test";

const before = new Set(Object.keys(globalThis));
const chain = await import("../../web/preference/chain.js");
const graph = await import("../../web/preference/graph.js");
const controls = await import("../../web/preference/controls.js"); // imports view.js and simplex.js
const view = await import("../../web/preference/view.js");
const recommended = await import("../../web/preference/recommended.js"); // imports view.js

test("importing the helpers has no side effects (no globals, no DOM access)", () => {
  assert.deepEqual(Object.keys(globalThis).filter((k) => !before.has(k)), []);
  assert.equal(typeof controls.createControl, "function");
  assert.equal(typeof view.PreferenceView, "function");
  assert.equal(typeof view.injectStyles, "function");
  assert.equal(typeof recommended.RecommendedLine, "function");
});

test("chainCallback keeps the original's this, arguments and result, then runs the addition", () => {
  const calls = [];
  const obj = { tag: "node", cb(a, b) { calls.push(["orig", this.tag, a, b]); return 42; } };
  chain.chainCallback(obj, "cb", function (a, b) { calls.push(["after", this.tag, a, b]); });
  chain.chainCallback(obj, "cb", () => calls.push(["after2"]));
  assert.equal(obj.cb(1, 2), 42);
  assert.deepEqual(calls, [["orig", "node", 1, 2], ["after", "node", 1, 2], ["after2"]]);
  const bare = {};
  chain.chainCallback(bare, "onRemoved", () => calls.push(["only"]));
  assert.equal(bare.onRemoved(), undefined);
  assert.deepEqual(calls.at(-1), ["only"]);
});

/** A minimal LiteGraph-like node: inputs[i].src is the node linked into input i. */
function fakeNode(type, { inputs = [], widgets = [] } = {}) {
  return {
    type, comfyClass: type, widgets,
    inputs: inputs.map(([name, src]) => ({ name, src, link: src ? 1 : null })),
    findInputSlot(name) { return this.inputs.findIndex((i) => i.name === name); },
    getInputNode(i) { return this.inputs[i]?.src ?? null; },
  };
}

test("the upstream walk finds the Loader's file, through Reroute nodes", () => {
  const loader = fakeNode("ParetoSliderLoader", { widgets: [{ name: "slider_name", value: "a.safetensors" }] });
  const pref = (src) => fakeNode("ParetoSliderPreference", { inputs: [["slider", src]] });
  const file = { state: "ok", kind: "file", name: "a.safetensors" };
  assert.deepEqual(graph.findSliderSource(pref(loader)), file);
  const rr = fakeNode("Reroute", { inputs: [["", fakeNode("Reroute", { inputs: [["", loader]] })]] });
  assert.deepEqual(graph.findSliderSource(pref(rr)), file);
  assert.deepEqual(graph.findSliderSource(pref(null)), { state: "none" });
  assert.deepEqual(graph.findSliderSource(pref(fakeNode("SomethingElse"))), { state: "other" });
  const dangling = fakeNode("Reroute", { inputs: [["", null]] });
  assert.deepEqual(graph.findSliderSource(pref(dangling)), { state: "none" });
  const empty = fakeNode("ParetoSliderLoader", { widgets: [{ name: "slider_name", value: "" }] });
  assert.deepEqual(graph.findSliderSource(pref(empty)), { state: "ok", kind: "file", name: "" });
  assert.notEqual(graph.upstreamKey({ state: "ok", kind: "file", name: "a" }),
    graph.upstreamKey({ state: "ok", kind: "file", name: "b" }));
});

test("a linked preference input is detected", () => {
  const node = { inputs: [{ name: "slider", link: 3 }, { name: "preference", widget: { name: "preference" }, link: null }] };
  assert.equal(graph.isWidgetLinked(node, "preference"), false);
  node.inputs[1].link = 7;
  assert.equal(graph.isWidgetLinked(node, "preference"), true);
});

test("each K gets its control's height range", () => {
  assert.equal(controls.minHeight(2), 96);
  assert.equal(controls.minHeight(3), 250);
  assert.equal(controls.maxHeight(3), 480);
  assert.equal(controls.minHeight(5), 140);
  assert.equal(controls.maxHeight(5), 140);
});

test("the Loader's line is the server's recommended-settings text, or what is wrong with it", () => {
  const text = "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0), guidance 2.5";
  const info = (rec) => ({ objectives: [{ name: "a" }, { name: "b" }], recommended: rec });
  assert.equal(recommended.recommendedText(info({ steps: 10, cfg: 1, width: 512, height: 512, text })), text);
  assert.equal(recommended.recommendedText(info({ error: "x.safetensors: sample_steps = -3" })),
    "sampling settings unusable: x.safetensors: sample_steps = -3");
  assert.equal(recommended.recommendedText(info(null)), "", "an older server sends no settings");
  assert.equal(recommended.recommendedText(info({ text: 42 })), "");
  assert.equal(recommended.recommendedText({ error: "file not found" }), "");
  assert.equal(recommended.recommendedText(undefined), "");
  assert.equal(recommended.RECOMMENDED_WIDGET, "recommended");
});
