// The schedule node's preview under its control: a legend (the dashed start ring, the end
// marker) and a small plot of each objective's weight over the sampling steps, for the
// schedule the node's widgets describe (schedule.js samples it). Draws only.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { COLORS } from "./controls.js";
import { el, svg } from "./view.js";

const W = 240;  // plot user units; the plot stretches to the widget's width (strokes do not)
const H = 46;

/** The preview's height (px) for K objectives: legend (two lines from K = 3 on, where the
 *  weights are long) + plot + axis captions + gaps. */
export function stripHeight(k) {
  return k >= 3 ? 100 : 98;
}

export class ScheduleStrip {
  constructor() {
    this.root = el("div", "ps-sched");
    this.root.dataset.testid = "paretoslider-schedule";
    this.legend = el("div", "ps-legend2");
    this.startText = el("span");
    this.endText = el("span");
    this.legend.append(this.startText, this.endText);
    this.plot = svg("svg", { class: "ps-plot", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
    for (const v of [0, 0.5, 1]) {
      const y = (1 - v) * (H - 2) + 1;
      this.plot.append(svg("line", { class: "ps-grid", x1: 0, x2: W, y1: y, y2: y, "vector-effect": "non-scaling-stroke",
        "stroke-dasharray": v === 0.5 ? "3 3" : "" }));
    }
    this.keyLines = svg("g");
    this.lines = svg("g");
    this.plot.append(this.keyLines, this.lines);
    this.axis = el("div", "ps-axis");
    this.left = el("span");
    this.mid = el("span", "mid");
    this.right = el("span");
    this.axis.append(this.left, this.mid, this.right);
    this.root.append(this.legend, this.plot, this.axis);
  }

  /** legend: {start: text, startSym: "start" | "key" | null, startTitle, end: text, endTitle,
   *  stacked: one line each}; samples: [{x, omega}] (x across range [x0, x1]) or null; keys:
   *  keypoint positions; captions: [left, middle, right] under the plot. */
  show({ start, startSym = "start", startTitle = "", end, endTitle = "", stacked = false, samples,
    range = [0, 1], keys = [], captions }) {
    this.legend.classList.toggle("stacked", stacked);
    this.startText.replaceChildren(...(startSym ? [el("i", `ps-sym ${startSym}`)] : []), start);
    this.startText.title = startTitle;
    this.endText.replaceChildren(el("i", "ps-sym end"), end);
    this.endText.title = endTitle;
    const [x0, x1] = range;
    const px = (x) => (x1 === x0 ? 0 : ((x - x0) / (x1 - x0)) * W);
    const py = (v) => (1 - v) * (H - 2) + 1;
    this.keyLines.replaceChildren(...keys.map((x) => svg("line", {
      x1: px(x), x2: px(x), y1: 0, y2: H, stroke: "currentColor", "stroke-opacity": "0.35",
      "stroke-dasharray": "2 2", "vector-effect": "non-scaling-stroke" })));
    const k = samples?.[0]?.omega.length ?? 0;
    this.lines.replaceChildren(...Array.from({ length: k }, (_, i) => svg("polyline", {
      points: samples.map((s) => `${px(s.x).toFixed(2)},${py(s.omega[i]).toFixed(2)}`).join(" "),
      fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": "2", "stroke-linejoin": "round",
      "vector-effect": "non-scaling-stroke" })));
    [this.left.textContent, this.mid.textContent, this.right.textContent] = captions;
  }
}
