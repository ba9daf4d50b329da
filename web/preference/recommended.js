// The Loader's "how it was trained" line: the chosen file's recommended sampling settings
// (resolution, steps, cfg, guidance), from GET /paretoslider/info before a run and from the
// Loader's UI text after one. The values themselves are the Loader's outputs (Python owns them);
// this only shows them. No ComfyUI imports.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { el, textLines } from "./view.js";

export const RECOMMENDED_WIDGET = "recommended";

/** The line for an info answer (fetchInfo's result): the settings' text, what is wrong with
 *  them, or "" when there is nothing to say (no file, an unreadable file, an older server). */
export function recommendedText(info) {
  const r = info?.recommended;
  if (!info || info.error || !r || typeof r !== "object") return "";
  if (r.error) return `sampling settings unusable: ${r.error}`;
  return typeof r.text === "string" ? r.text : "";
}

/** Node property a template sets on its Loader: how to make the file it names (a trainer
 *  command), shown when the file is not there. */
export const MAKE_PROPERTY = "paretoslider_make";
const DEFAULT_MAKE = "train one (python -m trainer train --config trainer/configs/<config>.yaml, see the README) "
  + "or start from a LoRA-slider template";

/** The line when the Loader has no usable file: the folder to fill, and how to make the file.
 *  `name` is the chosen file ("" when the folder is empty), `error` the server's reason. */
export function missingText(name, error, make) {
  const how = make || DEFAULT_MAKE;
  if (!name) return `models/paretoslider/ has no ParetoSlider files yet: ${how}; put the .safetensors file there and press R`;
  const where = /put it in (.+?) and refresh/.exec(String(error ?? ""))?.[1] ?? "models/paretoslider/";
  return `${name} is not in ${where}: ${how}; then press R`;
}

/** Whether an info error means the file is not there (rather than unreadable). */
export function isMissing(error) {
  return /was not found|is missing at/.test(String(error ?? ""));
}

/** The DOM of the line: muted, wrapping, the whole text in its tooltip. */
export class RecommendedLine {
  constructor() {
    this.text = "";
    this.root = el("div", "ps-rec");
    this.root.dataset.testid = "paretoslider-recommended";
  }

  /** Height (px) the text needs at a node width: 14 px lines, 4 px padding. */
  height(width) {
    return 4 + 14.3 * Math.max(1, textLines(this.text, width - 12, 6.0));
  }

  set(text, warn = false) {
    this.text = String(text ?? "");
    this.root.textContent = this.text;
    this.root.title = this.text && !warn ? `sample as trained: ${this.text}` : this.text;
    this.root.classList.toggle("warn", !!warn);
  }
}
