/**
 * The selected node: the stage's highlight and the details panel, with what
 * a `node_details` request brings.
 *
 * The panel shows what the state knows at once, then the answer; a node
 * that changes is asked about again once it has been quiet for a second,
 * so a busy node costs one request, not one per frame. An answer for a node
 * no longer selected (or an older request) is dropped.
 *
 * Its output tails live: the batches' `output` events for the selected node
 * are appended in order (see output-follow.js); on a gap the missing text is
 * fetched with `node_details` and an `offset`, one request at a time. The
 * node's output counts as seen (its mark on the canvas goes).
 *
 * In a comparison (the run's `compare`), the panel shows the node in both
 * runs side by side (compare-details.js) and offers no actions.
 *
 * Runs on the main thread; `cleanup` stops the pending request's timer.
 *
 * @module
 */

import { classPill, compareBody } from "./compare-details.js";
import { classOf, runCompare } from "./compare.js";
import { DetailsPanel } from "./details.js";
import { emptyTail, followOutput, mergeTail } from "./output-follow.js";
import { RUN_ENDED } from "./status.js";
import { errorText } from "./store.js";

/** The shortest time between two requests for output the events left out (ms). */
const GAP_FETCH_MS = 1000;

/** @typedef {import("./details.js").Details} Details */
/** @typedef {import("./stage.js").Stage} Stage */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").StoreChange} StoreChange */
/** @typedef {import("./view-notices.js").Notices} Notices */

/**
 * @typedef {object} Selection
 * @property {(id: string | null) => void} select select a node (null: none), open its details
 * @property {() => string} selected the selected node's id, "" if none
 * @property {(change: StoreChange) => void} changed the store applied a change
 * @property {() => void} everySecond a running node's duration moves on in the panel
 * @property {() => void} refresh draw the panel again (what it offers changed)
 * @property {() => void} cleanup
 */

/**
 * @param {object} parts
 * @param {HTMLElement} parts.el the panel's element
 * @param {Store} parts.store
 * @param {Stage} parts.stage
 * @param {Notices} parts.notices
 * @param {() => number | null | undefined} parts.nodeClock see `Clock.nodeClock`
 * @param {(id: string) => void} parts.focus select and centre a node (a dependency's link)
 * @param {(id: string, chars: number) => void} [parts.seen] the user has seen a node's output this far
 * @param {(id: string | null) => void} [parts.selected] a node's details opened (null: closed)
 * @param {object} [parts.rerun] "Rerun from here" (none: not offered)
 * @param {(id: string) => void} parts.rerun.from rerun the run from this node
 * @param {() => string} parts.rerun.block why a rerun cannot be asked for now ("": it can)
 * @param {(runId: string) => boolean} [parts.canOpen] whether `openRun` can show a run
 * @param {(runId: string) => void} [parts.openRun] show another run (a reused result's)
 * @returns {Selection}
 */
