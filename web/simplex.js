// Pure helpers for preference vectors ω on the simplex (no DOM, no ComfyUI imports).
// Used by preference/controller.js and preference/controls.js; unit-tested with node (tests/browser/simplex.test.mjs).
// The Python side (pareto_core.parse_preference / validate_preference) stays the authority:
// these helpers only keep what the widget writes on the simplex and readable.

export const DECIMALS = 3;
const SCALE = 10 ** DECIMALS;

/** Read a saved preference the way pareto_core.parse_preference does.
 *  Accepts "0.3, 0.7", "0.3; 0.7", "[0.3, 0.7]", '{"omega": [..]}', arrays and {omega|value}.
 *  Returns an array of numbers (possibly NaN) or null when nothing list-like can be read. */
export function parsePreference(value) {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(Number);
  if (typeof value === "object") {
    const inner = value.omega ?? value.value;
    return inner === undefined ? null : parsePreference(inner);
  }
  if (typeof value === "number") return [value];
  const text = String(value).trim();
  if (!text) return null;
  try {
    const parsed = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object") return parsePreference(parsed);
    if (typeof parsed === "number") return [parsed];
  } catch {
    // not JSON: comma / semicolon separated
  }
  const parts = text.replace(/[[\]]/g, "").split(/[,;]/).map((p) => p.trim()).filter(Boolean);
  if (!parts.length) return null;
  return parts.map((p) => (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?%?$/i.test(p) ? parseFloat(p) : NaN));
}

export function uniform(k) {
  return Array.from({ length: k }, () => 1 / k);
}

/** Put `values` on the K-simplex. Returns {omega, repaired, reason}.
 *  Wrong length or unreadable → uniform; NaN/negative → 0; all zero → uniform; else normalised. */
export function repair(values, k) {
  if (!Array.isArray(values)) {
    return { omega: uniform(k), repaired: true, reason: "unreadable value, reset to equal weights" };
  }
  if (values.length !== k) {
    return {
      omega: uniform(k), repaired: true,
      reason: `had ${values.length} value(s) for ${k} objectives, reset to equal weights`,
    };
  }
  let repaired = false;
  let reason = "";
  const clean = values.map((v) => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) {
      repaired = true;
      reason = "negative or non-numeric weight set to 0";
      return 0;
    }
    return x;
  });
  const total = clean.reduce((a, b) => a + b, 0);
  if (!(total > 0)) {
    return { omega: uniform(k), repaired: true, reason: "all weights were zero, reset to equal weights" };
  }
  return { omega: clean.map((x) => x / total), repaired, reason };
}

/** Round to DECIMALS places keeping the sum exactly 1 (largest-remainder rounding). */
export function quantise(omega) {
  const scaled = omega.map((w) => Math.max(0, w) * SCALE);
  const total = scaled.reduce((a, b) => a + b, 0) || 1;
  const norm = scaled.map((s) => (s * SCALE) / total);
  const ints = norm.map(Math.floor);
  let left = SCALE - ints.reduce((a, b) => a + b, 0);
  const order = norm.map((s, i) => [s - Math.floor(s), i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) ints[order[j][1]] += 1;
  return ints.map((n) => n / SCALE);
}

/** "0.300, 0.700": the STRING widget format the Python node parses. */
export function formatPreference(omega) {
  return quantise(omega).map((w) => w.toFixed(DECIMALS)).join(", ");
}

/** Read + repair + quantise in one go: what the widget shows for a saved string. */
export function normalisePreference(text, k) {
  const { omega, repaired, reason } = repair(parsePreference(text), k);
  const q = quantise(omega);
  const formatted = q.map((w) => w.toFixed(DECIMALS)).join(", ");
  return { omega: q, text: formatted, repaired, reason, changed: formatted !== String(text ?? "") };
}

/** Set component i to v (clamped to [0,1]); the others share 1−v in their current proportions. */
export function setComponent(omega, i, v) {
  const k = omega.length;
  const x = Math.min(1, Math.max(0, Number(v) || 0));
  const rest = omega.reduce((a, w, j) => (j === i ? a : a + w), 0);
  return omega.map((w, j) => {
    if (j === i) return x;
    return rest > 1e-12 ? (w / rest) * (1 - x) : (1 - x) / (k - 1);
  });
}

export function percent(w) {
  return `${Math.round(w * 1000) / 10}%`.replace(/\.0%$/, "%");
}

// ---- the triangle pad (K = 3) -------------------------------------------------------------

/** Barycentric coordinates of point p in triangle [a, b, c] (points as [x, y]). */
export function toBarycentric(p, [a, b, c]) {
  const det = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
  const l1 = ((b[1] - c[1]) * (p[0] - c[0]) + (c[0] - b[0]) * (p[1] - c[1])) / det;
  const l2 = ((c[1] - a[1]) * (p[0] - c[0]) + (a[0] - c[0]) * (p[1] - c[1])) / det;
  return [l1, l2, 1 - l1 - l2];
}

export function fromBarycentric(w, [a, b, c]) {
  return [w[0] * a[0] + w[1] * b[0] + w[2] * c[0], w[0] * a[1] + w[1] * b[1] + w[2] * c[1]];
}

function closestOnSegment(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy || 1;
  const t = Math.min(1, Math.max(0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2));
  return [a[0] + t * dx, a[1] + t * dy];
}

/** ω for a point p: inside the triangle its barycentric coordinates, outside those of the
 *  nearest point on the triangle's border (so dragging past an edge slides along it). */
export function pointToOmega(p, tri) {
  const w = toBarycentric(p, tri);
  if (w.every((x) => x >= 0)) return w;
  let best = null;
  let bestD = Infinity;
  for (const [a, b] of [[tri[0], tri[1]], [tri[1], tri[2]], [tri[2], tri[0]]]) {
    const q = closestOnSegment(p, a, b);
    const d = (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2;
    if (d < bestD) {
      bestD = d;
      best = q;
    }
  }
  return toBarycentric(best, tri).map((x) => Math.max(0, x));
}
