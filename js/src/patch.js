/**
 * JSON merge patch (RFC 7386), the format of every batch's `patch`.
 *
 * `applyPatch` MUTATES its target in place and returns the result: the state
 * of a 10,000-node run is patched many times a second, and copying it each
 * time would cost more than the patch. Objects that the patch introduces are
 * copied (so a `null` inside them is dropped, as the RFC requires, and the
 * target never shares an object with the patch); arrays and other values are
 * taken as they are, since a merge patch replaces arrays whole.
 *
 * @module
 */

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
export function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Apply `patch` to `target` (RFC 7386 section 2).
 *
 * If both are objects, `target` is changed in place and returned. If `patch`
 * is not an object, it replaces the target and is returned. If `target` is
 * not an object but `patch` is, a new object is built and returned. A
 * `__proto__` key is ignored (it is never part of the state and setting it
 * would change an object's prototype).
 *
 * @param {unknown} target
 * @param {unknown} patch
 * @returns {unknown} the patched value
 *
 * @example
 * const state = {a: 1, b: {c: 2}};
 * applyPatch(state, {b: {c: null, d: 3}}); // state is now {a: 1, b: {d: 3}}
 */
export function applyPatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = isObject(target) ? target : {};
  for (const key of Object.keys(patch)) {
    if (key === "__proto__") continue;
    const value = patch[key];
    if (value === null) delete out[key];
    else if (isObject(value)) out[key] = applyPatch(out[key], value);
    else out[key] = value;
  }
  return out;
}
