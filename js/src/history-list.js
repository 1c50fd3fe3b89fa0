/**
 * The run list of history mode (`GraphView(store)`): a filter row, a table
 * of runs newest first, and "More" for the next page.
 *
 * It owns one concern, the list on screen: its state is `history.js`'s
 * (pure), its requests go through the `fetch` it is given (the store's
 * `runs` request), and a click on a run calls `open`. Every `interval` ms,
 * while it is on screen, it reads again the rows it shows (statuses move
 * on while runs go). Typing in the name filter asks after 250 ms of quiet;
 * an answer to an older filter than the one shown is dropped.
 *
 * `createHistoryList` returns the element and a cleanup that stops its
 * timers and removes it.
 *
 * @module
 */

import { h } from "./details.js";
import { formatCount } from "./format.js";
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
import { RUN_STATUSES, runStatusClass } from "./status.js";
import { errorText } from "./store.js";

/** @typedef {import("./history.js").HistoryState} HistoryState */
/** @typedef {import("./history.js").RunItem} RunItem */

/**
 * @typedef {object} HistoryListOptions
 * @property {(request: Record<string, any>) => Promise<Record<string, any>>} fetch answers a `runs` request
 * @property {(id: string) => void} open a run was chosen
 * @property {number} [interval] ms between refreshes while shown (3,000)
 * @property {() => number} [now] seconds since the epoch
 */

/**
 * @typedef {object} HistoryList
 * @property {HTMLElement} el
 * @property {() => void} show start refreshing (and refresh now)
 * @property {() => void} hide stop refreshing
 * @property {() => HistoryState} state
 * @property {() => void} cleanup
 */

/**
 * A run list's filter inputs: a name search box and a status select ("Any
 * status" and every run status). Shared by the widget's list and the page's.
 *
 * @param {string} nameClass
 * @param {string} statusClass
 * @returns {{ name: HTMLInputElement, status: HTMLSelectElement }}
 */
export function filterInputs(nameClass, statusClass) {
  const name = h("input", nameClass);
  name.type = "search";
  name.placeholder = "Filter by name";
  name.setAttribute("aria-label", "Filter runs by name");
  name.spellcheck = false;
  const status = h("select", statusClass);
  status.setAttribute("aria-label", "Filter runs by status");
  const any = h("option", "", "Any status");
  any.value = "";
  status.append(any, ...RUN_STATUSES.map((s) => Object.assign(h("option", "", s), { value: s })));
  return { name, status };
}

/**
 * Wire a run list's filter inputs: the name filter applies 250 ms after the
 * last key (at once on Enter), the status select on change, "more" loads
 * the next page. Shared by the widget's history list and the server page's.
 *
 * @param {{ name: HTMLInputElement, status: HTMLSelectElement, more: HTMLElement }} inputs
 * @param {{ filter: (filters: { name: string, status: string }) => void, more: () => void }} on
 * @returns {() => void} cancels a pending name filter
 */
export function bindFilters(inputs, on) {
  const { name, status, more } = inputs;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let typing;
  const apply = () => on.filter({ name: name.value, status: status.value });
  name.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(apply, 250);
  });
  name.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      clearTimeout(typing);
      apply();
    }
  });
  status.addEventListener("change", apply);
  more.addEventListener("click", on.more);
  return () => clearTimeout(typing);
}

/**
 * @param {HistoryListOptions} options
 * @returns {HistoryList}
 */
