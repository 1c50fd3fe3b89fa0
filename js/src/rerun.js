/**
 * Rerun, as the view shows and offers it: pure helpers, no DOM.
 *
 * A rerun is a new run of the run shown that executes what was asked (a
 * node: "Rerun from here") or what changed ("Rerun changed", `nodes:
 * null`) and reuses every other node's result (see docs/cache.md). The
 * view sends `{"type": "rerun", "nodes"}`; the kernel (or the server)
 * answers `{"type": "rerun", "run_id", "parent_run"}` and moves the view
 * to the new run, whose snapshot follows.
 *
 * What the state says of it:
 *
 * - a node summary's `cached: {"run", "node"}`: its result was reused, not
 *   made (from the cache, or in a rerun from the parent run);
 * - the run's `parent_run` (the run a rerun reuses) and `cache: {"hits",
 *   "misses", "uncacheable"}`.
 *
 * @module
 */

import { RUN_ENDED } from "./status.js";

/** @typedef {import("./reducer.js").RunInfo} RunInfo */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * Where a reused node's result was made.
 *
 * @typedef {object} Cached
 * @property {string} run the run that made it
 * @property {string} node the node of that run
 */

/**
 * How a view may rerun.
 *
 * @typedef {object} RerunPolicy
 * @property {boolean} [storedNeedsGraph] a stored run is rerun with the graph the view was given,
 *   which its `continuable` field says it has (true, the notebook's view); false: whoever answers
 *   finds the graph (the server, from its registry)
 * @property {string} [refused] this view cannot rerun at all, and this says why (its controls
 *   show disabled, with it as their tooltip)
 */

/**
 * Why the run cannot be rerun now, or "" when it can: a rerun needs a run
 * that has ended (done, failed or cancelled); a stored run whose process
 * is gone (`interrupted`) counts as ended, its done nodes reused.
 *
 * @param {RunInfo | null | undefined} run
 * @param {RerunPolicy} [policy]
 * @returns {string} the reason (a control's tooltip), "" if a rerun may be asked for
 */
export function rerunBlock(run, policy = {}) {
  if (policy.refused) return policy.refused;
  if (!run) return "No run to rerun yet";
  const status = run.status;
  if (run.stored) {
    if (status === "running" || status === "paused") {
      return `The run is ${status} in another process: rerun it once it has ended`;
    }
    if (policy.storedNeedsGraph !== false && !run.continuable) {
      return "This view has no graph for this stored run: open it with tb.open_run(run_id, store, graph=g) (or GraphView(store, graphs={name: g})) to rerun it";
    }
    return "";
  }
  if (RUN_ENDED.has(status)) return "";
  if (status === "paused") return "The run is paused: a rerun needs a run that has ended (resume it, or cancel it)";
  return "The run has not ended: rerun it once it is done, failed or cancelled";
}

/**
 * The node's `cached` field if it is well-formed, else null.
 *
 * @param {{cached?: unknown} | undefined} node a node summary (or details)
 * @returns {Cached | null}
 */
export function cachedOf(node) {
  const c = /** @type {unknown} */ (node?.cached);
  if (c === null || typeof c !== "object") return null;
  const { run, node: from } = /** @type {Record<string, unknown>} */ (c);
  return typeof run === "string" && run && typeof from === "string" ? { run, node: from } : null;
}

/**
 * Whether a node's result was reused (drawn with the reuse mark).
 *
 * @param {NodeSummary | undefined} node
 * @returns {boolean}
 */
export function isReused(node) {
  return node !== undefined && node.cached !== undefined && cachedOf(node) !== null;
}

/**
 * `Reused from run R (node N)`, for the details panel.
 *
 * @param {Cached} cached
 * @returns {string}
 */
export function reusedText(cached) {
  return `Reused from run ${cached.run} (node ${cached.node})`;
}

/**
 * A run id short enough for the toolbar: a run id is `<name>-<8 hex digits>`,
 * so its hex part; any other id cut to 12 characters.
 *
 * @param {string} id
 * @returns {string}
 */
export function shortRunId(id) {
  const m = /-([0-9a-f]{8})$/i.exec(id);
  if (m) return m[1];
  return id.length > 12 ? `${id.slice(0, 11)}…` : id;
}

/**
 * What the toolbar says of a rerun or of a run that reused results:
 * `rerun of <short id>` (when it has a parent run) and `<n> reused`
 * (cache hits, when there were any).
 *
 * @typedef {object} Lineage
 * @property {string} parent the parent run's id ("" if none)
 * @property {string} short its short form
 * @property {number} reused nodes whose result was reused
 * @property {string} reusedLabel `12 reused` ("" when none)
 * @property {string} title the reuse count's tooltip
 */

/**
 * @param {RunInfo | null | undefined} run
 * @returns {Lineage | null} null: nothing to say (neither a rerun nor any reuse)
 */
export function lineage(run) {
  if (!run) return null;
  const parent = typeof run.parent_run === "string" ? run.parent_run : "";
  const cache = run.cache && typeof run.cache === "object" ? run.cache : null;
  const count = (/** @type {unknown} */ n) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);
  const reused = count(cache?.hits);
  if (!parent && !reused) return null;
  const ran = count(cache?.misses);
  const uncacheable = count(cache?.uncacheable);
  const parts = [`${reused} node${reused === 1 ? "" : "s"} reused`];
  parts.push(`${ran} ran`);
  if (uncacheable) parts.push(`${uncacheable} uncacheable (always run)`);
  const where = parent ? "from the parent run or the cache" : "from the cache";
  return {
    parent,
    short: parent ? shortRunId(parent) : "",
    reused,
    reusedLabel: reused ? `${reused.toLocaleString("en-US")} reused` : "",
    title: `${parts.join(", ")}: a reused node's result was taken ${where}, not made again`,
  };
}

/**
 * The notice a rerun request shows once it is answered.
 *
 * @param {string[] | null} nodes
 * @param {string} [label] the node's label (or id), for one node
 * @returns {string}
 */
export function rerunNotice(nodes, label) {
  if (nodes === null) return "Rerunning what changed…";
  if (nodes.length === 1) return `Rerunning from ${label || nodes[0]}…`;
  return `Rerunning from ${nodes.length} nodes…`;
}

/**
 * The new run an answer to `rerun` names, or null if it names none.
 *
 * @param {unknown} answer
 * @returns {{runId: string, parentRun: string} | null}
 */
export function rerunAnswer(answer) {
  if (answer === null || typeof answer !== "object") return null;
  const a = /** @type {Record<string, unknown>} */ (answer);
  if (a.type !== "rerun" || typeof a.run_id !== "string" || !a.run_id) return null;
  return { runId: a.run_id, parentRun: typeof a.parent_run === "string" ? a.parent_run : "" };
}
