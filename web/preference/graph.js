// Graph lookups for the Preference widget: which nodes are ours, and which ParetoSlider file
// feeds a Preference node (the upstream walk to the ParetoSlider Loader).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.

export const PREFERENCE_NODE = "ParetoSliderPreference";
export const LOADER_NODE = "ParetoSliderLoader";
export const PREFERENCE_WIDGET = "preference";
export const LOADER_WIDGET = "slider_name";
const MAX_HOPS = 16;

/** The backend class of a node created by ComfyUI (nodeCreated hook). */
export function nodeClass(node) {
  return node.comfyClass ?? node.constructor?.comfyClass;
}

function isReroute(cls) {
  return /reroute/i.test(String(cls));
}

/** Follow the node's `slider` input upstream, through Reroute nodes, to the Loader.
 *  Returns {state: "ok", name} (name "" when no file is chosen), {state: "other"} when the
 *  slider comes from another node, or {state: "none"} when nothing is connected. */
export function findUpstreamFile(node) {
  const slot = node.findInputSlot?.("slider") ?? 0;
  let src = slot >= 0 ? node.getInputNode?.(slot) : null;
  for (let hops = 0; src && hops < MAX_HOPS; hops++) {
    const cls = src.comfyClass ?? src.type;
    if (cls === LOADER_NODE) {
      const w = src.widgets?.find((x) => x.name === LOADER_WIDGET);
      return { state: "ok", name: w?.value ? String(w.value) : "" };
    }
    if (!isReroute(cls)) return { state: "other" };
    const i = src.inputs?.findIndex((inp) => inp.link != null) ?? -1;
    src = i >= 0 ? src.getInputNode(i) : null;
  }
  return { state: "none" };
}

/** A string that changes whenever findUpstreamFile's answer does. */
export function upstreamKey(up) {
  return `${up.state}:${up.name ?? ""}`;
}

/** Whether the widget named `widgetName` is driven by a link (its input socket is connected). */
export function isWidgetLinked(node, widgetName) {
  return !!node.inputs?.some((i) => i.widget?.name === widgetName && i.link != null);
}
