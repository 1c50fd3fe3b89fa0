/**
 * The run list's state, pure: filters, pages, and how a run is described.
 *
 * The list (`history-list.js` draws it) shows runs newest first, a page at
 * a time, filtered by a part of the name and a status. Its state is plain
 * data changed only by the functions below, each returning a new state:
 *
 * - `filterHistory(state, filters)`: new filters start a new query (its
 *   number goes up); the rows go until the query's first page comes.
 * - `runsRequest(state, more)`: the `runs` request to send (see
 *   docs/protocol.md): the filters, and for "more" the cursor of the last
 *   page; `refreshRequest(state)` reads again every row shown so far in one
 *   request (the list stays as long as it was, with fresh statuses).
 * - `receivePage(state, query, answer, more)`: an answer of `query`; one of
 *   an older query is dropped (the user typed on meanwhile), "more" appends
 *   (a run already listed is not listed twice), anything else replaces.
 * - `failPage(state, query, error)`: the same for an error.
 *
 * The same state serves the widget's history mode (over the comm) and the
 * server's page (over `GET api/runs`, whose answer has the same shape).
 *
 * @module
 */

import { formatCount, formatDuration } from "./format.js";
import { CONTINUABLE, FINISHED } from "./status.js";

/** Runs per page. */
export const PAGE = 25;
/** At most this many rows are read again by a refresh (the server's limit is 500). */
export const MAX_REFRESH = 500;

/**
 * A run as the list shows it (the `runs` answer's items).
 *
 * @typedef {object} RunItem
 * @property {string} id
 * @property {string} name
 * @property {string} status
 * @property {string} [project]
 * @property {number} created seconds since the epoch
 * @property {number} [ended] seconds from the run's start to its end
 * @property {Record<string, number>} counts
 * @property {number} total
 * @property {string} [stored_status] an interrupted run: what its row was left with
 * @property {string} [error] the run could not be stored completely
 */

/**
 * @typedef {object} HistoryState
 * @property {string} name filter: a part of the name ("" for any)
 * @property {string} status filter: one run status ("" for any)
 * @property {RunItem[]} runs the rows shown, newest first
 * @property {string | null} next the cursor of the page after the last shown; null on the last
 * @property {number | null} total runs that match, on all pages (null until an answer)
 * @property {number} query bumped by every change of the filters
 * @property {boolean} loading a request of this query is on its way
 * @property {string} error the last request's error ("" for none)
 */

/** @returns {HistoryState} */
export function createHistory() {
  return { name: "", status: "", runs: [], next: null, total: null, query: 0, loading: false, error: "" };
}

/**
 * New filters: a new query, unless they are the ones in use.
 *
 * @param {HistoryState} state
 * @param {{name?: string, status?: string}} filters
 * @returns {HistoryState}
 */
export function filterHistory(state, filters) {
  const name = (filters.name ?? state.name).trim().slice(0, 200);
  const status = filters.status ?? state.status;
  if (name === state.name && status === state.status) return state;
  return { ...state, name, status, runs: [], next: null, total: null, query: state.query + 1, error: "" };
}

/**
 * The `runs` request for the first page (`more` false) or the next one.
 *
 * @param {HistoryState} state
 * @param {boolean} more
 * @param {number} [limit]
 * @returns {{type: "runs", limit: number, name?: string, status?: string, cursor?: string}}
 */
export function runsRequest(state, more, limit = PAGE) {
  /** @type {{type: "runs", limit: number, name?: string, status?: string, cursor?: string}} */
  const request = { type: "runs", limit };
  if (state.name) request.name = state.name;
  if (state.status) request.status = state.status;
  if (more && state.next) request.cursor = state.next;
  return request;
}

/**
 * The request that reads again every row shown (at least one page).
 *
 * @param {HistoryState} state
 */
export function refreshRequest(state) {
  return runsRequest(state, false, Math.min(MAX_REFRESH, Math.max(PAGE, state.runs.length)));
}

