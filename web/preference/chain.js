// Chain a callback onto a LiteGraph node or widget: the one helper for every hook the
// Preference widget needs (node.onConnectionsChange, node.onConfigure, widget.callback, …).
// A helper module: ComfyUI imports every .js file under web/, so this file only exports.

/** Make `target[name]` call the function it had (if any), then `after` with the same
 *  `this` and arguments; the original's return value is kept. */
export function chainCallback(target, name, after) {
  const original = target[name];
  target[name] = function (...args) {
    const result = original?.apply(this, args);
    after.apply(this, args);
    return result;
  };
}
