/**
 * Progress and metrics of nodes and runs (`progress`, `metrics` in a node's
 * summary; `metrics`, `units`, `budgets` in the run's fields): the pure
 * text and numbers the canvas, the details panel and the toolbar show.
 *
 * Names and units are data from tasks: they are only ever set as text
 * (`textContent`, canvas `fillText`), never as markup.
 *
 * @module
 */

/**
 * @typedef {object} Progress
 * @property {number} done
 * @property {number} [total]
 * @property {string} [note]
 */

/** The metric a card shows beside its duration, when the node has it. */
const CARD_METRICS = ["cost", "tokens_out", "tokens"];
/** At most this many of the run's metrics in the toolbar. */
const RUN_SHOWN = 3;

/**
 * The fraction done, 0 to 1; `null` without a usable total (drawn as an open ring).
 *
 * @param {Progress | undefined} p
 * @returns {number | null}
 */
export function progressFraction(p) {
  if (!p || typeof p.done !== "number" || !Number.isFinite(p.done)) return null;
  const total = p.total;
  if (typeof total !== "number" || !Number.isFinite(total) || total <= 0) return null;
  return Math.min(1, Math.max(0, p.done / total));
}

/**
 * A short text of progress: "3/10", "30 %" for big totals, or the count alone.
 *
 * @param {Progress | undefined} p
 * @returns {string}
 */
export function progressText(p) {
  if (!p || typeof p.done !== "number") return "";
  const f = progressFraction(p);
  if (f === null) return formatNumber(p.done);
  if ((p.total ?? 0) > 9999) return `${Math.floor(f * 100)} %`;
  return `${formatNumber(p.done)}/${formatNumber(/** @type {number} */ (p.total))}`;
}

/**
 * A number in a few characters: 1234 → "1,234", 1234567 → "1.23M", 0.01234 → "0.0123".
 *
 * @param {number} v
 * @returns {string}
 */
export function formatNumber(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e15) return v.toExponential(2);
  if (a >= 1e9) return `${trim((v / 1e9).toFixed(2))}G`;
  if (a >= 1e6) return `${trim((v / 1e6).toFixed(2))}M`;
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  if (a >= 100) return trim(v.toFixed(1));
  if (a >= 1) return trim(v.toFixed(2));
  if (a === 0) return "0";
  return String(Number(v.toPrecision(3)));
}

/** @param {string} s */
function trim(s) {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/**
 * One metric as text: "cost 0.12", "tokens_in 1,200 tokens".
 *
 * @param {string} name
 * @param {number} value
 * @param {string | undefined} [unit]
 * @returns {string}
 */
export function formatMetric(name, value, unit) {
  return unit ? `${name} ${formatNumber(value)} ${unit}` : `${name} ${formatNumber(value)}`;
}

/**
 * The metric a card shows (its cost, else its output tokens), or "".
 *
 * @param {Record<string, number> | undefined} metrics
 * @returns {string}
 */
export function cardMetric(metrics) {
  if (!metrics) return "";
  for (const name of CARD_METRICS) {
    const v = metrics[name];
    if (typeof v === "number") return formatMetric(name, v);
  }
  return "";
}

/**
 * The rows of a details panel: `[label, text]` for progress, then each metric.
 *
 * @param {{progress?: Progress, metrics?: Record<string, number>}} node
 * @param {Record<string, string>} [units]
 * @returns {[string, string][]}
 */
export function metricRows(node, units) {
  /** @type {[string, string][]} */
  const rows = [];
  const p = node.progress;
  if (p && typeof p.done === "number") {
    const f = progressFraction(p);
    let text = progressText(p);
    if (f !== null && !text.endsWith("%")) text += ` (${Math.floor(f * 100)} %)`;
    if (p.note) text += ` · ${p.note}`;
    rows.push(["Progress", text]);
  }
  for (const [name, value] of Object.entries(node.metrics ?? {})) {
    const unit = units?.[name];
    rows.push([name, unit ? `${formatNumber(value)} ${unit}` : formatNumber(value)]);
  }
  return rows;
}

/**
 * The run's roll-ups for the toolbar: "cost 3.2 / 5 · tokens_in 1,200", the
 * budgeted ones first, with their limits; at most three.
 *
 * @param {{metrics?: Record<string, number>, units?: Record<string, string>, budgets?: Record<string, number>} | undefined} run
 * @returns {string}
 */
export function runMetricsText(run) {
  const metrics = run?.metrics;
  if (!metrics) return "";
  const budgets = run?.budgets ?? {};
  const names = Object.keys(metrics);
  names.sort((a, b) => Number(b in budgets) - Number(a in budgets));
  return names
    .slice(0, RUN_SHOWN)
    .map((name) => {
      const text = formatMetric(name, metrics[name], run?.units?.[name]);
      return name in budgets ? `${text} / ${formatNumber(budgets[name])}` : text;
    })
    .join(" · ");
}

/**
 * Whether a budget of the run is passed (the toolbar marks it).
 *
 * @param {{metrics?: Record<string, number>, budgets?: Record<string, number>} | undefined} run
 * @returns {boolean}
 */
export function overBudget(run) {
  const metrics = run?.metrics ?? {};
  for (const [name, limit] of Object.entries(run?.budgets ?? {})) {
    if ((metrics[name] ?? 0) > limit) return true;
  }
  return false;
}
