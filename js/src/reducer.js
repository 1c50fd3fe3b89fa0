/**
 * The state machine of one client of one room.
 *
 * A client holds `seq` (the number of the last state it applied, `null`
 * before the first snapshot) and `state` (`{run, nodes, edges}`, see the
 * protocol). `receive(client, message)` is the only transition; it returns a
 * {@link Change} telling the caller what to do:
 *
 * - `snapshot`: replaces the state, whatever the client had. Structural.
 * - `batch` with `base_seq === seq`: the merge patch is applied in place and
 *   `seq` becomes the batch's `seq`. Any other `base_seq` (frames were lost,
 *   or no snapshot yet) leaves the state alone and asks for a resync.
 * - `heartbeat` whose `seq` differs from the client's: the last frame of a
 *   burst was lost, so a resync too.
 * - anything else is not state; `receive` ignores it.
 *
 * A change is *structural* when the graph's shape may have changed: a
 * snapshot, a patch carrying `edges`, a node added or removed, or a node's
 * `parent` changed. Only then does the view lay the graph out again; a
 * status-only batch just names the nodes to recolour (`nodes`).
 *
 * Worked example: seq 41 applied; batch 41→42 arrives: applied, `{applied:
 * true, nodes: ["b", "c"]}`. Batch 43→44 arrives (42→43 was dropped):
 * `{applied: false, resync: true, reason: "gap"}`, state stays at 42; the
 * caller sends `{"type": "resync"}` and the next snapshot resets everything.
 *
 * The client is a plain object mutated in place; nothing here does I/O or
 * reads the clock, so the tests drive it message by message.
 *
 * @module
 */

import { applyPatch, isObject } from "./patch.js";

/**
 * @typedef {object} NodeError
 * @property {string} type
 * @property {string} message
 * @property {string} [traceback]
 */

/**
 * @typedef {object} NodeSummary
 * @property {string} status
 * @property {number} [attempt]
 * @property {number} [started] seconds after the run's start
 * @property {number} [ended] seconds after the run's start
 * @property {string} [preview]
 * @property {NodeError} [error]
 * @property {string} [parent]
 * @property {string[]} [tags]
 * @property {string} [label] a display name set in the graph; the id stays the node's identity
 * @property {import("./questions.js").QuestionSummary} [question] a waiting node's oldest open question
 * @property {number} [questions] how many questions a waiting node has open, when more than one
 * @property {import("./metrics.js").Progress} [progress] what its task reported with `tb.progress`
 * @property {Record<string, number>} [metrics] its rolled-up metrics (its own and its children's)
 * @property {number} [output_chars] characters it has printed so far (the text is a detail)
 * @property {import("./rerun.js").Cached} [cached] its result was reused, not made: where it was made
 * @property {import("./compare.js").NodeCompare} [compare] a comparison's node: its difference class
 *   and both statuses (see compare.js)
 */

/**
 * @typedef {object} RunInfo
 * @property {string} id
 * @property {string} name
 * @property {string} status
 * @property {Record<string, number>} counts
 * @property {number} total
 * @property {number} created Unix time
 * @property {number} [ended] seconds after the start
 * @property {string} [error]
 * @property {boolean} [stored] a stored run, frozen (`tb.open_run`, or a run picked in the history)
 * @property {boolean} [continuable] a stored run this view can continue (it knows the graph)
 * @property {string} [stored_status] an interrupted run: the status its row was left with
 * @property {Record<string, number>} [metrics] the run's metric totals
 * @property {Record<string, string>} [units] the units of metrics that have one
 * @property {Record<string, number>} [budgets] the run's own budgets
 * @property {number} [questions] open questions the run asks itself (budgets passed)
 * @property {string} [parent_run] a rerun: the run whose results it reuses
 * @property {{hits?: number, misses?: number, uncacheable?: number}} [cache] nodes reused (hits),
 *   run (misses) and that could not be reused (uncacheable)
 * @property {import("./compare.js").RunCompare} [compare] a comparison of two runs, not a run:
 *   the two runs and the nodes per difference class (see compare.js)
 */

/**
 * @typedef {object} State
 * @property {RunInfo} run
 * @property {Record<string, NodeSummary>} nodes
 * @property {[string, string][]} edges
 */

/**
 * @typedef {object} ClientCounts
 * @property {number} snapshots snapshots applied
 * @property {number} batches batches applied
 * @property {number} gaps batches ignored because their base_seq was not ours
 * @property {number} heartbeats heartbeats received
 * @property {number} stale heartbeats whose seq was not ours
 */

