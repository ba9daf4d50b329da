// ParetoSlider Preference widget: a view over the node's `preference` STRING widget.
//
// The Python node owns the value (a STRING such as "0.300, 0.700"), so workflows and API
// prompts work without this file. Here we hide that text box and draw, in one DOM widget:
//   2 objectives → a slider between the two named ends;
//   3 objectives → a triangle (simplex) pad with labelled corners;
//   more         → one bar per objective, renormalised onto the simplex.
// Labels and the number of objectives K follow the upstream slider source: the file chosen in a
// "ParetoSlider Loader" (GET /paretoslider/info?name=<file>), or the LoRAs and names of a
// "ParetoSlider from LoRAs" node (read from its widgets). The Loader shows under its file
// choice how that file was trained (its steps / cfg / width / height outputs). The
// "ParetoSlider Preference Schedule" node gets the same control over its `end` STRING widget,
// with the start ω (from the Preference node linked into `start`) as a read-only dashed ring
// and a plot of the weights over the steps. A DOM widget made with node.addDOMWidget renders
// in both the classic canvas and the Vue "Nodes 2.0" renderer.
//
// This file is the extension: it registers the hooks. The rest lives in preference/:
//   controller.js  one node's widget: STRING value ⟷ view, labels of the upstream slider source
//   schedule_controller.js  the schedule node's widget (extends it: start ring, path, preview)
//   view.js        styles, DOM helpers, the frame (ω field, status line)
//   controls.js    slider / triangle / bars, one interface: {mode, elements, update(ω), mark(…)}
//   strip.js       the schedule's preview: legend and weights-over-steps plot
//   schedule.js    the schedule's curves and keypoints (pure; for the preview)
//   loras.js       a LoRA slider node's objective names (pure)
//   graph.js       node names, the upstream walks to the slider source and the start ω
//   info.js        GET /paretoslider/info with a cache
//   recommended.js the Loader's line: the file's recommended sampling settings
//   chain.js       chainCallback: add a function to a node's or widget's callback
// ComfyUI imports every .js file under web/ (simplex.js and preference/* too); those only
// export, so loading them on their own does nothing.
import { app } from "../../scripts/app.js";
import { chainCallback } from "./preference/chain.js";
import { PreferenceController } from "./preference/controller.js";
import { LOADER_NODE, LOADER_WIDGET, PREFERENCE_NODE, PREFERENCE_WIDGET, nodeClass } from "./preference/graph.js";
import { fetchInfo } from "./preference/info.js";
import { LORAS_NODE, isLabelWidget } from "./preference/loras.js";
import { END_WIDGET, SCHEDULE_NODE, SCHEDULE_WIDGETS } from "./preference/schedule.js";
import { ScheduleController } from "./preference/schedule_controller.js";
import { MAKE_PROPERTY, RECOMMENDED_WIDGET, RecommendedLine, isMissing, missingText, recommendedText }
  from "./preference/recommended.js";
import { injectStyles } from "./preference/view.js";

const PAD_WIDGET = "preference_pad";
// Fallback check. Graph events cover links on the Preference, Schedule, Loader and LoRA nodes,
// the Loader's file choice and the LoRA node's LoRAs and names (their widgets' callbacks, called
// by both renderers), loading a workflow and the STRING widget's callback. Nothing fires when code assigns widget.value directly (another
// extension, a script), when a link changes between Reroute nodes (they are frontend-only
// nodes and get no nodeCreated hook), or when a failed info read is due for a retry, so
// a slow timer catches those. It runs only while a Preference node exists.
const FALLBACK_MS = 2000;

const controllers = new Set();
let fallbackTimer = null;

function refreshAll() {
  for (const c of controllers) {
    try {
      c.refresh();
    } catch (err) {
      console.warn("[ParetoSlider] preference widget update failed", err);
    }
  }
}

function refreshAllSoon() {
  for (const c of controllers) c.refreshSoon();
}

// A Preference node's ω moved (live, while dragging too): schedules show it as their start.
function refreshSchedulesSoon() {
  for (const c of controllers) if (c instanceof ScheduleController) c.refreshSoon();
}

