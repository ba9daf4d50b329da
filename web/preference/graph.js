// Graph lookups for the Preference widget: which nodes are ours, what feeds a node's `slider`
// input (a ParetoSlider Loader's file, or a "ParetoSlider from LoRAs" node's LoRAs) and, for
// the schedule node, the start ω (an upstream Preference node's value). Walks through Reroutes.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { LORAS_NODE, loraObjectives } from "./loras.js";

export const PREFERENCE_NODE = "ParetoSliderPreference";
export const LOADER_NODE = "ParetoSliderLoader";
export const SWEEP_NODE = "ParetoSliderSweep";
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

/** The node feeding `node`'s input `inputName`, through Reroute nodes; null when unlinked. */
export function upstreamNode(node, inputName) {
  const slot = node.findInputSlot?.(inputName) ?? -1;
  let src = slot >= 0 ? node.getInputNode?.(slot) : null;
  for (let hops = 0; src && hops < MAX_HOPS; hops++) {
    if (!isReroute(src.comfyClass ?? src.type)) return src;
    const i = src.inputs?.findIndex((inp) => inp.link != null) ?? -1;
    src = i >= 0 ? src.getInputNode(i) : null;
  }
  return null;
}

/** What feeds the node's `slider` input:
 *   {state: "ok", kind: "file", name}            a Loader (name "" when no file is chosen);
 *   {state: "ok", kind: "loras", objectives, loras, extraNames, duplicates, method}   a LoRA node;
 *   {state: "other"}  another node;  {state: "none"}  nothing connected. */
export function findSliderSource(node) {
  const src = upstreamNode(node, "slider");
  if (!src) return { state: "none" };
  const cls = src.comfyClass ?? src.type;
  if (cls === LOADER_NODE) {
    const w = src.widgets?.find((x) => x.name === LOADER_WIDGET);
    return { state: "ok", kind: "file", name: w?.value ? String(w.value) : "" };
  }
  if (cls === LORAS_NODE) {
    const method = src.widgets?.find((x) => x.name === "method")?.value;
    return { state: "ok", kind: "loras", method: method ? String(method) : "", ...loraObjectives(src.widgets) };
  }
  return { state: "other" };
}

/** A string that changes whenever findSliderSource's answer does. */
export function upstreamKey(up) {
  const labels = up.objectives ? up.objectives.map((o) => o.label).join("\u0001") : "";
  return `${up.state}:${up.kind ?? ""}:${up.name ?? ""}:${up.method ?? ""}:${labels}:${up.extraNames ?? 0}`
    + `:${(up.loras ?? []).join("\u0001")}`;
}

/** The start ω of a schedule node: what feeds its `start` input.
 *   {state: "preference", text}  a Preference node's `preference` value (unless that is linked);
 *   {state: "sweep"}  a Sweep (one ω per image);  {state: "other"};  {state: "none"}. */
export function findStartSource(node) {
  const src = upstreamNode(node, "start");
  if (!src) return { state: "none" };
  const cls = src.comfyClass ?? src.type;
  if (cls === PREFERENCE_NODE && !isWidgetLinked(src, PREFERENCE_WIDGET)) {
    const w = src.widgets?.find((x) => x.name === PREFERENCE_WIDGET);
    return { state: "preference", text: w?.value == null ? "" : String(w.value) };
  }
  if (cls === SWEEP_NODE) return { state: "sweep" };
  return { state: "other" };
}

/** Whether the widget named `widgetName` is driven by a link (its input socket is connected). */
export function isWidgetLinked(node, widgetName) {
  return !!node.inputs?.some((i) => i.widget?.name === widgetName && i.link != null);
}
