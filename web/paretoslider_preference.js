// ParetoSlider Preference widget: a view over the node's `preference` STRING widget.
//
// The Python node owns the value (a STRING such as "0.300, 0.700"), so workflows and API
// prompts work without this file. Here we hide that text box and draw, in one DOM widget:
//   2 objectives → a slider between the two named ends;
//   3 objectives → a triangle (simplex) pad with labelled corners;
//   more         → one bar per objective, renormalised onto the simplex.
// Labels and the number of objectives K follow the file chosen in the upstream
// "ParetoSlider Loader" (GET /paretoslider/info?name=<file>); the Loader shows under its file
// choice how that file was trained (its steps / cfg / width / height outputs). A DOM widget made with
// node.addDOMWidget renders in both the classic canvas and the Vue "Nodes 2.0" renderer.
//
// This file is the extension: it registers the hooks. The rest lives in preference/:
//   controller.js  one node's widget: STRING value ⟷ view, labels of the upstream file
//   view.js        styles, DOM helpers, the frame (ω field, status line)
//   controls.js    slider / triangle / bars, one interface: {mode, elements, update(ω)}
//   graph.js       node names, the upstream walk to the Loader
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
import { RECOMMENDED_WIDGET, RecommendedLine, recommendedText } from "./preference/recommended.js";
import { injectStyles } from "./preference/view.js";

const PAD_WIDGET = "preference_pad";
// Fallback check. Graph events cover links on the Preference and Loader nodes, the Loader's
// file choice (its combo's callback, called by both renderers), loading a workflow and the
// STRING widget's callback. Nothing fires when code assigns widget.value directly (another
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

function setupPreferenceNode(node) {
  const stringWidget = node.widgets?.find((w) => w.name === PREFERENCE_WIDGET);
  if (!stringWidget || node.widgets.some((w) => w.name === PAD_WIDGET)) return;
  injectStyles();
  const pref = new PreferenceController(node, stringWidget);
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
    getMinHeight: () => pref.minHeight(),
    getMaxHeight: () => pref.maxHeight(),
  });
  widget.serialize = false;  // not in widgets_values: saved workflows keep their old layout
  node.__paretoslider = pref;
  track(pref);
  pref.sync(true);
  pref.resize();

  // the value was set with its callback (a linked primitive, the properties panel, …)
  chainCallback(stringWidget, "callback", () => {
    if (!pref.dragging) pref.sync(false);
  });
  // a saved or pasted node: widgets_values are in; links to the Loader follow (refreshSoon)
  chainCallback(node, "onConfigure", () => {
    pref.upstreamKey = undefined;
    pref.sync(true);
    pref.refreshSoon();
  });
  // the `slider` input (→ labels, K) or the `preference` input (→ dimmed) was (dis)connected
  chainCallback(node, "onConnectionsChange", () => pref.refreshSoon());
  chainCallback(node, "onAdded", () => pref.refreshSoon());
  chainCallback(node, "onRemoved", () => untrack(pref));
  pref.refreshSoon();
}

/** The Loader's line under its file choice: how the file was trained, i.e. the settings its
 *  steps / cfg / width / height outputs carry. From /paretoslider/info when a file is chosen,
 *  and from the node's UI text once it ran (the same text, made by nodes/recommended.py). */
function setupRecommendedLine(node, combo) {
  if (node.widgets.some((w) => w.name === RECOMMENDED_WIDGET)) return;
  injectStyles();
  const line = new RecommendedLine();
  const widget = node.addDOMWidget(RECOMMENDED_WIDGET, "paretoslider_recommended", line.root, {
    serialize: false,        // shown only: not in the API prompt
    hideOnZoom: true,
    getValue: () => line.text,
    setValue: () => {},
    getMinHeight: () => 34,  // two lines
    getMaxHeight: () => 34,
  });
  widget.serialize = false;  // not in widgets_values
  node.__paretoslider_recommended = line;
  let asked = null;
  const update = async () => {
    const name = combo.value ? String(combo.value) : "";
    asked = name;
    if (!name) return line.set("");
    const info = await fetchInfo(name);
    if (asked === name) line.set(recommendedText(info), !!info.recommended?.error);
  };
  const fit = () => {  // grow to show the line (a saved node keeps its size otherwise)
    const min = node.computeSize?.();
    if (min && node.size && node.size[1] < min[1]) node.setSize([Math.max(node.size[0], min[0]), min[1]]);
  };
  chainCallback(combo, "callback", () => update());
  chainCallback(node, "onConfigure", () => setTimeout(() => {  // a saved node: its file and size are in
    fit();
    update();
  }, 0));
  chainCallback(node, "onExecuted", (output) => {
    const text = output?.text?.[0];
    if (typeof text === "string" && text) line.set(text);
  });
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
    else if (cls === LOADER_NODE) setupLoaderNode(node);
  },
  // a workflow was loaded (open, undo/redo, template): every node and link now exists
  afterConfigureGraph() {
    refreshAllSoon();
  },
});
