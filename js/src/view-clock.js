/**
 * The view's clocks and the toolbar's numbers that follow them: the run's
 * elapsed time, the throughput, the clock of running nodes' durations, and
 * the legend's counts.
 *
 * The clocks read the browser's clock against the run's `created` (a stored
 * run's clock is stopped: `frozenClock`). A timer ticks once a second, so
 * the elapsed time and running durations move on between frames.
 *
 * Runs on the main thread; `cleanup` stops the timer.
 *
 * @module
 */

import { formatDuration, formatRate, RateMeter } from "./format.js";
import { countStatuses } from "./reducer.js";
import { WORKED } from "./status.js";

/** @typedef {import("./reducer.js").State} State */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./toolbar.js").Toolbar} Toolbar */

/**
 * @typedef {object} Clock
 * @property {() => number | undefined} runClock seconds since the run started, on this
 *   browser's clock, or undefined before a snapshot
 * @property {() => number | null | undefined} nodeClock the clock of running nodes' durations:
 *   the run's, except for a stored run, whose running nodes do not run here: they show
 *   "stopped" when the run was interrupted (`null`), else "running" (`undefined`)
 * @property {() => void} tick show the elapsed time and the throughput now
 * @property {(counts: Record<string, number>) => void} sample the legend's counts now, for the throughput
 * @property {() => void} reset another run: the throughput starts again
 * @property {() => void} cleanup
 */

/**
 * @param {Store} store
 * @param {Toolbar} toolbar
 * @param {() => void} everySecond called once a second after the toolbar's numbers
 * @returns {Clock}
 */
export function createClock(store, toolbar, everySecond) {
  const meter = new RateMeter(10);

  function runClock() {
    const state = store.client.state;
    const run = state?.run;
    if (!run || !run.created) return undefined;
    if (run.stored) return frozenClock(state);
    return Math.max(0, Date.now() / 1000 - run.created);
  }

  function nodeClock() {
    const run = store.client.state?.run;
    if (run?.stored) return run.status === "interrupted" ? null : undefined;
    return runClock();
  }

  function tick() {
    const state = store.client.state;
    if (!state) {
      toolbar.setTimes("–", "–");
      return;
    }
    const run = state.run;
    // A stored run that did not end stopped at its last stored moment: its clock does not go on.
    const ended = run.ended !== undefined || !!run.stored;
    // An ended live run's time is its `ended` (the browser's clock would go on counting).
    const elapsed = run.stored
      ? runClock()
      : run.ended !== undefined
        ? run.ended
        : run.created
          ? Math.max(0, Date.now() / 1000 - run.created)
          : undefined;
    let rate = meter.rate(performance.now() / 1000);
    if (ended && elapsed) {
      rate = finished(displayedCounts(state)) / elapsed;
    }
    toolbar.setTimes(formatDuration(elapsed), formatRate(rate));
  }

  const ticker = setInterval(() => {
    tick();
    everySecond();
  }, 1000);

  return {
    runClock,
    nodeClock,
    tick,
    sample: (counts) => meter.add(performance.now() / 1000, finished(counts)),
    reset: () => meter.reset(),
    cleanup: () => clearInterval(ticker),
  };
}

/**
 * How many nodes have been worked on (done, failed, ...: `WORKED`).
 *
 * @param {Record<string, number>} counts
 * @returns {number}
 */
function finished(counts) {
  let n = 0;
  for (const s of WORKED) n += counts[s] ?? 0;
  return n;
}

/**
 * The counts the legend shows: the run's own (the protocol keeps every
 * status that has occurred, zeros included), or counted from the nodes.
 *
 * @param {State} state
 * @returns {Record<string, number>}
 */
export function displayedCounts(state) {
  const counts = state.run.counts;
  if (counts && typeof counts === "object" && Object.keys(counts).length) {
    /** @type {Record<string, number>} */
    const out = {};
    for (const s in counts) if (typeof counts[s] === "number") out[s] = counts[s];
    return out;
  }
  return countStatuses(state);
}

/** @type {WeakMap<State, number>} */
const frozenClocks = new WeakMap();

/**
 * A stored run's clock, stopped: its end, or else the last moment its
 * nodes show (the latest start or end), in seconds from the run's start.
 *
 * @param {State} state
 * @returns {number}
 */
export function frozenClock(state) {
  const run = state.run;
  if (typeof run.ended === "number") return run.ended;
  let last = frozenClocks.get(state);
  if (last === undefined) {
    last = 0;
    for (const id in state.nodes) {
      const n = state.nodes[id];
      if (typeof n.ended === "number" && n.ended > last) last = n.ended;
      if (typeof n.started === "number" && n.started > last) last = n.started;
    }
    frozenClocks.set(state, last);
  }
  return last;
}
