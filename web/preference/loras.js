// The objectives of a "ParetoSlider from LoRAs" node, read from its widgets the way the Python
// node (nodes/lora_slider.py) names them: the chosen LoRAs are the lora_1 … lora_8 values that
// are not "None", in slot order; objective i is called by the i-th entry of the comma-separated
// `names` widget, or by its LoRA file's stem when that entry is empty or missing.
// Pure (no DOM, no ComfyUI imports); unit-tested with node (tests/browser/schedule_helpers.test.mjs).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.

export const LORAS_NODE = "ParetoSliderFromLoras";
export const LORA_SLOTS = 8;
export const NAMES_WIDGET = "names";
const LORA_WIDGET = /^lora_(\d+)$/;

/** Whether a widget of the LoRA node changes the objectives (a LoRA choice or the names). */
export function isLabelWidget(name) {
  return name === NAMES_WIDGET || LORA_WIDGET.test(String(name));
}

/** "styles/Ink Wash.v2.safetensors" → "Ink Wash.v2" (folders with / or \, the last extension). */
export function loraStem(file) {
  const base = String(file ?? "").split(/[\\/]/).pop();
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** The comma-separated names, trimmed ("a, , c" → ["a", "", "c"]; "" → []). */
export function splitNames(text) {
  const s = String(text ?? "");
  return s.trim() ? s.split(",").map((p) => p.trim()) : [];
}

function chosen(value) {
  return value != null && value !== "" && String(value) !== "None";
}

/** From the node's widgets ([{name, value}]): {loras: [file], objectives: [{name, label}],
 *  extraNames: non-empty names beyond the chosen LoRAs, duplicates: names used twice} (the
 *  node refuses both). */
export function loraObjectives(widgets) {
  const slots = [];
  let names = "";
  for (const w of widgets ?? []) {
    if (w?.name === NAMES_WIDGET) names = w.value;
    const m = LORA_WIDGET.exec(String(w?.name));
    if (m && chosen(w.value)) slots.push([Number(m[1]), String(w.value)]);
  }
  const loras = slots.sort((a, b) => a[0] - b[0]).map(([, file]) => file);
  const given = splitNames(names);
  const objectives = loras.map((file, i) => {
    const label = given[i] || loraStem(file);
    return { name: label, label };
  });
  const labels = objectives.map((o) => o.label);
  const duplicates = [...new Set(labels.filter((l, i) => labels.indexOf(l) !== i))].sort();
  return { loras, objectives, extraNames: given.slice(loras.length).filter(Boolean).length, duplicates };
}