export function createSelection({ el, store, stage, notices, nodeClock, focus, seen, selected, rerun, canOpen, openRun }) {
  const panel = new DetailsPanel(el, {
    select: (id) => focus(id),
    rerun: rerun ? (id) => rerun.from(id) : undefined,
    openRun,
    cancel: (id) => {
      store.request({ type: "cancel_node", node_id: id }).then(
        () => notices.show("info", `Cancel of ${id} requested`),
        (error) => notices.show("error", `cancel ${id}: ${errorText(error)}`),
      );
    },
    close: () => select(null),
  });
  /** @type {{id: string, details: Details | null, error?: string}} */
  let current = { id: "", details: null };
  let tail = emptyTail();
  let gapFetch = false; // a request for the missing output is on its way, or waits
  let lastGapFetch = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let gapTimer;
  let token = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  /** @param {string | null} id */
  function select(id) {
    // A click or a search is the user's hand on the view: the stage stops fitting it automatically.
    stage.select(id);
    clearTimeout(timer);
    if (id !== current.id) selected?.(id);
    if (id === null) {
      current = { id: "", details: null };
      panel.hide();
      return;
    }
    if (current.id !== id) {
      current = { id, details: null };
      tail = emptyTail();
      gapFetch = false;
      clearTimeout(gapTimer);
    }
    render();
    fetch(id);
  }

  function render() {
    if (!current.id) return;
    const state = store.client.state;
    const node = state?.nodes[current.id];
    seen?.(current.id, Math.max(tail.end, node?.output_chars ?? 0));
    const compare = runCompare(state?.run);
    if (compare) {
      const nodes = state?.nodes ?? {};
      const context = {
        compare,
        classOf: (/** @type {string} */ id) => (nodes[id] ? classOf(nodes[id]) : undefined),
        labelOf: (/** @type {string} */ id) => nodes[id]?.label,
        error: current.error,
      };
      const details = /** @type {import("./compare-details.js").CompareDetails | null} */ (current.details);
      panel.showBody(current.id, node, [classPill(node)], compareBody(node, details, context, focus));
      return;
    }
    panel.show(current.id, node, current.details, {
      output: tail.known ? tail.text : undefined,
      runEnded: !!state && (RUN_ENDED.has(state.run.status) || !!state.run.stored),
      now: nodeClock() ?? undefined,
      error: current.error,
      statusOf: (id) => store.client.state?.nodes[id]?.status,
      labelOf: (id) => store.client.state?.nodes[id]?.label,
      units: state?.run.units,
      rerun: rerun ? rerun.block() : null,
      canOpen,
    });
  }

  /** @param {string} id */
  function fetch(id) {
    const mine = ++token;
    store.request({ type: "node_details", node_id: id }).then(
      (answer) => {
        if (mine !== token || current.id !== id) return;
        current = { id, details: /** @type {Details} */ (answer.details ?? {}) };
        tail = mergeTail(tail, current.details ?? {});
        render();
      },
      (error) => {
        if (mine !== token || current.id !== id) return;
        current = { ...current, error: errorText(error) };
        render();
      },
    );
  }

  /** @param {string} id */
  function fetchTail(id) {
    if (gapFetch) return;
    gapFetch = true;
    // At most one a second: under a flood every frame skips some text.
    const wait = lastGapFetch + GAP_FETCH_MS - Date.now();
    if (wait > 0) {
      gapTimer = setTimeout(() => {
        gapFetch = false;
        if (current.id === id) fetchTail(id);
      }, wait);
      return;
    }
    lastGapFetch = Date.now();
    const request = tail.known ? { type: "node_details", node_id: id, offset: tail.end } : { type: "node_details", node_id: id };
    store.request(request).then(
      (answer) => {
        if (current.id !== id) return;
        gapFetch = false;
        tail = mergeTail(tail, /** @type {Details} */ (answer.details ?? {}));
        render();
      },
      () => {
        if (current.id === id) gapFetch = false; // the next event or the quiet refetch tries again
      },
    );
  }

  /**
   * The batch's output events for the selected node, in order.
   *
   * @param {StoreChange} change
   * @returns {boolean} whether the tail changed
   */
  function follow(change) {
    const sel = current.id;
    let moved = false;
    for (const event of /** @type {Record<string, any>[]} */ (change.events)) {
      if (event.kind !== "output" || event.node_id !== sel) continue;
      const step = followOutput(tail, /** @type {{from: number, text: string}} */ (event));
      if (step.gap) {
        fetchTail(sel);
        break; // what follows is after the gap too: the fetch brings it
      }
      if (step.added) moved = true;
      tail = step.tail;
    }
    return moved;
  }

  /** @param {StoreChange} change */
  function changed(change) {
    const sel = current.id;
    if (sel && follow(change) && change.nodes !== null && !change.nodes.includes(sel)) render();
    if (sel && (change.nodes === null || change.nodes.includes(sel))) {
      render();
      // The node moved on: its details (output, result) did too. Ask again once it has
      // been quiet for a second.
      clearTimeout(timer);
      timer = setTimeout(() => current.id === sel && fetch(sel), 1000);
    }
  }

  return {
    select,
    selected: () => current.id,
    changed,
    refresh: render,
    everySecond: () => {
      if (current.id && store.client.state?.nodes[current.id]?.status === "running") render();
    },
    cleanup: () => {
      clearTimeout(timer);
      clearTimeout(gapTimer);
    },
  };
}
