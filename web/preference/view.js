// The Preference widget's frame: styles, DOM helpers and the box that hosts a control
// (controls.js) above the exact-weights field and the status line (the Loader's line in
// recommended.js uses the same styles). No ComfyUI imports.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Add the widget's style sheet to the page once. */
export function injectStyles() {
  if (document.getElementById("paretoslider-style")) return;
  const style = document.createElement("style");
  style.id = "paretoslider-style";
  style.textContent = `
.ps-pref { box-sizing: border-box; display: flex; flex-direction: column; gap: 6px; width: 100%;
  height: 100%; padding: 6px 8px; border-radius: 8px; font: 12px/1.3 var(--font-inter, system-ui, sans-serif);
  color: var(--input-text, #ddd); background: var(--comfy-input-bg, #222); border: 1px solid var(--border-color, #4446);
  user-select: none; -webkit-user-select: none; overflow: hidden; }
.ps-pref * { box-sizing: border-box; }
.ps-row { display: flex; align-items: center; gap: 6px; min-width: 0; }
.ps-ends { display: flex; justify-content: space-between; align-items: flex-end; gap: 8px; }
.ps-end { display: flex; flex-direction: column; flex: 1 1 0; min-width: 0; }
.ps-end.right { align-items: flex-end; text-align: right; }
.ps-name { overflow: hidden; overflow-wrap: anywhere; color: var(--descrip-text, #aaa); line-height: 15px;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
.ps-legend .ps-name, .ps-bar .ps-name { display: block; white-space: nowrap; text-overflow: ellipsis; }
.ps-pct { font-size: 15px; font-weight: 600; font-variant-numeric: tabular-nums; }
.ps-dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; flex: none; }
.ps-track { position: relative; height: 22px; cursor: pointer; touch-action: none; outline: none; flex: 1; }
.ps-track .ps-rail { position: absolute; left: 0; right: 0; top: 8px; height: 6px; border-radius: 3px; }
.ps-track .ps-fill { position: absolute; left: 0; top: 8px; height: 6px; border-radius: 3px; }
.ps-track .ps-thumb { position: absolute; top: 3px; width: 16px; height: 16px; margin-left: -8px; border-radius: 50%;
  background: #fff; box-shadow: 0 1px 4px #0009; border: 3px solid var(--ps-thumb, #888); }
.ps-track:focus-visible .ps-thumb { outline: 2px solid var(--p-primary-color, #4c9ffe); outline-offset: 2px; }
.ps-ticks { position: absolute; left: 0; right: 0; top: 18px; height: 4px; display: flex; justify-content: space-between; pointer-events: none; }
.ps-ticks i { width: 1px; height: 4px; background: var(--descrip-text, #888); opacity: .5; }
.ps-tri { flex: 1; min-height: 120px; width: 100%; touch-action: none; cursor: crosshair; outline: none; display: block; }
.ps-tri text { font-size: 12px; fill: var(--input-text, #ddd); }
.ps-legend { display: flex; flex-wrap: wrap; justify-content: center; gap: 4px 12px; }
.ps-legend span.ps-pct { font-size: 12px; }
.ps-bars { display: flex; flex-direction: column; gap: 4px; }
.ps-bar { display: grid; grid-template-columns: 8px minmax(40px, 36%) 1fr 44px; align-items: center; gap: 6px; }
.ps-bar .ps-track { height: 16px; }
.ps-bar .ps-rail, .ps-bar .ps-fill { top: 5px; }
.ps-bar .ps-pct { font-size: 12px; text-align: right; }
.ps-foot { display: flex; align-items: center; gap: 6px; color: var(--descrip-text, #999); font-size: 11px; min-height: 18px; }
.ps-exact { flex: 0 1 auto; min-width: 60px; max-width: 100%; font: 11px/1.2 ui-monospace, monospace; color: var(--input-text, #ddd);
  background: transparent; border: 1px solid transparent; border-radius: 4px; padding: 1px 4px; }
.ps-exact:hover, .ps-exact:focus { border-color: var(--border-color, #555); background: var(--comfy-menu-bg, #1a1a1a); outline: none; }
.ps-status { flex: none; min-width: 0; font-size: 11px; line-height: 15px; color: var(--descrip-text, #999);
  white-space: normal; overflow-wrap: anywhere; overflow: hidden; }
.ps-status:empty { display: none; }
.ps-status.warn { color: #f0b44c; }
.ps-pref.ps-linked .ps-body { opacity: .35; pointer-events: none; }
.ps-inactive { opacity: .35; }
.ps-track .ps-span { position: absolute; top: 6px; height: 10px; border-radius: 5px; pointer-events: none;
  background: rgba(255,255,255,.16); box-shadow: inset 0 0 0 1px rgba(255,255,255,.32); }
.ps-track .ps-ghost { position: absolute; top: 3px; width: 16px; height: 16px; margin-left: -8px; border-radius: 50%;
  border: 2px dashed var(--input-text, #ddd); background: var(--comfy-input-bg, #222); pointer-events: none; }
.ps-keys i { position: absolute; top: 7px; width: 8px; height: 8px; margin-left: -4px; transform: rotate(45deg);
  background: var(--input-text, #ddd); box-shadow: 0 0 0 1px #0009; pointer-events: none; }
.ps-tri .ps-ghost { fill: none; stroke: var(--input-text, #ddd); stroke-width: 2; stroke-dasharray: 3 2.2; }
.ps-tri .ps-path { stroke: var(--input-text, #ddd); stroke-opacity: .7; stroke-width: 1.8; stroke-linecap: round; stroke-linejoin: round; }
.ps-tri .ps-key { fill: var(--input-text, #ddd); stroke: #0009; stroke-width: .8; }
.ps-bar .ps-ghost-tick { position: absolute; top: 2px; width: 12px; height: 12px; margin-left: -6px; border-radius: 50%;
  border: 2px dashed var(--input-text, #ddd); background: var(--comfy-input-bg, #222); pointer-events: none; }
.ps-sched { display: flex; flex-direction: column; gap: 2px; }
.ps-legend2 { display: flex; justify-content: space-between; gap: 8px; font-size: 11px; color: var(--descrip-text, #aaa); }
.ps-legend2 > span { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.ps-legend2 .ps-sym { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; border-radius: 50%; }
.ps-legend2 .ps-sym.start { border: 2px dashed var(--input-text, #ddd); }
.ps-legend2 .ps-sym.end { background: #fff; border: 2.5px solid #888; }
.ps-legend2 .ps-sym.key { width: 8px; height: 8px; margin: 0 5px 0 1px; border-radius: 1px; transform: rotate(45deg); background: var(--input-text, #ddd); }
.ps-legend2.stacked { flex-direction: column; gap: 1px; }
.ps-plot { width: 100%; height: 46px; display: block; overflow: visible; }
.ps-plot .ps-grid { stroke: currentColor; stroke-opacity: .14; }
.ps-axis { display: flex; justify-content: space-between; gap: 8px; font-size: 10px; color: var(--descrip-text, #999); }
.ps-axis .mid { color: var(--input-text, #ccc); }
.ps-rec { box-sizing: border-box; width: 100%; padding: 2px 6px; font: 11px/1.3 var(--font-inter, system-ui, sans-serif);
  color: var(--descrip-text, #999); overflow: hidden; overflow-wrap: anywhere; white-space: normal; }
.ps-rec.warn { color: #f0b44c; }
`;
  document.head.appendChild(style);
}

