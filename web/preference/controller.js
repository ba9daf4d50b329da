// One Preference node's widget: keeps the node's `preference` STRING widget (the value the
// Python node reads), the view (view.js + a control from controls.js) and the labels of the
// upstream slider source in step: a Loader's file (read from /paretoslider/info) or a
// "ParetoSlider from LoRAs" node (its names, read from its widgets). The schedule node's widget
// (schedule_controller.js) extends it. The ComfyUI hooks that call into it are set up in
// ../paretoslider_preference.js.
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.
import { app } from "../../../scripts/app.js";
import { formatPreference, normalisePreference, parsePreference, quantise } from "../simplex.js";
import { createControl, maxHeight, minHeight } from "./controls.js";
import { findSliderSource, isWidgetLinked, upstreamKey } from "./graph.js";
import { INFO_RETRY_MS, fetchInfo } from "./info.js";
import { isMissing, recommendedText } from "./recommended.js";
import { PreferenceView } from "./view.js";

export class PreferenceController {
  constructor(node, stringWidget) {
    this.node = node;
    this.stringWidget = stringWidget;
    this.k = 2;
    this.objectives = null;     // [{name,label}] from the file or the LoRA node, or null when unknown
    this.fileName = null;       // upstream loader's chosen file
    this.onValue = null;        // called after every write of the value (live, while dragging too)
    this.omega = [0.5, 0.5];
    this.lastText = null;       // the STRING value currently shown
    this.layoutKey = "";
    this.renderedK = undefined;
    this.dragging = false;      // set by the controls while a drag is held
    this.upstreamKey = undefined;
    this.failedAt = 0;          // when the last info read failed (0: it did not)
    this.refreshTimer = null;
    this.view = new PreferenceView({ onTyped: (text) => this.applyTyped(text), onStatus: () => this.resize() });
  }

  /** The DOM element of the widget. */
  get root() {
    return this.view.root;
  }

  get labels() {
    return Array.from({ length: this.k }, (_, i) => this.objectives?.[i]?.label ?? `objective ${i + 1}`);
  }

  /** The control's height plus the status' lines at the node's width. */
  minHeight() {
    return minHeight(this.k) + this.statusHeight();
  }

  maxHeight() {
    return maxHeight(this.k) + this.statusHeight();
  }

  statusHeight() {
    return this.view.statusHeight((this.node.size?.[0] ?? 340) - 20);
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
    if (!force && this.view.warn) this.view.clearWarning();   // a new value: an old message is stale
    if (n.repaired) this.view.setStatus(`repaired: ${n.reason}`, true, undefined, true);
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
    this.onValue?.(this);
  }

  /** Called by the controls (and the ω field): take ω as the new value. */
  commit(omega, final) {
    if (final) this.view.clearWarning(); // the user took over
    this.omega = quantise(omega);
    this.writeString(formatPreference(this.omega), final);
    this.updateValues();
  }

  applyTyped(text) {
    const parsed = parsePreference(text);
    const n = normalisePreference(text, this.k);
    if (n.repaired) {
      const len = Array.isArray(parsed) ? parsed.length : 0;
      this.view.setStatus(len && len !== this.k ? `need ${this.k} weights, got ${len}` : n.reason, true);
      if (len !== this.k) {
        this.view.resetExact();
        return;
      }
    }
    this.commit(n.omega, true);
  }

  // -- upstream slider source --
  async refreshInfo(up = findSliderSource(this.node)) {
    const key = upstreamKey(up);
    this.upstreamKey = key;
    this.failedAt = 0;
    const view = this.view;
    if (up.state === "ok" && up.kind === "loras") return this.applyLoras(up);
    if (up.state !== "ok" || !up.name) {
      this.fileName = null;
      this.objectives = null;
      view.setStatus(up.state === "other" ? "labels unknown (slider not from a Loader or LoRA node)"
        : up.state === "ok" ? "choose a ParetoSlider file in the Loader"
          : "connect a ParetoSlider Loader or ParetoSlider from LoRAs", false);
      this.sync(true);
      return;
    }
    this.fileName = up.name;
    view.setStatus(`reading ${up.name}…`);
    const info = await fetchInfo(up.name);
    if (this.upstreamKey !== key) return; // the user picked another file meanwhile
    if (info.error) {
      // keep the current K and generic labels; retried by refresh() (the file or route may appear)
      this.objectives = null;
      this.failedAt = Date.now();
      view.setStatus(isMissing(info.error) ? `${up.name} is not there yet: the Loader says where it goes and how to make it`
        : `labels unavailable: ${info.error}`, true);
      this.sync(true);
      return;
    }
    // the status names the file; its tooltip adds how the file was trained (how to sample it)
    const rec = recommendedText(info);
    const title = !rec ? up.name : `${up.name}\n${info.recommended?.error ? rec : `sample as trained: ${rec}`}`;
    this.useObjectives(info.objectives, up.name, title, `${up.name} has`);
  }

