// Objective names and labels of a ParetoSlider file and its recommended sampling settings,
// from the server (GET /paretoslider/info).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { api } from "../../../scripts/api.js";

/** A failed read is retried after this long (the file or the route may appear). */
export const INFO_RETRY_MS = 5000;

const infoCache = new Map(); // file name → {at, ok, promise}

/** Resolves to {objectives: [{name, label}], architecture, recommended} or {error}; never
 *  rejects. `recommended` is the file's sampling settings as the server gives them
 *  ({steps, cfg, width, height, guidance, text, defaulted} or {error}; null from an older server).
 *  Successes are cached for the page's lifetime, failures for INFO_RETRY_MS. */
export function fetchInfo(name) {
  const hit = infoCache.get(name);
  if (hit && (hit.ok || Date.now() - hit.at < INFO_RETRY_MS)) return hit.promise;
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
        recommended: body.recommended && typeof body.recommended === "object" ? body.recommended : null,
      };
    } catch (err) {
      return { error: `cannot reach the server (${err?.message ?? err})` };
    }
  })();
  infoCache.set(name, entry);
  return entry.promise;
}
