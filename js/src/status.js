/**
 * Node and run statuses as the wire carries them.
 *
 * The order of `STATUSES` is a node's life from left to right; the legend,
 * the progress bar and the canvas's colour table all follow it. Colours are
 * not defined here: each status has a CSS class `tb-status-<status>` that
 * sets the custom property `--tb-color` (see `style.css`), and the canvas
 * reads those values back, so a theme changes them in one place.
 *
 * @module
 */

export const STATUSES = /** @type {const} */ ([
  "pending",
  "ready",
  "running",
  "waiting",
  "retrying",
  "expanded",
  "aggregating",
  "done",
  "failed",
  "cancelled",
  "skipped",
]);

/** @typedef {typeof STATUSES[number]} Status */

/** Statuses a node never leaves; they count as progress. */
export const FINISHED = /** @type {ReadonlySet<string>} */ (
  new Set(["done", "failed", "cancelled", "skipped"])
);

/** Statuses of nodes whose work ran to an end: what throughput counts (not cancelled or skipped ones). */
export const WORKED = /** @type {ReadonlySet<string>} */ (new Set(["done", "failed"]));

/** Run statuses after which nothing changes (pause, resume and cancel are off). */
export const RUN_ENDED = /** @type {ReadonlySet<string>} */ (new Set(["done", "failed", "cancelled"]));

/**
 * A whole run's statuses, as the run list's filter offers them. `interrupted`
 * is only ever a stored run's: the process that ran it is gone.
 */
export const RUN_STATUSES = /** @type {const} */ (["running", "paused", "done", "failed", "cancelled", "interrupted"]);

/** Run statuses from which a stored run can be continued (what a "Continue" button offers). */
export const CONTINUABLE = /** @type {ReadonlySet<string>} */ (new Set(["interrupted", "failed", "cancelled"]));

/** @type {ReadonlySet<string>} */
const RUN_STATUS_SET = new Set(RUN_STATUSES);

/**
 * The CSS class that colours a run's `status` (its pill in the toolbar and
 * the run lists): `tb-status-<status>` for a run status, which `style.css`
 * defines next to the node statuses (`paused` and `interrupted` are run
 * statuses only); anything else counts as pending.
 *
 * @param {string | undefined} status
 * @returns {string}
 */
export function runStatusClass(status) {
  return status !== undefined && RUN_STATUS_SET.has(status) ? "tb-status-" + status : "tb-status-pending";
}

/** @type {ReadonlyMap<string, number>} */
const INDEX = new Map(STATUSES.map((s, i) => [s, i]));

/**
 * The position of `status` in {@link STATUSES}; an unknown status counts as
 * `pending` (index 0), so a newer server never breaks an older view.
 *
 * @param {string | undefined} status
 * @returns {number}
 */
export function statusIndex(status) {
  return (status !== undefined && INDEX.get(status)) || 0;
}

/**
 * The CSS class that colours `status`: `tb-status-<status>`.
 *
 * @param {string | undefined} status
 * @returns {string}
 */
export function statusClass(status) {
  return "tb-status-" + STATUSES[statusIndex(status)];
}

/** The index of every finished status, as a lookup table by status index. */
export const FINISHED_INDEX = /** @type {readonly boolean[]} */ (STATUSES.map((s) => FINISHED.has(s)));

/**
 * Whether a run in `status` shows that the control `kind` took effect:
 * paused after a pause, running after a resume, ended after anything.
 *
 * @param {"pause" | "resume" | "cancel"} kind
 * @param {string} status the run's status
 * @returns {boolean}
 */
export function controlSettled(kind, status) {
  if (RUN_ENDED.has(status)) return true;
  return (kind === "pause" && status === "paused") || (kind === "resume" && status === "running");
}
