// One "ParetoSlider Preference Schedule" node's widget: the Preference control over the node's
// `end` STRING widget (the end ω, dragged like the Preference node's ω), plus read-only marks:
// the start ω (from the Preference node linked into `start`), the path ω takes while sampling,
// the keypoints, and a plot of the weights over the steps (strip.js). The node's widgets
// (end, curve, keypoints, axis) stay the values the Python node reads and the workflow saves.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { normalisePreference, percent } from "../simplex.js";
import { PreferenceController } from "./controller.js";
import { findStartSource } from "./graph.js";
import { parseKeypoints, previewRange, sampleSchedule } from "./schedule.js";
import { ScheduleStrip, stripHeight } from "./strip.js";

const START_NOTES = {
  none: "start: connect a Preference node",
  sweep: "start: a sweep (one ω per image)",
  other: "start: set upstream",
};

/** "90% · 10%": a legend's weights (the ω field shows the exact end ω). */
function weights(omega) {
  return omega.map(percent).join(" · ");
}

function widgetValue(node, name, fallback = "") {
  const v = node.widgets?.find((w) => w.name === name)?.value;
  return v == null ? fallback : String(v);
}

export class ScheduleController extends PreferenceController {
  constructor(node, endWidget) {
    super(node, endWidget);
    this.strip = new ScheduleStrip();
    this.view.addSection(this.strip.root);
    this.start = null;        // the start ω shown (null: unknown)
    this.markKey = "";
    this.keypointError = "";
  }

  minHeight() {
    return super.minHeight() + stripHeight(this.k);
  }

  maxHeight() {
    return super.maxHeight() + stripHeight(this.k);
  }

  /** The schedule the node's widgets and its `start` link describe, as the preview draws it. */
  schedule() {
    const curve = widgetValue(this.node, "curve", "linear");
    const axis = widgetValue(this.node, "axis", "percent");
    const { points, errors } = parseKeypoints(widgetValue(this.node, "keypoints"), this.k, axis);
    const src = findStartSource(this.node);
    let start = null;
    let startNote = START_NOTES[src.state] ?? START_NOTES.other;
    if (src.state === "preference") {
      const n = normalisePreference(src.text, this.k);
      if (n.repaired) startNote = `start: the Preference node's ω does not fit (${n.reason})`;
      else start = n.omega;
    }
    return { curve, axis, points, errors, start, startNote, end: this.omega };
  }

  updateValues() {
    super.updateValues();
    if (!this.strip) return; // the base constructor's first render
    const s = this.schedule();
    const keyed = s.points.length > 0;
    this.start = keyed ? null : s.start;
    const control = this.view.control;
    const samples = keyed || s.start ? sampleSchedule({ ...s, points: keyed ? s.points : null }) : null;
    control?.mark?.({
      start: this.start,
      path: samples ? samples.map((p) => p.omega) : null,
      keys: keyed ? s.points.map((p) => p.omega) : null,
      inactive: keyed,
    });
    const sigma = keyed && s.axis === "sigma";
    const range = keyed ? previewRange(s.axis, s.points) : [0, 1];
    const labels = this.labels;
    const named = (w) => labels.map((l, i) => `${percent(w[i])} ${l}`).join(", ");
    this.strip.show({
      start: keyed ? `${s.points.length} keypoint${s.points.length === 1 ? "" : "s"} (${s.axis})`
        : s.start ? `start ${weights(s.start)}` : s.startNote,
      startSym: keyed ? "key" : s.start ? "start" : null,
      startTitle: keyed ? "the keypoints replace start, end and curve"
        : s.start ? `start ω (the Preference node's): ${named(s.start)}` : s.startNote,
      end: keyed ? "end unused (keypoints)" : `end ${weights(this.omega)}${this.k === 2 ? " (drag)" : ""}`,
      endTitle: keyed ? "" : `end ω (drag the marker): ${named(this.omega)}`,
      stacked: this.k >= 3,
      samples,
      range,
      keys: keyed ? s.points.map((p) => p.at) : [],
      captions: sigma ? [`σ ${range[0]}`, "keypoints over σ", `σ ${range[1]}`]
        : ["first step", keyed ? "keypoints over progress" : `curve: ${s.curve}`, "last step"],
    });
    // a keypoint the node will refuse: say which line (the user edits the text box)
    const err = s.errors[0] ? `keypoints ${s.errors[0]}` : "";
    if (err !== this.keypointError) {
      this.keypointError = err;
      if (err) this.view.setStatus(err, true);
      else this.view.clearWarning();
    }
  }

  /** The marks depend on other widgets and on the start link, which fire no event here. */
  refresh() {
    super.refresh();
    if (this.dragging || !this.node.graph) return;
    const s = this.schedule();
    const key = JSON.stringify([s.curve, s.axis, s.points, s.errors, s.start, s.startNote]);
    if (key !== this.markKey) {
      this.markKey = key;
      this.updateValues();
    }
  }
}
