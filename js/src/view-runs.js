/**
 * Service mode's run selector: the toolbar's list of the kernel's runs,
 * asked for at once and then every `interval` ms (one request at a time,
 * and none while the view is out of the page). With no run chosen yet the
 * view shows the latest, as the kernel does.
 *
 * Runs on the main thread; `cleanup` stops the refreshes.
 *
 * @module
 */

import { errorText } from "./store.js";

/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./toolbar.js").Toolbar} Toolbar */
/** @typedef {import("./view-notices.js").Notices} Notices */

/**
 * @param {object} parts
 * @param {Store} parts.store
 * @param {Toolbar} parts.toolbar
 * @param {Notices} parts.notices
 * @param {HTMLElement} parts.root the view's root: no refresh while it is out of the page
 * @param {number} parts.interval ms between refreshes
 * @returns {() => void} stops the refreshes
 */
export function watchRuns({ store, toolbar, notices, root, interval }) {
  let closed = false;
  let asking = false;
  /** @type {{id: string, name?: string, status?: string}[]} */
  let lastRuns = [];
  const refresh = () => {
    if (asking || closed || !root.isConnected) return;
    asking = true;
    store.request({ type: "runs" }).then(
      (answer) => {
        asking = false;
        const runs = Array.isArray(answer.runs) ? answer.runs : [];
        lastRuns = runs;
        toolbar.setRuns(runs, store.runId());
        // With no run chosen yet, show the latest (as the kernel does).
        if (!store.runId() && runs.length) store.switchRun(String(runs[runs.length - 1].id));
      },
      (error) => {
        asking = false;
        notices.show("error", `runs: ${errorText(error)}`);
      },
    );
  };
  toolbar.setRuns([], store.runId());
  refresh();
  const timer = setInterval(refresh, interval);
  const unsubscribe = store.subscribe((change) => {
    if (change.reset) toolbar.setRuns(lastRuns, store.runId());
  });
  return () => {
    closed = true;
    clearInterval(timer);
    unsubscribe();
  };
}
