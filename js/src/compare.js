/**
 * A comparison of two runs, as the view draws it: pure helpers, no DOM.
 *
 * `tb.GraphView(tb.compare(a, b))` sends one frozen state: the union of the
 * two runs' graphs (every node of b, and the nodes only a has). Its run
 * fields carry `compare: {a, b, classes, reused_b}` (the two runs, nodes
 * per class, nodes b reused) and each node `compare: {class, kind,
 * status_a?, status_b?, reused_a?, reused_b?}` (see docs/protocol.md,
 * *Comparisons*). A node is coloured by its class; colour is never the
 * only cue: each class but `equal` wears a glyph badge, its card's note
 * names it, a removed node's name is struck through, and a node b reused
 * keeps the reuse mark (paler, dashed).
 *
 * The classes' colours are defined once, in `style.css`, as `--tb-color`
 * of `tb-diff-<class>` (the legend's items), as the statuses' are.
 *
 * @module
 */

import { formatDuration } from "./format.js";
import { STATUSES } from "./status.js";

/** The difference classes, in the legend's order. */
export const CLASSES = /** @type {const} */ (["equal", "changed", "status", "added", "removed", "unknown"]);

/** @typedef {typeof CLASSES[number]} DiffClass */

/**
 * What each class means, for the legend and the details panel.
 *
 * @type {Readonly<Record<DiffClass, {label: string, glyph: string, title: string}>>}
 */
export const CLASS_INFO = {
  equal: { label: "equal", glyph: "=", title: "Both runs made the same value (or ended alike)" },
  changed: { label: "changed", glyph: "≠", title: "The same status in both runs, a different value (or error)" },
  status: { label: "status differs", glyph: "!", title: "The two runs ended this node in different statuses (e.g. failed vs done)" },
  added: { label: "added in b", glyph: "+", title: "Only run b has this node (a planner made it in b only)" },
  removed: { label: "removed in b", glyph: "−", title: "Only run a has this node: run b did not make it" },
  unknown: { label: "unknown", glyph: "?", title: "Both done, but the value has no stable digest: it cannot be compared" },
};

/**
 * Where a class's index starts in the stage's colour table: after the
 * statuses (`theme.status` holds the statuses' colours, then the classes').
 */
export const CLASS_BASE = STATUSES.length;

/** @type {ReadonlyMap<string, number>} */
const INDEX = new Map(CLASSES.map((c, i) => [c, i]));

/**
 * @typedef {object} NodeCompare
 * @property {DiffClass} class
 * @property {string} kind the comparison's row kind (`equal`, `changed`, `failed`, `added`, `only_b`, ...)
 * @property {string} [status_a] the node's status in run a (absent: a does not have it)
 * @property {string} [status_b]
 * @property {boolean} [reused_a] run a reused its result rather than made it
 * @property {boolean} [reused_b]
 */

/**
 * @typedef {object} CompareSide
 * @property {string} id the run's id
 * @property {string} [name]
 * @property {string} [status]
 * @property {number} [ended] seconds from its start to its end
 * @property {number} [created]
 * @property {string} [parent_run]
 */

/**
 * @typedef {object} RunCompare the run's `compare` field
 * @property {CompareSide} a
 * @property {CompareSide} b
 * @property {Record<string, number>} [classes] nodes per class
 * @property {number} [reused_b] nodes whose result run b reused
 */

/**
 * The run's `compare` field if the state is a comparison's (well-formed), else null.
 *
 * @param {{compare?: unknown} | null | undefined} run
 * @returns {RunCompare | null}
 */
export function runCompare(run) {
  const c = /** @type {unknown} */ (run?.compare);
  if (c === null || typeof c !== "object") return null;
  const { a, b } = /** @type {Record<string, unknown>} */ (c);
  const side = (/** @type {unknown} */ s) =>
    s !== null && typeof s === "object" && typeof (/** @type {{id?: unknown}} */ (s).id) === "string";
  return side(a) && side(b) ? /** @type {RunCompare} */ (c) : null;
}

/**
 * A node's `compare` field, its class checked (an unknown class counts as `unknown`), or null.
 *
 * @param {{compare?: unknown} | null | undefined} node
 * @returns {NodeCompare | null}
 */
export function compareOf(node) {
  const c = /** @type {unknown} */ (node?.compare);
  if (c === null || typeof c !== "object") return null;
  const fields = /** @type {Record<string, unknown>} */ (c);
  const cls = typeof fields.class === "string" && INDEX.has(fields.class) ? /** @type {DiffClass} */ (fields.class) : "unknown";
  /** @type {NodeCompare} */
  const out = { class: cls, kind: typeof fields.kind === "string" ? fields.kind : cls };
  if (typeof fields.status_a === "string") out.status_a = fields.status_a;
  if (typeof fields.status_b === "string") out.status_b = fields.status_b;
  if (fields.reused_a === true) out.reused_a = true;
  if (fields.reused_b === true) out.reused_b = true;
  return out;
}

/**
 * The node's class: `unknown` for a node without one (a newer or broken sender).
 *
 * @param {{compare?: unknown} | null | undefined} node
 * @returns {DiffClass}
 */
export function classOf(node) {
  return compareOf(node)?.class ?? "unknown";
}

/**
 * The node's index in the stage's colour table (after the statuses').
 *
 * @param {{compare?: unknown} | null | undefined} node
 * @returns {number}
 */
