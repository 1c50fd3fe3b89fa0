/**
 * The timeline's pure parts: rows from node summaries, grouping, the time
 * scale, the visible slice of rows, and aggregation of big runs.
 *
 * The timeline derives from the node summaries the view already has (a
 * snapshot and its merge patches: `started`, `ended`, `attempt`, and for a
 * node that was retried or waited, `attempts` and `waits`), so it is live
 * with no request of its own; only grouping by function asks the run once
 * for its function names (the `functions` request).
 *
 * No DOM here: everything is tested under vitest.
 *
 * @module
 */

/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/** What rows may be grouped by. */
export const GROUP_BY = /** @type {const} */ (["parent", "tag", "function"]);
/** @typedef {typeof GROUP_BY[number]} GroupBy */

/** More nodes than this: one row per group, a density bar instead of bars. */
export const AGGREGATE_OVER = 20000;

export const TOP_LEVEL = "(top level)";
export const NO_TAG = "(no tag)";
export const UNKNOWN_FUNCTION = "(unknown)";

/**
 * One node's row: times in seconds from the run's start; `end` null while open.
 *
 * @typedef {object} Bar
 * @property {string} id
 * @property {string} status
 * @property {number | null} start its first attempt's start (null: never started)
 * @property {number | null} end
 * @property {[number, number | null, string][]} attempts every attempt: start, end, outcome
 * @property {[number, number | null][]} waits waits for an answer
 */

/**
 * @typedef {object} Group
 * @property {string} key
 * @property {number} count nodes in it
 * @property {number | null} start earliest start
 * @property {number | null} end latest end (null while some node is open)
 * @property {boolean} collapsed
 * @property {Bar[]} bars in order of start (never started last), then id
 */

/**
 * A drawn line: a group's header, a node's bar, or (aggregated) a group's density.
 *
 * @typedef {{kind: "group", group: Group} | {kind: "node", bar: Bar, group: Group} | {kind: "density", group: Group}} Line
 */

/**
 * The bar of one node summary.
 *
 * @param {string} id
 * @param {NodeSummary & {attempts?: [number, number, string][], waits?: number[][]}} s
 * @returns {Bar}
 */
export function barOf(id, s) {
  /** @type {[number, number | null, string][]} */
  const attempts = [];
  for (const a of s.attempts ?? []) attempts.push([a[0], a[1], a[2]]);
  const started = s.started ?? null;
  const ended = s.ended ?? null;
  if (started !== null) attempts.push([started, ended, s.status]);
  /** @type {[number, number | null][]} */
  const waits = [];
  for (const w of s.waits ?? []) waits.push([w[0], w.length > 1 ? w[1] : null]);
  return {
    id,
    status: s.status,
    start: attempts.length ? attempts[0][0] : null,
    end: started === null ? null : ended,
    attempts,
    waits,
  };
}

/**
 * The group key of a node.
 *
 * @param {string} id
 * @param {NodeSummary} s
 * @param {GroupBy} by
 * @param {Record<string, string> | null} [functions] node id → function name
 * @returns {string}
 */
export function groupKey(id, s, by, functions) {
  if (by === "tag") return s.tags && s.tags.length ? s.tags[0] : NO_TAG;
  if (by === "function") return functions?.[id] ?? UNKNOWN_FUNCTION;
  return s.parent ?? TOP_LEVEL;
}

/**
 * @param {Bar} a
 * @param {Bar} b
 */
function byStart(a, b) {
  if (a.start === b.start) return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  if (a.start === null) return 1;
  if (b.start === null) return -1;
  return a.start - b.start;
}

/**
 * Group every node: groups in order of their first start (top level first
 * when grouping by parent), bars in each in order of start.
 *
 * @param {Record<string, NodeSummary>} nodes
 * @param {GroupBy} by
 * @param {{collapsed?: ReadonlySet<string>, functions?: Record<string, string> | null}} [options]
 * @returns {Group[]}
 */
export function buildGroups(nodes, by, options = {}) {
  const collapsed = options.collapsed ?? new Set();
  /** @type {Map<string, Group>} */
  const groups = new Map();
  for (const id in nodes) {
    const s = nodes[id];
    const key = groupKey(id, s, by, options.functions);
    let g = groups.get(key);
    if (!g) {
      g = { key, count: 0, start: null, end: null, collapsed: collapsed.has(key), bars: [] };
      groups.set(key, g);
    }
    const bar = barOf(id, s);
    g.bars.push(bar);
    g.count++;
  }
  for (const g of groups.values()) {
    g.bars.sort(byStart);
    let open = false;
    for (const b of g.bars) {
      if (b.start !== null && (g.start === null || b.start < g.start)) g.start = b.start;
      if (b.start !== null && b.end === null) open = true;
      if (b.end !== null && (g.end === null || b.end > g.end)) g.end = b.end;
    }
    if (open) g.end = null;
  }
  const out = [...groups.values()];
  out.sort((a, b) => {
    if (by === "parent" && (a.key === TOP_LEVEL) !== (b.key === TOP_LEVEL)) return a.key === TOP_LEVEL ? -1 : 1;
    const sa = a.start ?? Infinity;
    const sb = b.start ?? Infinity;
    return sa !== sb ? sa - sb : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  });
  return out;
}

