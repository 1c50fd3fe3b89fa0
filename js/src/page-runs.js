/**
 * The server page's run list: every run the server knows, stored ones
 * included (`GET api/runs`), newest first, filtered by name and status,
 * a page at a time.
 *
 * It owns one concern, the *Runs* card: its state is `history.js`'s (the
 * same pure functions as the widget's history mode), its requests go
 * through the `fetch` it is given, a click on a run calls `open`, and
 * `isCurrent` says which row the page shows. `refresh()` reads again every
 * row shown (the page calls it with its project list, every 2 s); typing in
 * the name filter asks after 250 ms of quiet, and an answer to an older
 * filter is dropped. `createRunList` returns the card and a cleanup.
 *
 * @module
 */

import { h } from "./details.js";
import { bindFilters, filterInputs } from "./history-list.js";
import {
  createHistory,
  describeRun,
  failPage,
  filterHistory,
  receivePage,
  refreshRequest,
  runsRequest,
  startLoading,
} from "./history.js";

/** @typedef {import("./history.js").HistoryState} HistoryState */
/** @typedef {import("./history.js").RunItem} RunItem */
/** @typedef {{name?: string, status?: string, cursor?: string, limit?: number}} RunsQuery */

/**
 * @typedef {object} RunListOptions
 * @property {(query: RunsQuery) => Promise<{runs?: unknown, next?: unknown, total?: unknown}>} fetch
 *   a page of runs (`GET api/runs`)
 * @property {(run: RunItem) => void} open a run was clicked
 * @property {(run: RunItem) => boolean} isCurrent whether the page shows this run
 * @property {(status: string) => HTMLElement} pill a run status as the page draws it
 * @property {(error: unknown) => boolean} [refused] a request failed: true if the page handled
 *   it (a refused token), else the card shows it
 */

/**
 * @typedef {object} RunList
 * @property {HTMLElement} el the card
 * @property {() => Promise<void>} refresh read again every row shown (the first page, at first)
 * @property {() => void} render draw the rows again (which one is current changed)
 * @property {() => HistoryState} state
 * @property {(id: string) => RunItem | undefined} find a listed run
 * @property {() => void} cleanup
 */

/**
 * @param {RunListOptions} options
 * @returns {RunList}
 */
export function createRunList(options) {
  let state = createHistory();
  let busy = false; // a request of the current query is on its way
  let disposed = false;
  /** @type {Map<string, HTMLLIElement>} */
  const items = new Map();

  const el = h("section", "tbp-card tbp-runs");
  const title = h("h2", "tbp-card-title", "Runs");
  const count = h("span", "tbp-count", "");
  title.append(count);
  const filters = h("div", "tbp-runs-filters");
  const { name, status } = filterInputs("tbp-input tbp-runs-name", "tbp-input tbp-runs-status");
  filters.append(name, status);
  const list = h("ul", "tbp-list");
  list.setAttribute("aria-label", "Runs");
  const empty = h("p", "tbp-muted tbp-list-empty", "");
  const more = h("button", "tbp-button tbp-quiet tbp-runs-more", "More");
  more.type = "button";
  const error = h("p", "tbp-form-error");
  error.hidden = true;
  el.append(title, filters, empty, list, more, error);

  /**
   * @param {number} query
   * @param {unknown} e
   */
  const failed = (query, e) => {
    if (options.refused?.(e)) return;
    state = failPage(state, query, e instanceof Error ? e.message : String(e));
  };

  /** @param {boolean} next the next page, else the first one */
  async function load(next) {
    const query = state.query;
    const { type: _type, ...request } = runsRequest(state, next);
    state = startLoading(state);
    busy = true;
    render();
    try {
      state = receivePage(state, query, await options.fetch(request), next);
    } catch (e) {
      failed(query, e);
    } finally {
      if (query === state.query) busy = false;
    }
    render();
  }

  async function refresh() {
    if (busy || disposed) return;
    if (state.total === null) return load(false);
    const query = state.query;
    const { type: _type, ...request } = refreshRequest(state);
    busy = true;
    try {
      state = receivePage(state, query, await options.fetch(request), false);
    } catch (e) {
      failed(query, e);
    } finally {
      if (query === state.query) busy = false;
    }
    render();
  }

  function render() {
    if (disposed) return;
    const now = Date.now() / 1000;
    const filtered = !!(state.name || state.status);
    count.textContent = state.total ? String(state.total) : "";
    empty.hidden = state.runs.length > 0 || state.total === null;
    empty.textContent = filtered ? "No run matches these filters." : "No runs yet.";
    more.hidden = !state.next;
    more.disabled = state.loading;
    more.textContent = `More (${state.runs.length} of ${state.total ?? "?"})`;
    error.hidden = !state.error;
    error.textContent = state.error ? `Runs: ${state.error}` : "";
    const keep = new Set(state.runs.map((r) => r.id));
    for (const [id, item] of items) {
      if (!keep.has(id)) {
        item.remove();
        items.delete(id);
      }
    }
    state.runs.forEach((run, i) => {
      let item = items.get(run.id);
      if (!item) {
        item = h("li", "tbp-item");
        const button = h("button", "tbp-project tbp-run");
        button.type = "button";
        button.dataset.id = run.id;
        item.append(button);
        items.set(run.id, item);
      }
      fill(/** @type {HTMLButtonElement} */ (item.firstElementChild), run, now);
      if (list.children[i] !== item) list.insertBefore(item, list.children[i] ?? null);
    });
  }

  /**
   * @param {HTMLButtonElement} button
   * @param {RunItem} run
   * @param {number} now
   */
  function fill(button, run, now) {
    const d = describeRun(run, now);
    button.onclick = () => options.open(run);
    button.dataset.status = run.status;
    button.setAttribute("aria-current", options.isCurrent(run) ? "true" : "false");
    const top = h("div", "tbp-project-top");
    top.append(h("span", "tbp-project-id", d.name), options.pill(run.status));
    const bar = h("div", "tbp-bar");
    const barFill = h("div", "tbp-bar-fill");
    barFill.style.width = run.total ? `${(100 * d.finished) / run.total}%` : "0%";
    bar.append(barFill);
    const meta = h("div", "tbp-project-meta");
    meta.append(h("span", "tbp-run-id", run.id), h("span", "", d.counts), h("span", "", d.created));
    button.replaceChildren(top, bar, meta);
    const project = run.project ? ` (project ${run.project})` : "";
    const took = d.duration !== "–" ? `, ${d.duration}` : "";
    const warn = run.error ? `; not stored completely: ${run.error}` : "";
    button.title = `${run.id}: ${run.status}${project}${took}${warn}`;
  }

  const stopFilters = bindFilters({ name, status, more }, {
    filter(filters) {
      const next = filterHistory(state, filters);
      if (next === state) return;
      state = next;
      busy = false; // answers to the old filters are dropped
      render();
      load(false);
    },
    more: () => load(true),
  });
  render();

  return {
    el,
    refresh,
    render,
    state: () => state,
    find: (id) => state.runs.find((r) => r.id === id),
    cleanup() {
      disposed = true;
      stopFilters();
      el.remove();
    },
  };
}
