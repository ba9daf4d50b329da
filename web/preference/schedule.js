// ω schedules as the "ParetoSlider Preference Schedule" node reads its widgets (end, curve,
// keypoints, axis), for the widget's preview only: the Python node (nodes/schedule.py) is what
// samples with them, and refuses what it cannot read. Kept in step with it by
// tests/browser/test_schedule_js.py, which evaluates both on the same inputs.
// Pure (no DOM, no ComfyUI imports); unit-tested with node (tests/browser/schedule_helpers.test.mjs).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { parsePreference, repair } from "../simplex.js";

export const SCHEDULE_NODE = "ParetoSliderSchedule";
export const END_WIDGET = "end";
export const SCHEDULE_WIDGETS = ["end", "curve", "keypoints", "axis"];

/** How far from start to end ω is at progress t ∈ [0, 1] (0 = first step, 1 = last). */
export const CURVES = {
  linear: (t) => t,
  smoothstep: (t) => t * t * (3 - 2 * t),
  ease_in: (t) => t * t,
  ease_out: (t) => 1 - (1 - t) * (1 - t),
  step: (t) => (t < 0.5 ? 0 : 1),
};

export function curveAt(curve, t) {
  const f = CURVES[curve] ?? CURVES.linear;
  return f(Math.min(1, Math.max(0, t)));
}

export function mix(a, b, s) {
  return a.map((x, i) => x + (b[i] - x) * s);
}

/** Read the keypoints text as pareto_core.schedule.parse_keypoints does: one
 *  `<position>: <w1>, <w2>, ...` per line, blank lines and # comments skipped; percent positions
 *  in 0..1, σ positions ≥ 0, no position twice. Returns {points: [{at, omega}] sorted by
 *  position, errors: ["line 2: …"]}; ω is put on the simplex (as the node normalises it). */
export function parseKeypoints(text, k, axis = "percent") {
  const points = [];
  const errors = [];
  String(text ?? "").split(/\r?\n/).forEach((raw, i) => {
    const line = raw.split("#", 1)[0].trim();
    if (!line) return;
    const n = i + 1;
    const colon = line.indexOf(":");
    if (colon < 0) {
      errors.push(`line ${n} has no ':'; write e.g. 0.5: 0.3, 0.7`);
      return;
    }
    const where = line.slice(0, colon).trim();
    const at = where && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(where) ? Number(where) : NaN;
    if (!Number.isFinite(at)) {
      errors.push(`line ${n}: ${JSON.stringify(where)} is not a number`);
      return;
    }
    if (axis === "sigma" ? at < 0 : at < 0 || at > 1) {
      errors.push(axis === "sigma" ? `line ${n}: σ position ${at} is negative`
        : `line ${n}: percent position ${at} is outside 0..1`);
      return;
    }
    const values = parsePreference(line.slice(colon + 1));
    if (!Array.isArray(values) || values.length !== k) {
      errors.push(`line ${n}: need ${k} weights, got ${Array.isArray(values) ? values.length : 0}`);
      return;
    }
    const r = repair(values, k);
    if (r.repaired) {
      errors.push(`line ${n}: ${r.reason}`);
      return;
    }
    if (points.some((p) => p.at === at)) {
      errors.push(`line ${n}: position ${at} is given twice`);
      return;
    }
    points.push({ at, omega: r.omega });
  });
  points.sort((a, b) => a.at - b.at);
  return { points, errors };
}

/** ω of piecewise-linear keypoints at position x (constant outside them). */
export function keypointsAt(points, x) {
  if (!points.length) return null;
  if (x <= points[0].at) return points[0].omega;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (x <= b.at) return b.at > a.at ? mix(a.omega, b.omega, (x - a.at) / (b.at - a.at)) : b.omega;
  }
  return points[points.length - 1].omega;
}

/** The x range a preview plots, left (first step) to right (last step). Percent: 0 → 1.
 *  σ falls while sampling: high σ on the left; [1, 0] when the keypoints lie in it (flow
 *  models), else the keypoints' own range. */
export function previewRange(axis, points) {
  if (axis !== "sigma") return [0, 1];
  const at = points.map((p) => p.at);
  const hi = Math.max(1, ...at);
  const lo = Math.min(0, ...at);
  return [hi, lo];
}

/** n + 1 samples [{x, omega}] of the schedule across its preview range, for drawing.
 *  With keypoints, each keypoint's position is sampled too (the corners stay sharp). */
export function sampleSchedule({ start, end, curve, points, axis }, n = 48) {
  const [x0, x1] = points?.length ? previewRange(axis, points) : [0, 1];
  const xs = Array.from({ length: n + 1 }, (_, i) => x0 + ((x1 - x0) * i) / n);
  if (points?.length) {
    for (const p of points) if ((p.at - x0) * (p.at - x1) <= 0) xs.push(p.at);
    xs.sort((a, b) => (x1 >= x0 ? a - b : b - a));
    return xs.map((x) => ({ x, omega: keypointsAt(points, x) }));
  }
  if (curve === "step") {                  // a jump: sample both sides of it
    xs.push(0.5 - 1e-9);
    xs.sort((a, b) => a - b);
  }
  return xs.map((x) => ({ x, omega: mix(start, end, curveAt(curve, x)) }));
}