export function classIndex(node) {
  return CLASS_BASE + (INDEX.get(classOf(node)) ?? INDEX.get("unknown") ?? 0);
}

/**
 * The class at colour-table index `index`, or null for a status's index.
 *
 * @param {number} index
 * @returns {DiffClass | null}
 */
export function classAt(index) {
  return CLASSES[index - CLASS_BASE] ?? null;
}

/**
 * The CSS class that colours a difference class: `tb-diff-<class>`.
 *
 * @param {string | undefined} cls
 * @returns {string}
 */
export function diffClass(cls) {
  return "tb-diff-" + (cls !== undefined && INDEX.has(cls) ? cls : "unknown");
}

/**
 * A card's note in a comparison: what differs, in words (`failed → done`
 * for a status that differs), and `reused` when run b reused the result.
 *
 * @param {{compare?: unknown} | undefined} node
 * @returns {string}
 */
export function compareNote(node) {
  const c = compareOf(node);
  if (!c) return "";
  /** @type {string} */
  let text;
  switch (c.class) {
    case "status":
      text = `${c.status_a ?? "?"} → ${c.status_b ?? "?"}`;
      break;
    case "added":
      text = "added";
      break;
    case "removed":
      text = "removed";
      break;
    default:
      text = c.class;
  }
  return c.reused_b && c.class !== "removed" ? `${text} · reused` : text;
}

/**
 * An open box's header note in a comparison: its children's differences,
 * `+1 −2 ≠1` (added, removed, changed, status, unknown), or `all equal`.
 *
 * @param {Iterable<DiffClass | null>} children the classes of the box's children
 * @returns {string}
 */
export function headerNote(children) {
  /** @type {Record<string, number>} */
  const n = {};
  let total = 0;
  for (const c of children) {
    if (!c) continue;
    n[c] = (n[c] ?? 0) + 1;
    total++;
  }
  if (!total) return "";
  const parts = [];
  for (const c of /** @type {DiffClass[]} */ (["added", "removed", "changed", "status", "unknown"])) {
    if (n[c]) parts.push(`${CLASS_INFO[c].glyph}${n[c]}`);
  }
  return parts.length ? parts.join(" ") : "all equal";
}

/**
 * The legend of a comparison: one entry per class with its count, and
 * the reuse mark's count (nodes whose result b reused).
 *
 * @param {import("./reducer.js").State | null} state
 * @returns {{classes: {cls: DiffClass, count: number, label: string, glyph: string, title: string}[], reused: number}}
 */
export function legendEntries(state) {
  /** @type {Record<string, number>} */
  const counts = {};
  let reused = 0;
  if (state) {
    for (const id in state.nodes) {
      const c = compareOf(state.nodes[id]);
      const cls = c?.class ?? "unknown";
      counts[cls] = (counts[cls] ?? 0) + 1;
      if (c?.reused_b && cls !== "removed") reused++;
    }
  }
  return {
    classes: CLASSES.map((cls) => ({ cls, count: counts[cls] ?? 0, ...CLASS_INFO[cls] })),
    reused,
  };
}

/**
 * What the details panel says of one side of a node: each a row of the
 * two columns (`null`: that run does not have the node).
 *
 * @typedef {object} SideFacts
 * @property {string} status
 * @property {string} took how long it ran ("" if unknown); `reused` for a reused result
 * @property {string} made `executed`, `reused` (from where), or what its status means
 * @property {string} error `Type: message` ("" if none)
 * @property {string} [traceback]
 * @property {string | undefined} result the longer preview, or the summary's
 * @property {string} [output]
 */

/**
 * @param {import("./details.js").Details | undefined} side one run's details of the node
 * @returns {SideFacts | null}
 */
export function sideFacts(side) {
  if (!side || typeof side !== "object") return null;
  const status = typeof side.status === "string" ? side.status : "unknown";
  const cached = side.cached && typeof side.cached === "object" && typeof side.cached.run === "string" ? side.cached : null;
  const took =
    !cached && typeof side.started === "number" && typeof side.ended === "number" ? formatDuration(side.ended - side.started) : "";
  const made = cached
    ? `reused from run ${cached.run}${cached.node ? ` (node ${cached.node})` : ""}`
    : status === "done" || status === "failed"
      ? "executed"
      : status === "skipped"
        ? "not run (an upstream node failed)"
        : status === "cancelled"
          ? "not run (cancelled)"
          : "not run";
  const error = side.error && typeof side.error === "object" ? `${side.error.type}: ${side.error.message}` : "";
  const result = typeof side.result === "string" ? side.result : typeof side.preview === "string" ? side.preview : undefined;
  /** @type {SideFacts} */
  const out = { status, took: cached ? "reused" : took, made, error, result };
  if (typeof side.error?.traceback === "string" && side.error.traceback) out.traceback = side.error.traceback;
  if (typeof side.output === "string" && side.output) out.output = side.output;
  return out;
}

/**
 * A run of a comparison as its column head says it: `a · 1a2b3c4d`.
 *
 * @param {"a" | "b"} which
 * @param {CompareSide | undefined} side
 * @param {(id: string) => string} short
 * @returns {string}
 */
export function sideHead(which, side, short) {
  return side ? `${which} · ${short(side.id)}` : which;
}
