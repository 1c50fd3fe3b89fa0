/**
 * Numbers and times as the toolbar and the details panel show them.
 *
 * @module
 */

const INTEGER = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/**
 * `12,345`
 *
 * @param {number} n
 * @returns {string}
 */
export function formatCount(n) {
  return INTEGER.format(n);
}

/**
 * A duration in seconds as `0.42 s`, `12.3 s`, `4:05`, or `2:03:09`.
 *
 * @param {number | undefined | null} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, seconds);
  if (s < 1) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const sec = String(whole % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/**
 * Nodes per second, as a number to show: `0.25`, `3.4`, `1,200`.
 *
 * @param {number} perSecond
 * @returns {string}
 */
export function formatRate(perSecond) {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return "0";
  if (perSecond < 1) return perSecond.toFixed(2);
  if (perSecond < 100) return perSecond.toFixed(1);
  return INTEGER.format(perSecond);
}

/**
 * The part of a node id after its parent's: `plan/step_3` → `step_3`.
 *
 * @param {string} id
 * @param {string | undefined} parent
 * @returns {string}
 */
export function localName(id, parent) {
  if (parent && id.startsWith(parent + "/")) return id.slice(parent.length + 1);
  return id;
}

/**
 * What a node is called on the canvas: its label if it has one, else its
 * id without its parent's prefix.
 *
 * @param {string} id
 * @param {{label?: string} | undefined} node
 * @param {string | undefined} parent
 * @returns {string}
 */
export function displayName(id, node, parent) {
  const label = node?.label;
  return typeof label === "string" && label ? label : localName(id, parent);
}

/**
 * A failed node's short note: `timed out after 30 s` for a timeout, else
 * the exception's class name without its module (`ValueError`).
 *
 * @param {{type?: string, message?: string}} error
 * @returns {string}
 */
export function errorNote(error) {
  const type = typeof error.type === "string" ? error.type : "";
  const name = type.slice(type.lastIndexOf(".") + 1);
  if (name === "NodeTimeout" || name === "TimeoutError") {
    const m = /timed out after ([0-9.]+(?:e[-+]?\d+)?) ?s\b/.exec(error.message ?? "");
    if (m) return `timed out after ${formatSeconds(Number(m[1]))}`;
    return "timed out";
  }
  return name || "failed";
}

/**
 * A number of seconds, short: `30 s`, `0.5 s`, `1.25 s`, `2 min`, `1:30 min`.
 *
 * @param {number} seconds
 * @returns {string}
 */
export function formatSeconds(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 60) return `${Number(seconds.toPrecision(3))} s`;
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60);
  const sec = whole % 60;
  return sec ? `${m}:${String(sec).padStart(2, "0")} min` : `${m} min`;
}

/**
 * A sliding-window rate: how many nodes finished per second over the last
 * `window` seconds, from samples of the finished count.
 */
export class RateMeter {
  /** @param {number} [window] seconds */
  constructor(window = 10) {
    this.window = window;
    /** @type {{t: number, n: number}[]} */
    this.samples = [];
  }

  /**
   * @param {number} t seconds (any clock, increasing)
   * @param {number} finished nodes finished so far
   */
  add(t, finished) {
    const last = this.samples[this.samples.length - 1];
    if (last && finished < last.n) this.samples = []; // a new run or a resync to fewer
    this.samples.push({ t, n: finished });
    while (this.samples.length > 2 && t - this.samples[1].t >= this.window) this.samples.shift();
  }

  /**
   * @param {number} t now, on the clock of `add`
   * @returns {number} nodes per second
   */
  rate(t) {
    const samples = this.samples;
    const last = samples[samples.length - 1];
    if (!last || samples.length < 2) return 0;
    // The count is a step function: at the window's start it was that of
    // the last sample at or before it (or, if none, the first sample's).
    const from = t - this.window;
    let base = samples[0];
    for (const s of samples) {
      if (s.t <= from) base = s;
      else break;
    }
    const start = base.t <= from ? from : base.t;
    return (last.n - base.n) / Math.max(t - start, 1);
  }

  reset() {
    this.samples = [];
  }
}