function track(c) {
  controllers.add(c);
  fallbackTimer ??= setInterval(refreshAll, FALLBACK_MS);
}

function untrack(c) {
  c.dispose();
  controllers.delete(c);
  if (!controllers.size && fallbackTimer !== null) {
    clearInterval(fallbackTimer);
    fallbackTimer = null;
  }
}

/** The pad over the node's STRING widget `valueName` (hidden, still the value that is saved and
 *  sent): a PreferenceController for a Preference node, a ScheduleController for a schedule. */
function setupPadNode(node, valueName, Controller) {
  const stringWidget = node.widgets?.find((w) => w.name === valueName);
  if (!stringWidget || node.widgets.some((w) => w.name === PAD_WIDGET)) return;
  injectStyles();
  const pref = new Controller(node, stringWidget);
  // the text box stays the source of truth but is drawn by the pad: hide it in both renderers
  stringWidget.hidden = true;                       // classic canvas
  stringWidget.options = stringWidget.options ?? {};
  stringWidget.options.hidden = true;               // Vue "Nodes 2.0"
  const widget = node.addDOMWidget(PAD_WIDGET, "paretoslider_preference", pref.root, {
    serialize: false,        // not in the API prompt: the STRING widget carries the value
    hideOnZoom: true,
    getValue: () => pref.readString(),
    setValue: (v) => {
      pref.writeString(String(v ?? ""), true);
      pref.sync(true);
    },
    // the frontend draws a DOM widget inside a margin (10 px above and below by default)
    getMinHeight: () => pref.minHeight() + 2 * (widget.margin ?? 10),
    getMaxHeight: () => pref.maxHeight() + 2 * (widget.margin ?? 10),
  });
  widget.serialize = false;  // not in widgets_values: saved workflows keep their old layout
  placeAfter(node, widget, stringWidget);
  node.__paretoslider = pref;
  if (Controller === PreferenceController) pref.onValue = refreshSchedulesSoon;
  track(pref);
  pref.sync(true);
  pref.resize();
  pref.sizedByUs();   // a saved workflow's size, set by configure afterwards, is the user's

  // the value was set with its callback (a linked primitive, the properties panel, …)
  chainCallback(stringWidget, "callback", () => {
    if (!pref.dragging) pref.sync(false);
  });
  // a saved or pasted node: widgets_values are in; links to the slider source follow (refreshSoon)
  chainCallback(node, "onConfigure", () => {
    pref.upstreamKey = undefined;
    pref.sync(true);
    pref.refreshSoon();
  });
  // the `slider` input (→ labels, K), `start` (→ the start ring) or the value's input (→ dimmed)
  chainCallback(node, "onConnectionsChange", () => pref.refreshSoon());
  chainCallback(node, "onAdded", () => pref.refreshSoon());
  chainCallback(node, "onRemoved", () => untrack(pref));
  pref.refreshSoon();
  return pref;
}

/** Draw the pad where its STRING widget was (the schedule's other widgets follow it). The
 *  frontend saves widgets_values by widget index, leaving a hole for a widget that is not
 *  saved, and loads them in order skipping such widgets: a pad above saved widgets would shift
 *  their values on load, so the node drops the hole when it is saved. */
function placeAfter(node, widget, anchor) {
  const list = node.widgets;
  const at = list.indexOf(anchor);
  if (at < 0 || list.indexOf(widget) === at + 1) return;
  list.splice(list.indexOf(widget), 1);
  list.splice(at + 1, 0, widget);
  chainCallback(node, "onSerialize", (o) => {
    if (Array.isArray(o?.widgets_values)) o.widgets_values = o.widgets_values.filter(() => true);
  });
}

function setupPreferenceNode(node) {
  setupPadNode(node, PREFERENCE_WIDGET, PreferenceController);
}

function setupScheduleNode(node) {
  const pref = setupPadNode(node, END_WIDGET, ScheduleController);
  if (!pref) return;
  // curve, keypoints, axis: the preview follows them (the text box's callback fires on each edit)
  for (const w of node.widgets) {
    if (SCHEDULE_WIDGETS.includes(w.name) && w.name !== END_WIDGET) chainCallback(w, "callback", () => pref.refreshSoon());
  }
}