/**
 * The lines drawn, top to bottom: each group's header, then its bars unless
 * it is collapsed; past `aggregateOver` nodes, one density line per group.
 *
 * @param {Group[]} groups
 * @param {{aggregateOver?: number, headers?: boolean}} [options] `headers`: draw group
 *   headers even when there is a single group (default: only with two or more)
 * @returns {{lines: Line[], aggregated: boolean, nodes: number}}
 */
export function buildLines(groups, options = {}) {
  const limit = options.aggregateOver ?? AGGREGATE_OVER;
  let nodes = 0;
  for (const g of groups) nodes += g.count;
  const aggregated = nodes > limit;
  /** @type {Line[]} */
  const lines = [];
  const headers = options.headers ?? groups.length > 1;
  for (const group of groups) {
    if (aggregated) {
      lines.push({ kind: "density", group });
      continue;
    }
    if (headers) lines.push({ kind: "group", group });
    if (headers && group.collapsed) continue;
    for (const bar of group.bars) lines.push({ kind: "node", bar, group });
  }
  return { lines, aggregated, nodes };
}

/**
 * Seconds ↔ pixels: `x = (t - t0) * (width / (t1 - t0)) + left`.
 *
 * @typedef {object} Scale
 * @property {number} t0
 * @property {number} t1
 * @property {number} left first pixel of the time axis
 * @property {number} width pixels of the time axis
 */

/**
 * @param {number} t0
 * @param {number} t1
 * @param {number} left
 * @param {number} width
 * @returns {Scale}
 */
export function makeScale(t0, t1, left, width) {
  const span = t1 - t0 > 1e-6 ? t1 - t0 : 1e-6;
  return { t0, t1: t0 + span, left, width: Math.max(1, width) };
}

/**
 * @param {Scale} s
 * @param {number} t seconds
 */
export function toX(s, t) {
  return s.left + ((t - s.t0) * s.width) / (s.t1 - s.t0);
}

/**
 * @param {Scale} s
 * @param {number} x pixels
 */
export function toTime(s, x) {
  return s.t0 + ((x - s.left) * (s.t1 - s.t0)) / s.width;
}

/**
 * Zoom by `factor` (> 1: in) keeping the time under pixel `x` in place.
 *
 * @param {Scale} s
 * @param {number} factor
 * @param {number} x
 * @returns {Scale}
 */
export function zoomAt(s, factor, x) {
  const t = toTime(s, x);
  const span = Math.min(1e7, Math.max(1e-4, (s.t1 - s.t0) / factor));
  const frac = (x - s.left) / s.width;
  const t0 = t - frac * span;
  return makeScale(t0, t0 + span, s.left, s.width);
}

/**
 * Move the time window by `dx` pixels (positive: the bars move right, earlier times come into view).
 *
 * @param {Scale} s
 * @param {number} dx
 * @returns {Scale}
 */
export function panBy(s, dx) {
  const dt = (dx * (s.t1 - s.t0)) / s.width;
  return makeScale(s.t0 - dt, s.t1 - dt, s.left, s.width);
}

/**
 * The time window that shows the whole run: from 0 to its latest known time, with a margin.
 *
 * @param {Group[]} groups
 * @param {number | null | undefined} now the run's clock (seconds), for open bars
 * @returns {[number, number]}
 */
export function extent(groups, now) {
  let t1 = 0;
  for (const g of groups) {
    if (g.end !== null && g.end > t1) t1 = g.end;
    if (g.end === null && g.start !== null) t1 = Math.max(t1, now ?? g.start);
    for (const b of g.bars) {
      const e = b.end ?? (b.start !== null ? (now ?? b.start) : 0);
      if (e > t1) t1 = e;
    }
  }
  if (now !== null && now !== undefined && now > t1) t1 = now;
  if (t1 <= 0) t1 = 1;
  return [0, t1 * 1.02];
}

/**
 * The lines in view: `[first, last)` of `count` lines of `rowHeight` pixels scrolled by `scroll`.
 *
 * @param {number} count
 * @param {number} scroll pixels scrolled from the top
 * @param {number} height pixels in view
 * @param {number} rowHeight
 * @returns {[number, number]}
 */
export function visibleLines(count, scroll, height, rowHeight) {
  const first = Math.min(count, Math.max(0, Math.floor(scroll / rowHeight)));
  const last = Math.min(count, Math.ceil((scroll + height) / rowHeight));
  return [first, Math.max(first, last)];
}

/**
 * How many of a group's nodes run in each of `bins` equal slices of `[t0, t1)`.
 *
 * A node counts in every slice its bar (first start to end, `now` while
 * open) overlaps; O(nodes + bins) with a difference array.
 *
 * @param {Group} group
 * @param {number} t0
 * @param {number} t1
 * @param {number} bins
 * @param {number | null | undefined} now
 * @returns {Float64Array}
 */
export function density(group, t0, t1, bins, now) {
  const n = Math.max(1, Math.floor(bins));
  const diff = new Float64Array(n + 1);
  const span = t1 - t0 > 0 ? t1 - t0 : 1;
  for (const b of group.bars) {
    if (b.start === null) continue;
    const end = b.end ?? now ?? b.start;
    if (end < t0 || b.start >= t1) continue;
    const i = Math.max(0, Math.floor(((b.start - t0) / span) * n));
    const j = Math.min(n - 1, Math.floor(((Math.min(end, t1) - t0) / span) * n));
    diff[i] += 1;
    diff[j + 1] -= 1;
  }
  const out = new Float64Array(n);
  let run = 0;
  for (let k = 0; k < n; k++) {
    run += diff[k];
    out[k] = run;
  }
  return out;
}