export function createHistoryList(options) {
  const now = options.now ?? (() => Date.now() / 1000);
  let state = createHistory();
  let shown = false;
  let disposed = false;
  let refreshing = false;

  const el = h("section", "tb-history");
  el.setAttribute("aria-label", "Stored runs");
  const bar = h("div", "tb-history-bar");
  const title = h("span", "tb-history-title", "Runs");
  const count = h("span", "tb-history-count", "");
  const { name, status } = filterInputs("tb-history-name", "tb-history-status");
  bar.append(title, count, h("div", "tb-spacer"), name, status);

  const table = h("table", "tb-history-table");
  const head = h("tr", "");
  for (const [text, cls] of [
    ["Run", "tb-col-name"],
    ["Status", "tb-col-status"],
    ["Started", "tb-col-created"],
    ["Duration", "tb-col-duration"],
    ["Nodes", "tb-col-counts"],
  ]) {
    const th = h("th", cls, text);
    th.scope = "col";
    head.append(th);
  }
  const thead = h("thead", "");
  thead.append(head);
  const tbody = h("tbody", "");
  table.append(thead, tbody);
  const scroller = h("div", "tb-history-scroll");
  const empty = h("p", "tb-history-empty", "");
  const more = h("button", "tb-button tb-history-more", "More");
  more.type = "button";
  const error = h("p", "tb-history-error");
  error.setAttribute("role", "alert");
  scroller.append(table, empty, more, error);
  el.append(bar, scroller);

  /** @type {Map<string, HTMLTableRowElement>} */
  const rows = new Map();

  function render() {
    const t = now();
    const keep = new Set(state.runs.map((r) => r.id));
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    state.runs.forEach((run, i) => {
      let row = rows.get(run.id);
      if (!row) {
        row = makeRow(run.id);
        rows.set(run.id, row);
      }
      fillRow(row, run, t);
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] ?? null);
    });
    const filtered = !!(state.name || state.status);
    count.textContent = state.total === null ? "" : `${formatCount(state.total)}${filtered ? " matching" : ""}`;
    table.hidden = state.runs.length === 0;
    empty.hidden = state.runs.length > 0 || state.total === null;
    empty.textContent = filtered ? "No run matches these filters." : "No runs stored yet.";
    more.hidden = !state.next;
    more.disabled = state.loading;
    more.textContent = state.total !== null ? `More (${formatCount(state.runs.length)} of ${formatCount(state.total)})` : "More";
    error.hidden = !state.error;
    error.textContent = state.error ? `Runs: ${state.error}` : "";
  }

  /** @param {string} id */
  function makeRow(id) {
    const row = /** @type {HTMLTableRowElement} */ (h("tr", "tb-history-row"));
    row.dataset.id = id;
    row.tabIndex = 0;
    row.addEventListener("click", () => options.open(id));
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        options.open(id);
      }
    });
    return row;
  }

  /**
   * @param {HTMLTableRowElement} row
   * @param {RunItem} run
   * @param {number} t
   */
  function fillRow(row, run, t) {
    const d = describeRun(run, t);
    const key = JSON.stringify([run.status, d.name, d.created, d.duration, d.counts, run.stored_status ?? "", run.error ?? ""]);
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.dataset.status = run.status;
    const nameCell = h("td", "tb-col-name");
    nameCell.append(h("span", "tb-history-run", d.name), h("span", "tb-history-id", run.id));
    nameCell.title = run.project ? `${run.id} (project ${run.project})` : run.id;
    if (run.error) {
      // The run could not be stored completely: say so where its name is.
      const warn = h("span", "tb-history-warn", "!");
      warn.title = `Not stored completely: ${run.error}`;
      nameCell.prepend(warn);
    }
    const statusCell = h("td", "tb-col-status");
    const pill = h("span", `tb-pill ${runStatusClass(run.status)}`, run.status);
    if (run.status === "interrupted") {
      pill.title = `The process that ran it is gone (its row says ${run.stored_status ?? "running"}); it can be continued`;
    }
    statusCell.append(pill);
    const created = h("td", "tb-col-created", d.created);
    created.title = d.createdTitle;
    const counts = h("td", "tb-col-counts");
    const bar = h("span", "tb-history-bar-track");
    const total = run.total || 0;
    for (const s of ["done", "failed", "cancelled", "skipped"]) {
      const n = run.counts?.[s] ?? 0;
      if (!n || !total) continue;
      const seg = h("span", `tb-history-seg tb-status-${s}`);
      seg.style.width = `${((100 * n) / total).toFixed(2)}%`;
      bar.append(seg);
    }
    const inner = h("span", "tb-history-counts");
    inner.append(bar, h("span", "tb-history-counts-text", d.counts));
    counts.append(inner);
    counts.title = d.countsTitle;
    row.replaceChildren(nameCell, statusCell, created, h("td", "tb-col-duration", d.duration), counts);
    row.setAttribute("aria-label", `${d.name}, ${run.status}, ${d.created}`);
  }

  /**
   * @param {boolean} more the next page, else the first one
   */
  function load(more) {
    if (disposed) return;
    const query = state.query;
    const request = more ? runsRequest(state, true) : runsRequest(state, false);
    state = startLoading(state);
    render();
    options.fetch(request).then(
      (answer) => {
        state = receivePage(state, query, answer, more);
        if (!disposed) render();
      },
      (e) => {
        state = failPage(state, query, errorText(e));
        if (!disposed) render();
      },
    );
  }

  function refresh() {
    if (disposed || !shown || refreshing || state.loading) return;
    refreshing = true;
    const query = state.query;
    options.fetch(refreshRequest(state)).then(
      (answer) => {
        refreshing = false;
        state = receivePage(state, query, answer, false);
        if (!disposed) render();
      },
      (e) => {
        refreshing = false;
        state = failPage(state, query, errorText(e));
        if (!disposed) render();
      },
    );
  }

  const stopFilters = bindFilters({ name, status, more }, {
    filter(filters) {
      const next = filterHistory(state, filters);
      if (next === state) return;
      state = next;
      render();
      load(false);
    },
    more: () => load(true),
  });

  const timer = setInterval(refresh, options.interval ?? 3000);
  render();

  return {
    el,
    show() {
      const first = !shown && state.total === null && !state.loading;
      shown = true;
      if (first) load(false);
      else refresh();
    },
    hide() {
      shown = false;
    },
    state: () => state,
    cleanup() {
      if (disposed) return;
      disposed = true;
      clearInterval(timer);
      stopFilters();
      el.remove();
    },
  };
}