/** The LoRA slider node: its LoRA choices and names are the labels downstream. */
function setupLorasNode(node) {
  for (const w of node.widgets ?? []) {
    if (isLabelWidget(w.name) || w.name === "method") chainCallback(w, "callback", refreshAllSoon);
  }
  chainCallback(node, "onConnectionsChange", refreshAllSoon);
  chainCallback(node, "onRemoved", refreshAllSoon);
}

/** The Loader's line under its file choice: how the file was trained, i.e. the settings its
 *  steps / cfg / width / height outputs carry. From /paretoslider/info when a file is chosen,
 *  and from the node's UI text once it ran (the same text, made by nodes/recommended.py). */
function setupRecommendedLine(node, combo) {
  if (node.widgets.some((w) => w.name === RECOMMENDED_WIDGET)) return;
  injectStyles();
  const line = new RecommendedLine();
  // the frontend draws a DOM widget inside a margin (10 px above and below by default): reserve
  // the text's lines at the node's width plus those margins, so no clause is cut
  const height = () => line.height((node.size?.[0] ?? 340) - 20) + 2 * (widget.margin ?? 10);
  const widget = node.addDOMWidget(RECOMMENDED_WIDGET, "paretoslider_recommended", line.root, {
    serialize: false,        // shown only: not in the API prompt
    hideOnZoom: true,
    getValue: () => line.text,
    setValue: () => {},
    getMinHeight: height,
    getMaxHeight: height,
  });
  widget.serialize = false;  // not in widgets_values
  node.__paretoslider_recommended = line;
  let asked = null;
  const fit = () => {  // grow to show the line (a saved node keeps its size otherwise)
    const min = node.computeSize?.();
    if (min && node.size && node.size[1] < min[1]) node.setSize([Math.max(node.size[0], min[0]), min[1]]);
    node.setDirtyCanvas?.(true, true);
  };
  const show = (text, warn) => {
    line.set(text, warn);
    fit();
  };
  const update = async () => {
    const name = combo.value ? String(combo.value) : "";
    asked = name;
    // an empty folder: the combo has no value; say which folder to fill (not "undefined")
    if (!name) {
      if (combo.value === undefined || combo.value === null) combo.value = "";
      return show(missingText("", null, node.properties?.[MAKE_PROPERTY]), true);
    }
    const info = await fetchInfo(name);
    if (asked !== name) return;
    if (info.error && isMissing(info.error)) show(missingText(name, info.error, node.properties?.[MAKE_PROPERTY]), true);
    else if (info.error) show(info.error, true);
    else show(recommendedText(info), !!info.recommended?.error);
  };
  chainCallback(combo, "callback", () => update());
  chainCallback(node, "onConfigure", () => setTimeout(() => {  // a saved node: its file and size are in
    fit();
    update();
  }, 0));
  chainCallback(node, "onExecuted", (output) => {
    const text = output?.text?.[0];
    if (typeof text === "string" && text) show(text, false);
  });
  chainCallback(node, "onResize", () => fit());
  update();
  fit();
}

function setupLoaderNode(node) {
  // a new file chosen: both renderers (and a linked primitive) call the combo's callback
  const combo = node.widgets?.find((x) => x.name === LOADER_WIDGET);
  if (combo) chainCallback(combo, "callback", refreshAllSoon);
  // the Loader's output links changed (covers a Loader behind Reroute nodes, too)
  chainCallback(node, "onConnectionsChange", refreshAllSoon);
  if (combo) setupRecommendedLine(node, combo);
}

app.registerExtension({
  name: "ParetoSlider.PreferenceWidget",
  nodeCreated(node) {
    const cls = nodeClass(node);
    if (cls === PREFERENCE_NODE) setupPreferenceNode(node);
    else if (cls === SCHEDULE_NODE) setupScheduleNode(node);
    else if (cls === LORAS_NODE) setupLorasNode(node);
    else if (cls === LOADER_NODE) setupLoaderNode(node);
  },
  // a workflow was loaded (open, undo/redo, template): every node and link now exists
  afterConfigureGraph() {
    refreshAllSoon();
  },
});
