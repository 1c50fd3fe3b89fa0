/**
 * History mode's two pages: the run list (`run_id` "") and a run (any
 * other id), which take turns in the view; the root's `data-page` says
 * which. Outside history mode there is only the run.
 *
 * A run asked for that sends no snapshot within 5 s (an id the store does
 * not have) is said to be slow (`slow()`), so the view can say so.
 *
 * Runs on the main thread; `cleanup` stops the list and the timer.
 *
 * @module
 */

import { createHistoryList } from "./history-list.js";

/** @typedef {import("./store.js").Store} Store */

/**
 * @typedef {object} Pages
 * @property {ReturnType<typeof createHistoryList> | null} list history mode's run list
 * @property {() => "list" | "run"} page the page shown
 * @property {() => void} show show the page the store's run id says
 * @property {() => boolean} slow the run asked for has sent no snapshot for 5 s
 * @property {() => void} cleanup
 */

/**
 * @param {object} parts
 * @param {Store} parts.store
 * @param {HTMLElement} parts.root the view's root
 * @param {number} parts.interval ms between refreshes of the run list
 * @param {() => void} parts.onSlow `slow()` changed: draw the view again
 * @returns {Pages}
 */
export function createPages({ store, root, interval, onSlow }) {
  // The list and a run take turns: run_id "" is the list, any other run id
  // that run (the live one, or the stored one, frozen).
  const list =
    store.mode === "history"
      ? createHistoryList({
          fetch: (request) => store.request(request),
          open: (id) => store.switchRun(id),
          interval,
        })
      : null;
  /** @returns {"list" | "run"} */
  const page = () => (list && !store.runId() ? "list" : "run");
  let slowOpen = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let openTimer;

  function show() {
    root.dataset.page = page();
    slowOpen = false;
    clearTimeout(openTimer);
    if (list && page() === "run" && !store.client.state) {
      openTimer = setTimeout(() => {
        slowOpen = !store.client.state;
        onSlow();
      }, 5000);
    }
    if (!list) return;
    if (page() === "list") list.show();
    else list.hide();
  }

  return {
    list,
    page,
    show,
    slow: () => slowOpen,
    cleanup: () => {
      list?.cleanup();
      clearTimeout(openTimer);
    },
  };
}
