// The three controls of the Preference widget, one per number of objectives K:
//   2 → slider between the two named ends; 3 → triangle (simplex) pad; more → one bar each.
// Each is made by createControl(k, labels, host) and has the same shape:
//   { mode: "slider" | "triangle" | "bars", elements: [Element, …], update(ω), mark(marks) }
// `elements` go into the view's body; update(ω) redraws the control for the weights ω (the
// draggable marker). mark({start, path, keys, inactive}) adds the schedule node's read-only
// marks: the start ω (a dashed ring), the path ω takes while sampling ([ω, …]), keypoints
// ([ω, …]), and `inactive` dims the draggable marker (keypoints replace the end ω).
// `host` is the widget the control edits: host.omega (current ω), host.dragging (set while
// a drag is held) and host.commit(ω, final) (final: the edit is done, e.g. the pointer is up).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { fromBarycentric, percent, pointToOmega, setComponent, uniform } from "../simplex.js";
import { el, svg } from "./view.js";

export const COLORS = ["#4c9ffe", "#ff8a4c", "#4fd28a", "#c77dff", "#f5c542", "#43d1d9", "#ff5f7e", "#a3a8ff"];
// triangle pad geometry (SVG user units): corner i is objective i
const TRI = [[120, 26], [22, 190], [218, 190]];

/** The least height (px) the control for K objectives needs, and the most it may grow to. */
export function minHeight(k) {
  if (k === 2) return 96;
  if (k === 3) return 250;
  return 40 + 20 * k;
}

export function maxHeight(k) {
  return k === 3 ? 480 : minHeight(k);
}

export function createControl(k, labels, host) {
  if (k === 2) return createSlider(labels, host);
  if (k === 3) return createTriangle(labels, host);
  return createBars(labels, host);
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

/** Drag on `target` edits ω: toOmega(event) gives the weights under the pointer (or null to
 *  ignore the event); the value is committed for good on release. */
function dragOmega(target, host, toOmega) {
  draggable(target, (e) => {
    const w = toOmega(e);
    if (!w) return;
    host.dragging = true;
    host.commit(w, false);
  }, () => {
    host.dragging = false;
    host.commit(host.omega, true);
  });
}

// One end of the slider: a coloured dot and the objective's name, the dot on the outside.
function endName(label, color, dotFirst) {
  const row = el("div", "ps-row");
  const dot = el("span", "ps-dot");
  dot.style.background = color;
  const name = el("span", "ps-name", label);
  name.title = label;
  if (dotFirst) row.append(dot, name);
  else row.append(name, dot);
  return row;
}

function createSlider(labels, host) {
  const [a, b] = labels;
  const ends = el("div", "ps-ends");
  const left = el("div", "ps-end");
  const right = el("div", "ps-end right");
  const nameL = endName(a, COLORS[0], true);
  const nameR = endName(b, COLORS[1], false);
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
  const span = el("div", "ps-span");        // schedule: the stretch ω travels, start → end
  const keys = el("div", "ps-keys");        // schedule: keypoints
  const ghost = el("div", "ps-ghost");      // schedule: the start ω (read-only)
  ghost.dataset.testid = "paretoslider-start";
  const thumb = el("div", "ps-thumb");
  thumb.dataset.testid = "paretoslider-thumb";
  span.style.display = ghost.style.display = "none";
  track.append(rail, ticks, span, keys, ghost, thumb);

  dragOmega(track, host, (e) => {
    const r = track.getBoundingClientRect();
    const t = Math.min(1, Math.max(0, (e.clientX - r.left) / Math.max(1, r.width)));
    return [1 - t, t];
  });
  track.addEventListener("dblclick", () => host.commit([0.5, 0.5], true));
  track.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 0.1 : 0.01;
    let t = host.omega[1];
    if (e.key === "ArrowRight" || e.key === "ArrowUp") t += step;
    else if (e.key === "ArrowLeft" || e.key === "ArrowDown") t -= step;
    else if (e.key === "Home") t = 0;
    else if (e.key === "End") t = 1;
    else return;
    e.preventDefault();
    e.stopPropagation();
    t = Math.min(1, Math.max(0, t));
    host.commit([1 - t, t], true);
  });
  return {
    mode: "slider",
    elements: [ends, track],
    update(w) {
      pctL.textContent = percent(w[0]);
      pctR.textContent = percent(w[1]);
      thumb.style.left = `${(w[1] * 100).toFixed(2)}%`;
      // the thumb's ring takes the colour of the objective it leans towards
      thumb.style.setProperty("--ps-thumb", w[1] >= 0.5 ? COLORS[1] : COLORS[0]);
      track.setAttribute("aria-valuenow", String(w[1]));
      track.setAttribute("aria-valuetext", `${percent(w[0])} ${a}, ${percent(w[1])} ${b}`);
    },
    mark({ start = null, path = null, keys: points = null, inactive = false } = {}) {
      const at = (v) => `${(v[1] * 100).toFixed(2)}%`;
      ghost.style.display = start ? "" : "none";
      if (start) {
        ghost.style.left = at(start);
        ghost.title = `start: ${percent(start[0])} ${a}, ${percent(start[1])} ${b}`;
      }
      const along = (path ?? []).map((v) => v[1]);
      span.style.display = along.length ? "" : "none";
      if (along.length) {
        span.style.left = `${(Math.min(...along) * 100).toFixed(2)}%`;
        span.style.width = `${((Math.max(...along) - Math.min(...along)) * 100).toFixed(2)}%`;
      }
      keys.replaceChildren(...(points ?? []).map((v) => {
        const d = el("i");
        d.style.left = at(v);
        return d;
      }));
      thumb.classList.toggle("ps-inactive", inactive);
    },
  };
}

