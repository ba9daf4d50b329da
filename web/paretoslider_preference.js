// ParetoSlider Preference widget: a view over the node's `preference` STRING widget.
//
// The Python node owns the value (a STRING such as "0.300, 0.700"), so workflows and API
// prompts work without this file. Here we hide that text box and draw, in one DOM widget:
//   2 objectives → a slider between the two named ends;
//   3 objectives → a triangle (simplex) pad with labelled corners;
//   more         → one bar per objective, renormalised onto the simplex.
// Labels and the number of objectives K follow the file chosen in the upstream
// "ParetoSlider Loader" (GET /paretoslider/info?name=<file>). A DOM widget made with
// node.addDOMWidget renders in both the classic canvas and the Vue "Nodes 2.0" renderer.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  formatPreference, normalisePreference, parsePreference, percent, pointToOmega,
  fromBarycentric, quantise, setComponent, uniform,
} from "./simplex.js";

const PREFERENCE_NODE = "ParetoSliderPreference";
const LOADER_NODE = "ParetoSliderLoader";
const PREFERENCE_WIDGET = "preference";
const LOADER_WIDGET = "slider_name";
const PAD_WIDGET = "preference_pad";
const COLORS = ["#4c9ffe", "#ff8a4c", "#4fd28a", "#c77dff", "#f5c542", "#43d1d9", "#ff5f7e", "#a3a8ff"];
const SVG_NS = "http://www.w3.org/2000/svg";
// triangle pad geometry (SVG user units): corner i is objective i
const TRI = [[120, 26], [22, 190], [218, 190]];
const POLL_MS = 800;

// ---- objective info from the server ----------------------------------------------------------
const infoCache = new Map(); // file name → {at, promise}

function fetchInfo(name) {
  const hit = infoCache.get(name);
  // successes are kept; failures are retried after a few seconds (the file may appear)
  if (hit && (hit.ok || Date.now() - hit.at < 5000)) return hit.promise;
  const entry = { at: Date.now(), ok: false, promise: null };
  entry.promise = (async () => {
    try {
      const res = await api.fetchApi(`/paretoslider/info?name=${encodeURIComponent(name)}`);
      let body = null;
      try {
        body = await res.json();
      } catch {
        body = null;
      }
      if (!res.ok) {
        const why = body?.error || body?.message || (res.status === 404 && !body ? "route /paretoslider/info not found" : `HTTP ${res.status}`);
        return { error: String(why) };
      }
      const objectives = Array.isArray(body?.objectives) ? body.objectives : [];
      if (objectives.length < 2) return { error: "the file lists fewer than 2 objectives" };
      entry.ok = true;
      return {
        objectives: objectives.map((o, i) => ({
          name: String(o?.name ?? `objective_${i + 1}`),
          label: String(o?.label || o?.name || `objective ${i + 1}`),
        })),
        architecture: body.architecture,
      };
    } catch (err) {
      return { error: `cannot reach the server (${err?.message ?? err})` };
    }
  })();
  infoCache.set(name, entry);
  return entry.promise;
}

