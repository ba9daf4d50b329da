// Unit tests for web/simplex.js (node --test; no dependencies). Run by test_simplex_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  formatPreference, fromBarycentric, normalisePreference, parsePreference, percent,
  pointToOmega, quantise, repair, setComponent,
} from "../../web/simplex.js";

const sum = (a) => a.reduce((x, y) => x + y, 0);
const TRI = [[120, 26], [22, 190], [218, 190]];

test("parses the formats pareto_core.parse_preference reads", () => {
  assert.deepEqual(parsePreference("0.3, 0.7"), [0.3, 0.7]);
  assert.deepEqual(parsePreference("0.3; 0.7"), [0.3, 0.7]);
  assert.deepEqual(parsePreference("[0.3, 0.7]"), [0.3, 0.7]);
  assert.deepEqual(parsePreference('{"omega": [1, 3]}'), [1, 3]);
  assert.deepEqual(parsePreference({ value: [2, 2] }), [2, 2]);
  assert.equal(parsePreference(""), null);
  assert.equal(parsePreference(null), null);
  assert.ok(Number.isNaN(parsePreference("0.2, oops")[1]));
});

test("repair puts malformed values on the simplex", () => {
  assert.deepEqual(repair([1, 3], 2).omega, [0.25, 0.75]);
  assert.equal(repair([1, 3], 2).repaired, false);
  assert.deepEqual(repair([0.2, NaN], 2).omega, [1, 0]);
  assert.deepEqual(repair([-1, 1], 2).omega, [0, 1]);
  assert.deepEqual(repair([0, 0], 2).omega, [0.5, 0.5]);
  assert.deepEqual(repair([0.5, 0.5], 3).omega.length, 3);
  assert.equal(repair(null, 2).repaired, true);
});

test("quantised values sum to exactly 1 and format like the Python default", () => {
  for (const w of [[1 / 3, 1 / 3, 1 / 3], [0.1234, 0.8766], [0.2, 0.2, 0.2, 0.2, 0.2], [1e-9, 1 - 1e-9]]) {
    const q = quantise(w);
    assert.equal(Math.round(sum(q) * 1000), 1000);
    assert.ok(q.every((x) => x >= 0));
  }
  assert.equal(formatPreference([0.3, 0.7]), "0.300, 0.700");
  assert.equal(formatPreference([1, 1, 1]), "0.334, 0.333, 0.333");
  const n = normalisePreference("3, 1", 2);
  assert.equal(n.text, "0.750, 0.250");
  assert.equal(n.changed, true);
  assert.equal(normalisePreference("0.750, 0.250", 2).changed, false);
});

test("setting one bar renormalises the others proportionally", () => {
  const w = setComponent([0.5, 0.25, 0.25], 0, 0.8);
  assert.ok(Math.abs(w[0] - 0.8) < 1e-12 && Math.abs(w[1] - 0.1) < 1e-12 && Math.abs(w[2] - 0.1) < 1e-12);
  assert.deepEqual(setComponent([1, 0, 0], 0, 0.4), [0.4, 0.3, 0.3]);
  assert.deepEqual(setComponent([0.5, 0.5], 1, 7), [0, 1]);
});

test("triangle: corners, centre, and points outside clamp onto the border", () => {
  for (let i = 0; i < 3; i++) {
    const w = pointToOmega(TRI[i], TRI);
    assert.ok(Math.abs(w[i] - 1) < 1e-9);
  }
  const c = pointToOmega(fromBarycentric([1 / 3, 1 / 3, 1 / 3], TRI), TRI);
  c.forEach((x) => assert.ok(Math.abs(x - 1 / 3) < 1e-9));
  const out = pointToOmega([500, 500], TRI);
  assert.ok(out.every((x) => x >= 0) && Math.abs(sum(out) - 1) < 1e-9);
  assert.ok(Math.abs(out[2] - 1) < 1e-9); // nearest to the bottom-right corner
  const edge = pointToOmega([120, 300], TRI); // below the bottom edge's middle
  assert.ok(Math.abs(edge[0]) < 1e-9 && Math.abs(edge[1] - 0.5) < 1e-9);
});

test("percent labels", () => {
  assert.equal(percent(0.5), "50%");
  assert.equal(percent(0.333), "33.3%");
});