  /** Labels from a "ParetoSlider from LoRAs" node: its names, else its LoRA files' stems. */
  applyLoras(up) {
    this.fileName = null;
    if (up.objectives.length < 2) {
      this.objectives = null;
      this.view.setStatus("choose at least 2 LoRAs in ParetoSlider from LoRAs", true);
      this.sync(true);
      return;
    }
    const status = `${up.loras.length} LoRAs${up.method ? ` · ${up.method}` : ""}`;
    const title = up.loras.map((f, i) => `${up.objectives[i].label}: ${f}`).join("\n");
    this.useObjectives(up.objectives, status, title, `the LoRA node has`);
    if (up.extraNames) {
      this.view.setStatus(`${up.extraNames} name(s) more than LoRAs: the node will refuse them`, true);
    } else if (up.duplicates?.length) {
      this.view.setStatus(`name(s) used twice: ${up.duplicates.join(", ")}`, true);
    }
  }

  /** Take K and the labels from the slider source; reset ω (and say so) when its length differs. */
  useObjectives(objectives, status, title, owner) {
    const view = this.view;
    this.objectives = objectives;
    this.k = objectives.length;
    const parsed = parsePreference(this.readString());
    const mismatch = !Array.isArray(parsed) || parsed.length !== this.k;
    // equal weights (e.g. a fresh node's "0.5, 0.5") carry no choice worth warning about
    const total = Array.isArray(parsed) ? parsed.reduce((a, b) => a + b, 0) : NaN;
    const wasUniform = total > 0 && Math.max(...parsed) - Math.min(...parsed) <= 0.0015 * total;
    view.setStatus(status, false, title);
    this.sync(true);
    if (mismatch && !wasUniform) {
      view.setStatus(`ω reset to equal weights: ${owner} ${this.k} objectives`, true, undefined, true);
    } else if (mismatch) {
      view.setStatus(status, false, title);
    }
  }

  /** Cheap check of everything the widget shows: the STRING value, the upstream slider source
   *  (read again when it changed, or when the last read failed a while ago) and whether the
   *  value's input is linked. Run on graph events and by the fallback timer. */
  refresh() {
    if (this.dragging || !this.node.graph) return; // mid-drag, or removed / in a closed subgraph
    this.sync(false);
    const up = findSliderSource(this.node);
    const retry = this.failedAt && Date.now() - this.failedAt > INFO_RETRY_MS;
    if (upstreamKey(up) !== this.upstreamKey || retry) this.refreshInfo(up);
    this.view.setLinked(isWidgetLinked(this.node, this.stringWidget.name));
  }

  /** refresh() once the current task is done: events fire mid-change (a link is replaced by
   *  a disconnect and a connect; configure runs before the other nodes and links exist), and
   *  several in a row cost one refresh. */
  refreshSoon() {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      try {
        this.refresh();
      } catch (err) {
        console.warn("[ParetoSlider] preference widget update failed", err);
      }
    }, 0);
  }

  /** The node left the graph: stop pending work. */
  dispose() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  /** Fit the node to the control. While the node is at a height this chose (a new node, a
   *  change of K, or grown for a longer status) it follows the control both ways: a status that
   *  shortens gives its room back, down to the height the node had before it grew. A height
   *  the user or a saved workflow chose is kept: then the node only grows. */
  resize(kChanged = false) {
    this.view.setMinHeight(this.minHeight());
    const node = this.node;
    const min = node.computeSize?.();
    if (min && node.size) {
      const size = node.size[1];
      const ours = !!this.fit && Math.abs(size - this.fit.to) <= 1;
      const floor = kChanged ? 0 : ours ? this.fit.floor : size;
      const h = kChanged || ours ? Math.max(min[1], floor) : Math.max(size, min[1]);
      this.fit = kChanged || ours || h > size ? { floor, to: h } : null;
      const w = Math.max(node.size[0], min[0]);
      if (h !== size || w !== node.size[0]) node.setSize([w, h]);
    }
    node.setDirtyCanvas?.(true, true);
  }

  /** A new node: its height is the control's, so it follows the status both ways. */
  sizedByUs() {
    if (this.node.size) this.fit = { floor: 0, to: this.node.size[1] };
  }

  // -- rendering --
  render() {
    const labels = this.labels;
    const key = `${this.k}|${labels.join("|")}`;
    if (key !== this.layoutKey) {
      this.layoutKey = key;
      this.view.mount(createControl(this.k, labels, this), this.minHeight());
      if (this.renderedK !== undefined && this.renderedK !== this.k) this.resize(true);
      this.renderedK = this.k;
    }
    this.updateValues();
  }

  updateValues() {
    this.view.show(this.lastText ?? formatPreference(this.omega), this.omega);
  }
}