// ---- styles ----------------------------------------------------------------------------------
function injectStyles() {
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
.ps-end { display: flex; flex-direction: column; min-width: 0; max-width: 48%; }
.ps-end.right { align-items: flex-end; text-align: right; }
.ps-name { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; color: var(--descrip-text, #aaa); }
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
.ps-status { flex: 1 1 0; min-width: 0; text-align: right; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.ps-status.warn { color: #f0b44c; }
.ps-pref.ps-linked .ps-body { opacity: .35; pointer-events: none; }
`;
  document.head.appendChild(style);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** Drag helper: calls onMove(event) on press and while the pointer is held (pointer capture
 *  keeps the drag alive outside the element), onEnd() on release. */
function draggable(target, onMove, onEnd) {
  target.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.stopPropagation();
    target.setPointerCapture?.(e.pointerId);
    onMove(e);
    const move = (ev) => onMove(ev);
    const up = () => {
      target.removeEventListener("pointermove", move);
      target.removeEventListener("pointerup", up);
      target.removeEventListener("pointercancel", up);
      onEnd();
    };
    target.addEventListener("pointermove", move);
    target.addEventListener("pointerup", up);
    target.addEventListener("pointercancel", up);
  });
}

// ---- the view --------------------------------------------------------------------------------
const views = new Set();

class PreferenceView {
  constructor(node, stringWidget) {
    this.node = node;
    this.stringWidget = stringWidget;
    this.k = 2;
    this.objectives = null;     // [{name,label}] from the file, or null when unknown
    this.fileName = null;       // upstream loader's chosen file
    this.status = "";
    this.warn = false;
    this.omega = [0.5, 0.5];
    this.lastText = null;       // the STRING value currently shown
    this.layoutKey = "";
    this.dragging = false;
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
        this.exact.value = this.lastText ?? "";
        this.exact.blur();
      }
    });
    this.exact.addEventListener("change", () => this.applyTyped(this.exact.value));
    this.exact.addEventListener("pointerdown", (e) => e.stopPropagation());
    this.statusEl = el("span", "ps-status");
    this.foot.append(el("span", null, "ω"), this.exact, this.statusEl);
    this.root.append(this.body, this.foot);
  }

  get labels() {
    return Array.from({ length: this.k }, (_, i) => this.objectives?.[i]?.label ?? `objective ${i + 1}`);
  }

  minHeight() {
    if (this.k === 2) return 96;
    if (this.k === 3) return 250;
    return 40 + 20 * this.k;
  }

  // -- value plumbing --
  readString() {
    const v = this.stringWidget.value;
    return typeof v === "string" ? v : v == null ? "" : JSON.stringify(v);
  }

  /** Bring the view in line with the STRING widget; repair it when malformed. */
  sync(force = false) {
    const text = this.readString();
    if (!force && text === this.lastText) return;
    if (!this.objectives) {
      // K unknown (no file info yet): trust the saved length when it is usable
      const parsed = parsePreference(text);
      if (Array.isArray(parsed) && parsed.length >= 2 && parsed.length <= 16) this.k = parsed.length;
    }
    const n = normalisePreference(text, this.k);
    this.omega = n.omega;
    if (n.repaired) this.setStatus(`repaired: ${n.reason}`, true);
    if (n.changed) this.writeString(n.text, true);
    else this.lastText = text;
    this.render();
  }

  writeString(text, final) {
    this.lastText = text;
    if (this.stringWidget.value !== text) {
      this.stringWidget.value = text;
      if (final) this.stringWidget.callback?.(text, app.canvas, this.node);
    }
    this.node.setDirtyCanvas?.(true, false);
  }

  commit(omega, final) {
    if (final && this.warn) this.setStatus(this.baseStatus ?? "", false); // the user took over
    this.omega = quantise(omega);
    this.writeString(formatPreference(this.omega), final);
    this.updateValues();
  }

  applyTyped(text) {
    const parsed = parsePreference(text);
    const n = normalisePreference(text, this.k);
    if (n.repaired) {
      const len = Array.isArray(parsed) ? parsed.length : 0;
      this.setStatus(len && len !== this.k ? `need ${this.k} weights, got ${len}` : n.reason, true);
      if (len !== this.k) {
        this.exact.value = this.lastText ?? "";
        return;
      }
    }
    this.commit(n.omega, true);
  }

  setStatus(text, warn = false) {
    if (!warn) this.baseStatus = text;
    this.status = text;
    this.warn = warn;
    this.statusEl.textContent = text;
    this.statusEl.title = text;
    this.statusEl.classList.toggle("warn", warn);
  }

  // -- upstream file --
  upstreamFile() {
    const slot = this.node.findInputSlot?.("slider") ?? 0;
    let src = slot >= 0 ? this.node.getInputNode?.(slot) : null;
    for (let hops = 0; src && hops < 16; hops++) {
      const cls = src.comfyClass ?? src.type;
      if (cls === LOADER_NODE) {
        const w = src.widgets?.find((x) => x.name === LOADER_WIDGET);
        return { state: "ok", name: w?.value ? String(w.value) : "" };
      }
      if (!/reroute/i.test(String(cls))) return { state: "other" };
      const i = src.inputs?.findIndex((inp) => inp.link != null) ?? -1;
      src = i >= 0 ? src.getInputNode(i) : null;
    }
    return { state: "none" };
  }

  async refreshInfo() {
    const up = this.upstreamFile();
    const key = `${up.state}:${up.name ?? ""}`;
    this.upstreamKey = key;
    this.failedAt = 0;
    if (up.state !== "ok" || !up.name) {
      this.fileName = null;
      this.objectives = null;
      this.setStatus(up.state === "other" ? "labels unknown (slider not from a Loader)"
        : up.state === "ok" ? "choose a ParetoSlider file in the Loader" : "connect a ParetoSlider Loader", false);
      this.sync(true);
      return;
    }
    this.fileName = up.name;
    this.setStatus(`reading ${up.name}…`);
    const info = await fetchInfo(up.name);
    if (this.upstreamKey !== key) return; // the user picked another file meanwhile
    if (info.error) {
      // keep the current K and generic labels; retried by tick() (the file or route may appear)
      this.objectives = null;
      this.failedAt = Date.now();
      this.setStatus(`labels unavailable: ${info.error}`, true);
      this.sync(true);
      return;
    }
    this.objectives = info.objectives;
    this.k = info.objectives.length;
    const parsed = parsePreference(this.readString());
    const mismatch = !Array.isArray(parsed) || parsed.length !== this.k;
    // equal weights (e.g. a fresh node's "0.5, 0.5") carry no choice worth warning about
    const total = Array.isArray(parsed) ? parsed.reduce((a, b) => a + b, 0) : NaN;
    const wasUniform = total > 0 && Math.max(...parsed) - Math.min(...parsed) <= 0.0015 * total;
    this.setStatus(up.name, false);
    this.sync(true);
    if (mismatch && !wasUniform) {
      this.setStatus(`ω reset to equal weights: ${up.name} has ${this.k} objectives`, true);
    } else if (mismatch) {
      this.setStatus(up.name, false);
    }
  }

  /** Cheap check, run on a timer and on graph events: catches value edits (undo, paste,
   *  another extension), loader changes and link changes. */
  tick() {
    if (this.dragging) return;
    this.sync(false);
    const up = this.upstreamFile();
    const key = `${up.state}:${up.name ?? ""}`;
    if (key !== this.upstreamKey || (this.failedAt && Date.now() - this.failedAt > 5000)) this.refreshInfo();
    const linked = this.node.inputs?.some((i) => i.widget?.name === PREFERENCE_WIDGET && i.link != null);
    this.root.classList.toggle("ps-linked", !!linked);
  }

  /** Fit the node to the control. On a change of K (slider ⟷ triangle ⟷ bars) the height
   *  follows the new control exactly; otherwise the node only grows (keeps a user's resize). */
  resize(kChanged = false) {
    this.root.style.minHeight = `${this.minHeight()}px`;
    const node = this.node;
    const min = node.computeSize?.();
    if (min && node.size) {
      const h = kChanged ? min[1] : Math.max(node.size[1], min[1]);
      const w = Math.max(node.size[0], min[0]);
      if (h !== node.size[1] || w !== node.size[0]) node.setSize([w, h]);
    }
    node.setDirtyCanvas?.(true, true);
  }

  // -- rendering --
  render() {
    const key = `${this.k}|${this.labels.join("|")}`;
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.body.replaceChildren();
      if (this.k === 2) this.buildSlider();
      else if (this.k === 3) this.buildTriangle();
      else this.buildBars();
      this.root.dataset.mode = this.k === 2 ? "slider" : this.k === 3 ? "triangle" : "bars";
      this.root.style.minHeight = `${this.minHeight()}px`;
      if (this.renderedK !== undefined && this.renderedK !== this.k) this.resize(true);
      this.renderedK = this.k;
    }
    this.updateValues();
  }

  updateValues() {
    const w = this.omega;
    if (document.activeElement !== this.exact) {
      this.exact.value = this.lastText ?? formatPreference(w);
      this.exact.size = Math.max(8, this.exact.value.length + 1);
    }
    this.update?.(w);
  }

  buildSlider() {
    const [a, b] = this.labels;
    const ends = el("div", "ps-ends");
    const left = el("div", "ps-end");
    const right = el("div", "ps-end right");
    const nameL = el("div", "ps-row");
    const dotL = el("span", "ps-dot");
    dotL.style.background = COLORS[0];
    const labL = el("span", "ps-name", a);
    labL.title = a;
    nameL.append(dotL, labL);
    const nameR = el("div", "ps-row");
    const dotR = el("span", "ps-dot");
    dotR.style.background = COLORS[1];
    const labR = el("span", "ps-name", b);
    labR.title = b;
    nameR.append(labR, dotR);
    const pctL = el("span", "ps-pct");
    const pctR = el("span", "ps-pct");
    left.append(nameL, pctL);
    right.append(nameR, pctR);
    ends.append(left, right);

    const track = el("div", "ps-track");
    track.tabIndex = 0;
    track.setAttribute("role", "slider");
    track.setAttribute("aria-label", `${a} ⟷ ${b}`);
    track.dataset.testid = "paretoslider-track";
    const rail = el("div", "ps-rail");
    rail.style.background = `linear-gradient(90deg, ${COLORS[0]}, ${COLORS[1]})`;
    rail.style.opacity = "0.35";
    const ticks = el("div", "ps-ticks");
    for (let i = 0; i < 5; i++) ticks.append(el("i"));
    const thumb = el("div", "ps-thumb");
    thumb.dataset.testid = "paretoslider-thumb";
    track.append(rail, ticks, thumb);
    this.body.append(ends, track);

    const fromEvent = (e) => {
      const r = track.getBoundingClientRect();
      const t = Math.min(1, Math.max(0, (e.clientX - r.left) / Math.max(1, r.width)));
      return [1 - t, t];
    };
    draggable(track, (e) => {
      this.dragging = true;
      this.commit(fromEvent(e), false);
    }, () => {
      this.dragging = false;
      this.commit(this.omega, true);
    });
    track.addEventListener("dblclick", () => this.commit([0.5, 0.5], true));
    track.addEventListener("keydown", (e) => {
      const step = e.shiftKey ? 0.1 : 0.01;
      let t = this.omega[1];
      if (e.key === "ArrowRight" || e.key === "ArrowUp") t += step;
      else if (e.key === "ArrowLeft" || e.key === "ArrowDown") t -= step;
      else if (e.key === "Home") t = 0;
      else if (e.key === "End") t = 1;
      else return;
      e.preventDefault();
      e.stopPropagation();
      t = Math.min(1, Math.max(0, t));
      this.commit([1 - t, t], true);
    });
    this.update = (w) => {
      pctL.textContent = percent(w[0]);
      pctR.textContent = percent(w[1]);
      const x = `${(w[1] * 100).toFixed(2)}%`;
      thumb.style.left = x;
      // the thumb's ring takes the colour of the objective it leans towards
      thumb.style.setProperty("--ps-thumb", w[1] >= 0.5 ? COLORS[1] : COLORS[0]);
      track.setAttribute("aria-valuenow", String(w[1]));
      track.setAttribute("aria-valuetext", `${percent(w[0])} ${a}, ${percent(w[1])} ${b}`);
    };
  }

  buildTriangle() {
    const labels = this.labels;
    const pad = svg("svg", { class: "ps-tri", viewBox: "0 0 240 222", preserveAspectRatio: "xMidYMid meet" });
    pad.dataset.testid = "paretoslider-triangle";
    pad.setAttribute("tabindex", "0");
    pad.setAttribute("role", "group");
    pad.setAttribute("aria-label", `preference between ${labels.join(", ")}`);
    const uid = Math.random().toString(36).slice(2, 8);
    const defs = svg("defs");
    TRI.forEach((p, i) => {
      const g = svg("radialGradient", { id: `ps-g${i}-${uid}`, cx: p[0], cy: p[1], r: 170, gradientUnits: "userSpaceOnUse" });
      g.append(svg("stop", { offset: "0", "stop-color": COLORS[i], "stop-opacity": "0.55" }),
        svg("stop", { offset: "1", "stop-color": COLORS[i], "stop-opacity": "0" }));
      defs.append(g);
    });
    pad.append(defs);
    const points = TRI.map((p) => p.join(",")).join(" ");
    pad.append(svg("polygon", { points, fill: "rgba(127,127,127,0.08)" }));
    TRI.forEach((_, i) => pad.append(svg("polygon", { points, fill: `url(#ps-g${i}-${uid})` })));
    // grid: lines of constant ω_i at 25 / 50 / 75 %
    for (let i = 0; i < 3; i++) {
      for (const v of [0.25, 0.5, 0.75]) {
        const j = (i + 1) % 3;
        const k = (i + 2) % 3;
        const wa = [0, 0, 0];
        const wb = [0, 0, 0];
        wa[i] = v; wa[j] = 1 - v;
        wb[i] = v; wb[k] = 1 - v;
        const pa = fromBarycentric(wa, TRI);
        const pb = fromBarycentric(wb, TRI);
        pad.append(svg("line", { x1: pa[0], y1: pa[1], x2: pb[0], y2: pb[1], stroke: "currentColor", "stroke-opacity": v === 0.5 ? "0.22" : "0.12", "stroke-width": "0.8" }));
      }
    }
    pad.append(svg("polygon", { points, fill: "none", stroke: "currentColor", "stroke-opacity": "0.45", "stroke-width": "1.2", "stroke-linejoin": "round" }));
    // corner labels
    const anchors = [["middle", 0, -10], ["start", -14, 22], ["end", 14, 22]];
    TRI.forEach((p, i) => {
      pad.append(svg("circle", { cx: p[0], cy: p[1], r: 4, fill: COLORS[i] }));
      const t = svg("text", { x: p[0] + anchors[i][1], y: p[1] + anchors[i][2], "text-anchor": anchors[i][0] });
      const label = labels[i].length > 22 ? `${labels[i].slice(0, 21)}…` : labels[i];
      t.textContent = label;
      const title = svg("title");
      title.textContent = labels[i];
      t.append(title);
      pad.append(t);
    });
    const guides = TRI.map((_, i) => svg("line", { stroke: COLORS[i], "stroke-width": "1.2", "stroke-dasharray": "3 3", "stroke-opacity": "0.8" }));
    guides.forEach((g) => pad.append(g));
    const dot = svg("circle", { r: 7.5, fill: "#fff", stroke: "#0008", "stroke-width": "1" });
    dot.dataset.testid = "paretoslider-point";
    const core = svg("circle", { r: 3.5 });
    pad.append(dot, core);

    const legend = el("div", "ps-legend");
    const pcts = labels.map((lab, i) => {
      const item = el("span", "ps-row");
      const d = el("span", "ps-dot");
      d.style.background = COLORS[i];
      const name = el("span", "ps-name", lab);
      const pct = el("span", "ps-pct");
      item.append(d, name, pct);
      legend.append(item);
      return pct;
    });
    this.body.append(pad, legend);

    const toUser = (e) => {
      const m = pad.getScreenCTM();
      if (!m) return null;
      const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
      return [p.x, p.y];
    };
    draggable(pad, (e) => {
      const p = toUser(e);
      if (!p) return;
      this.dragging = true;
      this.commit(pointToOmega(p, TRI), false);
    }, () => {
      this.dragging = false;
      this.commit(this.omega, true);
    });
    pad.addEventListener("dblclick", () => this.commit(uniform(3), true));
    this.update = (w) => {
      const [x, y] = fromBarycentric(w, TRI);
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      core.setAttribute("cx", x);
      core.setAttribute("cy", y);
      const lead = w.indexOf(Math.max(...w));
      core.setAttribute("fill", COLORS[lead]);
      // dashed guides from the point to each corner, thicker toward the heavier objectives
      guides.forEach((g, i) => {
        g.setAttribute("x1", x); g.setAttribute("y1", y);
        g.setAttribute("x2", TRI[i][0]); g.setAttribute("y2", TRI[i][1]);
        g.setAttribute("stroke-opacity", (0.15 + 0.75 * w[i]).toFixed(2));
      });
      pcts.forEach((p, i) => { p.textContent = percent(w[i]); });
      pad.setAttribute("aria-valuetext", labels.map((l, i) => `${percent(w[i])} ${l}`).join(", "));
    };
  }

  buildBars() {
    const labels = this.labels;
    const box = el("div", "ps-bars");
    const rows = labels.map((lab, i) => {
      const row = el("div", "ps-bar");
      const d = el("span", "ps-dot");
      d.style.background = COLORS[i % COLORS.length];
      const name = el("span", "ps-name", lab);
      name.title = lab;
      const track = el("div", "ps-track");
      track.dataset.testid = `paretoslider-bar-${i}`;
      const rail = el("div", "ps-rail");
      rail.style.background = "rgba(127,127,127,0.25)";
      const fill = el("div", "ps-fill");
      fill.style.background = COLORS[i % COLORS.length];
      track.append(rail, fill);
      const pct = el("span", "ps-pct");
      row.append(d, name, track, pct);
      box.append(row);
      draggable(track, (e) => {
        const r = track.getBoundingClientRect();
        this.dragging = true;
        this.commit(setComponent(this.omega, i, (e.clientX - r.left) / Math.max(1, r.width)), false);
      }, () => {
        this.dragging = false;
        this.commit(this.omega, true);
      });
      return { fill, pct };
    });
    this.body.append(box);
    this.update = (w) => rows.forEach((r, i) => {
      r.fill.style.width = `${(w[i] * 100).toFixed(2)}%`;
      r.pct.textContent = percent(w[i]);
    });
  }
}

function setupPreferenceNode(node) {
  const stringWidget = node.widgets?.find((w) => w.name === PREFERENCE_WIDGET);
  if (!stringWidget || node.widgets.some((w) => w.name === PAD_WIDGET)) return;
  injectStyles();
  const view = new PreferenceView(node, stringWidget);
  // the text box stays the source of truth but is drawn by the pad: hide it in both renderers
  stringWidget.hidden = true;                       // classic canvas
  stringWidget.options = stringWidget.options ?? {};
  stringWidget.options.hidden = true;               // Vue "Nodes 2.0"
  const widget = node.addDOMWidget(PAD_WIDGET, "paretoslider_preference", view.root, {
    serialize: false,        // not in the API prompt: the STRING widget carries the value
    hideOnZoom: true,
    getValue: () => view.readString(),
    setValue: (v) => {
      view.writeString(String(v ?? ""), true);
      view.sync(true);
    },
    getMinHeight: () => view.minHeight(),
    getMaxHeight: () => (view.k === 3 ? 480 : view.minHeight()),
  });
  widget.serialize = false;  // not in widgets_values: saved workflows keep their old layout
  node.__paretoslider = view;
  views.add(view);
  view.sync(true);
  view.resize();

  const onConfigure = node.onConfigure;
  node.onConfigure = function (info) {
    const r = onConfigure?.apply(this, arguments);
    view.upstreamKey = undefined;
    view.sync(true);
    setTimeout(() => view.tick(), 0); // links to the loader exist once the whole graph is configured
    return r;
  };
  const onConnectionsChange = node.onConnectionsChange;
  node.onConnectionsChange = function () {
    const r = onConnectionsChange?.apply(this, arguments);
    setTimeout(() => view.tick(), 0);
    return r;
  };
  const onRemoved = node.onRemoved;
  node.onRemoved = function () {
    views.delete(view);
    return onRemoved?.apply(this, arguments);
  };
  setTimeout(() => view.tick(), 0);
}

function setupLoaderNode(node) {
  const w = node.widgets?.find((x) => x.name === LOADER_WIDGET);
  if (!w) return;
  const cb = w.callback;
  w.callback = function () {
    const r = cb?.apply(this, arguments);
    setTimeout(tickAll, 0);
    return r;
  };
}

function tickAll() {
  for (const view of views) {
    if (!view.node.graph) continue; // removed, or in a closed subgraph
    try {
      view.tick();
    } catch (err) {
      console.warn("[ParetoSlider] preference widget update failed", err);
    }
  }
}

app.registerExtension({
  name: "ParetoSlider.PreferenceWidget",
  nodeCreated(node) {
    const cls = node.comfyClass ?? node.constructor?.comfyClass;
    if (cls === PREFERENCE_NODE) setupPreferenceNode(node);
    else if (cls === LOADER_NODE) setupLoaderNode(node);
  },
  setup() {
    setInterval(tickAll, POLL_MS);
  },
});