/**
 * @param {HistoryState} state
 * @returns {HistoryState}
 */
export function startLoading(state) {
  return state.loading ? state : { ...state, loading: true };
}

/**
 * Apply an answer of `query` (`{runs, next, total}`).
 *
 * @param {HistoryState} state
 * @param {number} query the state's query when the request was sent
 * @param {{runs?: unknown, next?: unknown, total?: unknown}} answer
 * @param {boolean} more the request was for the next page
 * @returns {HistoryState}
 */
export function receivePage(state, query, answer, more) {
  if (query !== state.query) return state;
  const page = Array.isArray(answer.runs) ? answer.runs.filter(isRun) : [];
  const next = typeof answer.next === "string" && answer.next ? answer.next : null;
  const total = typeof answer.total === "number" ? answer.total : null;
  if (!more) return { ...state, runs: page, next, total, loading: false, error: "" };
  const known = new Set(state.runs.map((r) => r.id));
  const runs = [...state.runs, ...page.filter((r) => !known.has(r.id))];
  return { ...state, runs, next, total: total ?? state.total, loading: false, error: "" };
}

/**
 * A request of `query` failed: keep the rows, say why.
 *
 * @param {HistoryState} state
 * @param {number} query
 * @param {string} error
 * @returns {HistoryState}
 */
export function failPage(state, query, error) {
  if (query !== state.query) return state;
  return { ...state, loading: false, error };
}

/**
 * @param {unknown} item
 * @returns {item is RunItem}
 */
function isRun(item) {
  if (item === null || typeof item !== "object") return false;
  const r = /** @type {Record<string, unknown>} */ (item);
  return typeof r.id === "string" && r.id !== "" && typeof r.status === "string";
}

/**
 * What a row says about a run.
 *
 * @typedef {object} RunRow
 * @property {string} name the run's name, or its id
 * @property {string} created `12 s ago`, `5 min ago`, `3 h ago`, or the date
 * @property {string} createdTitle the date and time in full
 * @property {string} duration how long it ran (`1.2 s`, `4:05`), live while it runs, `–` unknown
 * @property {number} finished done, failed, cancelled and skipped nodes
 * @property {string} counts `5 / 6`, with the failed nodes when there are any
 * @property {string} countsTitle every status with its count
 * @property {boolean} continuable its status is one a stored run can be continued from
 */

/**
 * @param {RunItem} run
 * @param {number} now seconds since the epoch
 * @returns {RunRow}
 */
export function describeRun(run, now) {
  const counts = run.counts && typeof run.counts === "object" ? run.counts : {};
  let finished = 0;
  for (const [status, n] of Object.entries(counts)) if (FINISHED.has(status) && typeof n === "number") finished += n;
  const total = typeof run.total === "number" ? run.total : 0;
  let seconds;
  if (typeof run.ended === "number") seconds = run.ended;
  else if ((run.status === "running" || run.status === "paused") && run.created) seconds = Math.max(0, now - run.created);
  const failed = counts.failed ?? 0;
  return {
    name: run.name || run.id,
    created: ago(run.created, now),
    createdTitle: run.created ? new Date(run.created * 1000).toLocaleString() : "",
    duration: seconds === undefined ? "–" : formatDuration(seconds),
    finished,
    counts: `${formatCount(finished)} / ${formatCount(total)}${failed ? ` · ${formatCount(failed)} failed` : ""}`,
    countsTitle: Object.entries(counts)
      .filter(([, n]) => n)
      .map(([s, n]) => `${s} ${n}`)
      .join(", "),
    continuable: CONTINUABLE.has(run.status),
  };
}

/**
 * `12 s ago`, `5 min ago`, `3 h ago`, or the date.
 *
 * @param {number} unix seconds since the epoch (0: unknown)
 * @param {number} now seconds since the epoch
 * @returns {string}
 */
export function ago(unix, now) {
  if (!unix) return "";
  const s = Math.max(0, now - unix);
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(unix * 1000).toLocaleDateString();
}
