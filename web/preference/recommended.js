// The Loader's "how it was trained" line: the chosen file's recommended sampling settings
// (resolution, steps, cfg, guidance), from GET /paretoslider/info before a run and from the
// Loader's UI text after one. The values themselves are the Loader's outputs (Python owns them);
// this only shows them. No ComfyUI imports.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { el } from "./view.js";

export const RECOMMENDED_WIDGET = "recommended";

/** The line for an info answer (fetchInfo's result): the settings' text, what is wrong with
 *  them, or "" when there is nothing to say (no file, an unreadable file, an older server). */
export function recommendedText(info) {
  const r = info?.recommended;
  if (!info || info.error || !r || typeof r !== "object") return "";
  if (r.error) return `sampling settings unusable: ${r.error}`;
  return typeof r.text === "string" ? r.text : "";
}

/** The DOM of the line: muted, one line, the whole text in its tooltip. */
export class RecommendedLine {
  constructor() {
    this.text = "";
    this.root = el("div", "ps-rec");
    this.root.dataset.testid = "paretoslider-recommended";
  }

  set(text, warn = false) {
    this.text = String(text ?? "");
    this.root.textContent = this.text;
    this.root.title = this.text && !warn ? `sample as trained: ${this.text}` : this.text;
    this.root.classList.toggle("warn", !!warn);
  }
}