/**
 * @typedef {object} Client
 * @property {number | null} seq
 * @property {State | null} state
 * @property {ClientCounts} counts
 * @property {number} structure increases on every structural change
 */

/**
 * @typedef {object} Change
 * @property {boolean} applied the state changed
 * @property {boolean} resync the caller should ask for a snapshot
 * @property {boolean} structural nodes or edges were added or removed (or the state replaced)
 * @property {string[] | null} nodes ids of changed nodes; `null` means any node may have changed
 * @property {boolean} run the `run` part changed
 * @property {object[]} events the batch's events
 * @property {"gap" | "heartbeat" | undefined} [reason] why a resync is wanted
 */

/** @returns {Client} */
export function createClient() {
  return {
    seq: null,
    state: null,
    counts: { snapshots: 0, batches: 0, gaps: 0, heartbeats: 0, stale: 0 },
    structure: 0,
  };
}

/** @type {Readonly<Change>} */
const NOTHING = Object.freeze({
  applied: false,
  resync: false,
  structural: false,
  nodes: [],
  run: false,
  events: [],
});

/**
 * Apply one (decoded) message to `client`.
 *
 * @param {Client} client changed in place
 * @param {Record<string, any>} message
 * @returns {Change}
 */
export function receive(client, message) {
  switch (message.type) {
    case "snapshot":
      return snapshot(client, message);
    case "batch":
      return batch(client, message);
    case "heartbeat":
      return heartbeat(client, message);
    default:
      return NOTHING;
  }
}

/**
 * @param {Client} client
 * @param {Record<string, any>} message
 * @returns {Change}
 */
function snapshot(client, message) {
  client.state = normalize(message.state);
  client.seq = typeof message.seq === "number" ? message.seq : null;
  client.counts.snapshots += 1;
  client.structure += 1;
  return { applied: true, resync: false, structural: true, nodes: null, run: true, events: [] };
}

/**
 * @param {Client} client
 * @param {Record<string, any>} message
 * @returns {Change}
 */
function batch(client, message) {
  const state = client.state;
  if (state === null || client.seq === null || message.base_seq !== client.seq) {
    client.counts.gaps += 1;
    return { ...NOTHING, resync: true, reason: "gap" };
  }
  const patch = isObject(message.patch) ? message.patch : {};
  const nodePatch = isObject(patch.nodes) ? patch.nodes : null;
  let structural = "edges" in patch || ("nodes" in patch && nodePatch === null);
  /** @type {string[]} */
  const changed = [];
  if (nodePatch !== null) {
    const nodes = state.nodes;
    for (const id of Object.keys(nodePatch)) {
      const value = nodePatch[id];
      changed.push(id);
      if (
        !structural &&
        (value === null || !Object.hasOwn(nodes, id) || !isObject(value) || "parent" in value)
      ) {
        structural = true;
      }
    }
  }
  applyPatch(state, patch);
  if (!isObject(state.nodes)) state.nodes = {};
  if (!Array.isArray(state.edges)) state.edges = [];
  client.seq = message.seq;
  client.counts.batches += 1;
  if (structural) client.structure += 1;
  return {
    applied: true,
    resync: false,
    structural,
    nodes: structural ? null : changed,
    run: "run" in patch,
    events: Array.isArray(message.events) ? message.events : [],
  };
}

/**
 * @param {Client} client
 * @param {Record<string, any>} message
 * @returns {Change}
 */
function heartbeat(client, message) {
  client.counts.heartbeats += 1;
  if (message.seq === client.seq) return NOTHING;
  client.counts.stale += 1;
  return { ...NOTHING, resync: true, reason: "heartbeat" };
}

/**
 * A snapshot's state with every part present, whatever the sender left out.
 *
 * @param {unknown} raw
 * @returns {State}
 */
function normalize(raw) {
  const state = isObject(raw) ? raw : {};
  const run = isObject(state.run) ? state.run : {};
  return /** @type {State} */ ({
    ...state,
    run: { counts: {}, total: 0, status: "running", name: "", id: "", created: 0, ...run },
    nodes: isObject(state.nodes) ? state.nodes : {},
    edges: Array.isArray(state.edges) ? state.edges : [],
  });
}

/**
 * Nodes per status, counted from the nodes themselves (for a state whose
 * `run.counts` is missing).
 *
 * @param {State} state
 * @returns {Record<string, number>}
 */
export function countStatuses(state) {
  /** @type {Record<string, number>} */
  const counts = {};
  for (const id in state.nodes) {
    const s = state.nodes[id].status;
    counts[s] = (counts[s] || 0) + 1;
  }
  return counts;
}
