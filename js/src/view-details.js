/**
 * The selected node: the stage's highlight and the details panel, with what
 * a `node_details` request brings.
 *
 * The panel shows what the state knows at once, then the answer; a node
 * that changes is asked about again once it has been quiet for a second,
 * so a busy node costs one request, not one per frame. An answer for a node
 * no longer selected (or an older request) is dropped.
 *
 * Runs on the main thread; `cleanup` stops the pending request's timer.
 *
 * @module
 */

import { DetailsPanel } from "./details.js";
import { RUN_ENDED } from "./status.js";
import { errorText } from "./store.js";

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
 * @returns {Selection}
 */
export function createSelection({ el, store, stage, notices, nodeClock, focus }) {
  const panel = new DetailsPanel(el, {
    select: (id) => focus(id),
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
  let token = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  /** @param {string | null} id */
  function select(id) {
    // A click or a search is the user's hand on the view: the stage stops fitting it automatically.
    stage.select(id);
    clearTimeout(timer);
    if (id === null) {
      current = { id: "", details: null };
      panel.hide();
      return;
    }
    if (current.id !== id) current = { id, details: null };
    render();
    fetch(id);
  }

  function render() {
    if (!current.id) return;
    const state = store.client.state;
    panel.show(current.id, state?.nodes[current.id], current.details, {
      runEnded: !!state && (RUN_ENDED.has(state.run.status) || !!state.run.stored),
      now: nodeClock() ?? undefined,
      error: current.error,
      statusOf: (id) => store.client.state?.nodes[id]?.status,
      labelOf: (id) => store.client.state?.nodes[id]?.label,
      units: state?.run.units,
    });
  }

  /** @param {string} id */
  function fetch(id) {
    const mine = ++token;
    store.request({ type: "node_details", node_id: id }).then(
      (answer) => {
        if (mine !== token || current.id !== id) return;
        current = { id, details: /** @type {Details} */ (answer.details ?? {}) };
        render();
      },
      (error) => {
        if (mine !== token || current.id !== id) return;
        current = { ...current, error: errorText(error) };
        render();
      },
    );
  }

  /** @param {StoreChange} change */
  function changed(change) {
    const sel = current.id;
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
    everySecond: () => {
      if (current.id && store.client.state?.nodes[current.id]?.status === "running") render();
    },
    cleanup: () => clearTimeout(timer),
  };
}