/** How long a message about something just done stays (ms). */
export const TRANSIENT_MS = 8000;

/** Lines a text takes at `width` px with `charPx` px per character (an estimate that errs long:
 *  a node reserves room before the browser has laid it out, and wrapping breaks at words). */
export function textLines(text, width, charPx) {
  const perLine = Math.max(8, Math.floor(Math.max(1, width) / charPx));
  let lines = 0;
  for (const para of String(text).split("\n")) {
    let line = 0;
    lines += 1;
    for (const word of para.split(/\s+/)) {
      const w = word.length;
      if (line && line + 1 + w > perLine) {
        lines += 1;
        line = 0;
      }
      line += (line ? 1 : 0) + w;
      while (line > perLine) {
        lines += 1;
        line -= perLine;
      }
    }
  }
  return lines;
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** root (.ps-pref) = body (the control) + foot (ω field, status). `onTyped(text)` is called
 *  when the user edits the ω field. */
export class PreferenceView {
  constructor({ onTyped, onStatus }) {
    this.text = null;        // the ω text last shown (Escape in the field restores it)
    this.control = null;     // {mode, elements, update(ω)} from controls.js
    this.warn = false;       // the status line shows a warning
    this.baseStatus = "";    // the last non-warning status (shown again once the user acts)
    this.baseTitle = "";     // its tooltip (the file name and how the file was trained)
    this.root = el("div", "ps-pref");
    this.root.dataset.testid = "paretoslider-preference";
    this.body = el("div", "ps-body");
    this.body.style.cssText = "display:flex;flex-direction:column;gap:6px;flex:1;min-height:0";
    this.foot = el("div", "ps-foot");
    this.exact = el("input", "ps-exact");
    this.exact.type = "text";
    this.exact.spellcheck = false;
    this.exact.title = "Exact weights (one per objective, normalised to sum to 1). Edit and press Enter.";
    this.exact.dataset.testid = "paretoslider-exact";
    this.exact.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") this.exact.blur();
      if (e.key === "Escape") {
        this.resetExact();
        this.exact.blur();
      }
    });
    this.exact.addEventListener("change", () => onTyped(this.exact.value));
    this.exact.addEventListener("pointerdown", (e) => e.stopPropagation());
    // the status has a row of its own under the ω field and wraps: never cut at the node's width
    this.statusEl = el("div", "ps-status");
    this.statusEl.dataset.testid = "paretoslider-status";
    this.foot.append(el("span", null, "ω"), this.exact);
    this.root.append(this.body, this.foot, this.statusEl);
    this.onStatus = onStatus ?? null;   // the host re-fits the node to the status' lines
    this.transientTimer = null;
  }

  /** Add a section (e.g. the schedule's preview) between the control and the ω field. */
  addSection(element) {
    this.root.insertBefore(element, this.foot);
  }

  /** Replace the control (on a change of K or of the labels). */
  mount(control, minHeight) {
    this.control = control;
    this.body.replaceChildren(...control.elements);
    this.root.dataset.mode = control.mode;
    this.setMinHeight(minHeight);
  }

  setMinHeight(px) {
    this.root.style.minHeight = `${px}px`;
  }

  /** Show ω: the control, and the text field unless the user is typing in it. */
  show(text, omega) {
    this.text = text;
    if (document.activeElement !== this.exact) {
      this.exact.value = text;
      this.exact.size = Math.max(8, text.length + 1);
    }
    this.control?.update(omega);
  }

  /** Put the last shown ω back into the text field (after a rejected edit). */
  resetExact() {
    this.exact.value = this.text ?? "";
  }

  /** The status line; `title` is its tooltip (default: the text). A `transient` warning tells
   *  of something just done (ω reset, a value repaired): it goes away when the state changes
   *  (clearWarning) or after TRANSIENT_MS. */
  setStatus(text, warn = false, title = text, transient = false) {
    if (!warn) {
      this.baseStatus = text;
      this.baseTitle = title;
    }
    clearTimeout(this.transientTimer);
    this.transientTimer = transient ? setTimeout(() => this.clearWarning(), TRANSIENT_MS) : null;
    this.warn = warn;
    const changed = this.statusEl.textContent !== text;
    this.statusEl.textContent = text;
    this.statusEl.title = title;
    this.statusEl.classList.toggle("warn", warn);
    if (changed) this.onStatus?.();
  }

  /** The user took over or the state changed: drop a warning, show the last plain status again. */
  clearWarning() {
    if (this.warn) this.setStatus(this.baseStatus ?? "", false, this.baseTitle ?? "");
  }

  /** Height (px) the status needs at a node width: its lines at 15 px (0 when empty). */
  statusHeight(width) {
    const text = this.statusEl.textContent ?? "";
    if (!text) return 0;
    return 6 + 15 * textLines(text, width - 18, 6.1);
  }

  /** Dim the control while the `preference` input is linked (the value comes from elsewhere). */
  setLinked(linked) {
    this.root.classList.toggle("ps-linked", !!linked);
  }
}