function createTriangle(labels, host) {
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
    t.textContent = labels[i].length > 22 ? `${labels[i].slice(0, 21)}…` : labels[i];
    const title = svg("title");
    title.textContent = labels[i];
    t.append(title);
    pad.append(t);
  });
  const guides = TRI.map((_, i) => svg("line", { stroke: COLORS[i], "stroke-width": "1.2", "stroke-dasharray": "3 3", "stroke-opacity": "0.8" }));
  guides.forEach((g) => pad.append(g));
  // schedule marks: the path ω travels, keypoints, and the start ω (a dashed ring)
  const path = svg("polyline", { class: "ps-path", fill: "none" });
  const keyDots = svg("g");
  const ghost = svg("circle", { class: "ps-ghost", r: 6.5 });
  ghost.dataset.testid = "paretoslider-start";
  const ghostTitle = svg("title");
  ghost.append(ghostTitle);
  pad.append(path, keyDots, ghost);
  const dot = svg("circle", { r: 7.5, fill: "#fff", stroke: "#0008", "stroke-width": "1" });
  dot.dataset.testid = "paretoslider-point";
  const core = svg("circle", { r: 3.5 });
  pad.append(dot, core);
  const showMark = (node, on) => node.setAttribute("display", on ? "inline" : "none");
  showMark(path, false);
  showMark(ghost, false);

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

  dragOmega(pad, host, (e) => {
    const m = pad.getScreenCTM();
    if (!m) return null;
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return pointToOmega([p.x, p.y], TRI);
  });
  pad.addEventListener("dblclick", () => host.commit(uniform(3), true));
  return {
    mode: "triangle",
    elements: [pad, legend],
    update(w) {
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
    },
    mark({ start = null, path: route = null, keys = null, inactive = false } = {}) {
      showMark(ghost, !!start);
      if (start) {
        const [x, y] = fromBarycentric(start, TRI);
        ghost.setAttribute("cx", x);
        ghost.setAttribute("cy", y);
        ghostTitle.textContent = `start: ${labels.map((l, i) => `${percent(start[i])} ${l}`).join(", ")}`;
      }
      showMark(path, !!route?.length);
      if (route?.length) path.setAttribute("points", route.map((v) => fromBarycentric(v, TRI).join(",")).join(" "));
      keyDots.replaceChildren(...(keys ?? []).map((v) => {
        const [x, y] = fromBarycentric(v, TRI);
        return svg("circle", { class: "ps-key", cx: x, cy: y, r: 3 });
      }));
      dot.classList.toggle("ps-inactive", inactive);
      core.classList.toggle("ps-inactive", inactive);
    },
  };
}

function createBars(labels, host) {
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
    const ghost = el("div", "ps-ghost-tick");   // schedule: the start weight (read-only)
    ghost.dataset.testid = `paretoslider-start-${i}`;
    ghost.style.display = "none";
    track.append(rail, fill, ghost);
    const pct = el("span", "ps-pct");
    row.append(d, name, track, pct);
    box.append(row);
    dragOmega(track, host, (e) => {
      const r = track.getBoundingClientRect();
      return setComponent(host.omega, i, (e.clientX - r.left) / Math.max(1, r.width));
    });
    return { fill, pct, ghost };
  });
  return {
    mode: "bars",
    elements: [box],
    update(w) {
      rows.forEach((r, i) => {
        r.fill.style.width = `${(w[i] * 100).toFixed(2)}%`;
        r.pct.textContent = percent(w[i]);
      });
    },
    mark({ start = null, inactive = false } = {}) {
      rows.forEach((r, i) => {
        r.ghost.style.display = start ? "" : "none";
        if (start) {
          r.ghost.style.left = `${(start[i] * 100).toFixed(2)}%`;
          r.ghost.title = `start: ${percent(start[i])} ${labels[i]}`;
        }
        r.fill.classList.toggle("ps-inactive", inactive);
      });
    },
  };
}
