/**
 * The details panel of a node in a comparison: both runs side by side.
 *
 * A grid of two columns, run a's and run b's: status, how long it took,
 * whether the result was executed or reused (and from where), the error
 * (its traceback folded), the result preview, the captured output. A run
 * that does not have the node says so in its column. Under the grid: the
 * box the node is in, what it depends on and its children, in either run,
 * each link wearing its class's colour and glyph.
 *
 * Every text goes in through `textContent` (results and output are
 * arbitrary strings, and a result that prints like HTML stays text).
 *
 * @module
 */

import { CLASS_INFO, compareOf, diffClass, sideFacts, sideHead } from "./compare.js";
import { h } from "./details.js";
import { shortRunId } from "./rerun.js";
import { statusClass } from "./status.js";

/** @typedef {import("./details.js").Details} Details */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */
/** @typedef {import("./compare.js").RunCompare} RunCompare */

/**
 * What a `node_details` answer of a comparison holds: the node as drawn,
 * and each run's details of it.
 *
 * @typedef {Details & {a?: Details, b?: Details}} CompareDetails
 */

/**
 * @typedef {object} CompareContext
 * @property {RunCompare} compare the run's `compare` field
 * @property {(id: string) => import("./compare.js").DiffClass | undefined} classOf a linked node's class
 * @property {(id: string) => string | undefined} [labelOf]
 * @property {string} [error] the text of a failed details request
 */

/** At most this many dependency or child links; the rest are counted. */
const MAX_LINKS = 200;

/**
 * The head's line under the node's name: its class, as a pill with its glyph.
 *
 * @param {NodeSummary | undefined} summary
 * @returns {HTMLElement}
 */
export function classPill(summary) {
  const c = compareOf(summary);
  const cls = c?.class ?? "unknown";
  const info = CLASS_INFO[cls];
  const pill = h("span", `tb-pill tb-diff-pill ${diffClass(cls)}`);
  pill.dataset.class = cls;
  pill.title = info.title;
  pill.append(h("span", "tb-diff-glyph", info.glyph), h("span", "", info.label));
  return pill;
}

/**
 * The panel's body for a node of a comparison.
 *
 * @param {NodeSummary | undefined} summary from the state
 * @param {CompareDetails | null} details the answer, once it has come
 * @param {CompareContext} context
 * @param {(id: string) => void} select show another node
 * @returns {HTMLElement}
 */
export function compareBody(summary, details, context, select) {
  const body = h("div", "tb-details-body tb-compare-body");
  if (!summary) {
    body.append(h("div", "tb-muted", "This node is in neither run."));
    return body;
  }
  const c = compareOf(summary);
  const { a: runA, b: runB } = context.compare;
  const grid = h("div", "tb-compare-grid");
  grid.setAttribute("role", "table");
  grid.setAttribute("aria-label", "The node in run a and in run b");
  /**
   * @param {string} label
   * @param {HTMLElement | string} left
   * @param {HTMLElement | string} right
   * @param {string} [className]
   */
  const row = (label, left, right, className = "") => {
    const k = h("div", `tb-compare-key ${className}`.trim(), label);
    k.setAttribute("role", "rowheader");
    const cell = (/** @type {HTMLElement | string} */ v, /** @type {"a" | "b"} */ side) => {
      const el = typeof v === "string" ? h("div", "tb-compare-cell", v) : v;
      el.classList.add("tb-compare-cell", `tb-compare-${side}`);
      el.setAttribute("role", "cell");
      return el;
    };
    grid.append(k, cell(left, "a"), cell(right, "b"));
  };
  const head = (/** @type {"a" | "b"} */ which) => {
    const side = which === "a" ? runA : runB;
    const el = h("div", "tb-compare-head", sideHead(which, side, shortRunId));
    el.title = `run ${which}: ${side.id}${side.name ? ` (${side.name})` : ""}${side.status ? `, ${side.status}` : ""}`;
    el.setAttribute("role", "columnheader");
    return el;
  };
  const corner = h("div", "tb-compare-key");
  grid.append(corner, head("a"), head("b"));

  // What each side says: the answer's details, else what the summary knows (its statuses).
  const has = { a: c?.status_a !== undefined, b: c?.status_b !== undefined };
  const facts = {
    a: has.a ? sideFacts(details?.a ?? { status: c?.status_a ?? "unknown" }) : null,
    b: has.b ? sideFacts(details?.b ?? { status: c?.status_b ?? "unknown" }) : null,
  };
  const missing = (/** @type {"a" | "b"} */ which) =>
    h("div", "tb-muted tb-compare-missing", which === "a" ? "not in run a" : "not in run b");
  const status = (/** @type {"a" | "b"} */ which) => {
    const f = facts[which];
    if (!f) return missing(which);
    const box = h("div");
    box.append(h("span", `tb-pill ${statusClass(f.status)}`, f.status));
    return box;
  };
  row("Status", status("a"), status("b"));
  if (details) {
    const text = (/** @type {"a" | "b"} */ which, /** @type {"took" | "made"} */ key) => {
      const f = facts[which];
      return f ? f[key] || "–" : "";
    };
    row("Took", text("a", "took"), text("b", "took"));
    const made = (/** @type {"a" | "b"} */ which) => {
      const f = facts[which];
      const el = h("div", f && f.made.startsWith("reused") ? "tb-compare-reused" : "", f ? f.made : "");
      if (f && f.made.startsWith("reused")) el.title = "Its result was taken from another run, not made in this one";
      return el;
    };
    row("Made", made("a"), made("b"));
    if (facts.a?.error || facts.b?.error) {
      const error = (/** @type {"a" | "b"} */ which) => {
        const f = facts[which];
        const box = h("div");
        if (!f?.error) {
          box.append(h("span", "tb-muted", "–"));
          return box;
        }
        box.append(h("pre", "tb-pre tb-error-text", f.error));
        if (f.traceback) {
          const fold = h("details", "tb-compare-traceback");
          fold.append(h("summary", "", "Traceback"), h("pre", "tb-pre tb-error-text", f.traceback));
          box.append(fold);
        }
        return box;
      };
      row("Error", error("a"), error("b"), "tb-compare-top");
    }
    const result = (/** @type {"a" | "b"} */ which) => {
      const f = facts[which];
      if (!f) return h("div");
      return f.result === undefined ? h("div", "tb-muted", "–") : h("pre", "tb-pre tb-compare-result", f.result);
    };
    row("Result", result("a"), result("b"), "tb-compare-top");
    if (facts.a?.output || facts.b?.output) {
      const output = (/** @type {"a" | "b"} */ which) => {
        const f = facts[which];
        return f?.output ? h("pre", "tb-pre tb-output", f.output) : h("div", "tb-muted", "–");
      };
      row("Output", output("a"), output("b"), "tb-compare-top");
    }
  }
  body.append(grid);

  const parent = summary.parent;
  if (parent) body.append(section("Inside", links([parent], context)));
  if (details) {
    const deps = union(details.b?.deps, details.a?.deps);
    body.append(section(`Depends on (${deps.length})`, deps.length ? links(deps, context) : h("span", "tb-muted", "nothing")));
    const children = union(details.b?.children, details.a?.children);
    if (children.length) body.append(section(`Children (${children.length}, in either run)`, links(children, context)));
  } else if (!context.error) {
    body.append(h("div", "tb-section tb-muted", "Loading details…"));
  }
  if (context.error) body.append(h("div", "tb-section tb-muted", `Details unavailable: ${context.error}`));

  /**
   * @param {string[]} ids
   * @param {CompareContext} ctx
   */
  function links(ids, ctx) {
    const box = h("div", "tb-links");
    for (const other of ids.slice(0, MAX_LINKS)) {
      const cls = ctx.classOf(other) ?? "unknown";
      const label = ctx.labelOf?.(other);
      const link = h("button", `tb-link ${diffClass(cls)}${label ? " tb-link-label" : ""}`);
      link.type = "button";
      link.dataset.class = cls;
      if (cls !== "equal") link.append(h("span", "tb-diff-glyph", CLASS_INFO[cls].glyph));
      link.append(h("span", "tb-link-text", label || other));
      link.title = `${label ? `${label}: ` : ""}${other} (${CLASS_INFO[cls].label})`;
      link.addEventListener("click", () => select(other));
      box.append(link);
    }
    if (ids.length > MAX_LINKS) box.append(h("span", "tb-muted", `… and ${ids.length - MAX_LINKS} more`));
    return box;
  }
  return body;
}

/**
 * The ids of `first`, then those of `second` it lacks.
 *
 * @param {unknown} first
 * @param {unknown} second
 * @returns {string[]}
 */
function union(first, second) {
  /** @type {string[]} */
  const out = [];
  const seen = new Set();
  for (const list of [first, second]) {
    if (!Array.isArray(list)) continue;
    for (const id of list) {
      if (typeof id === "string" && !seen.has(id)) {
        seen.add(id);
        out.push(id);
      }
    }
  }
  return out;
}

/**
 * @param {string} title
 * @param {HTMLElement} content
 */
function section(title, content) {
  const el = h("div", "tb-section");
  el.append(h("div", "tb-section-title", title), content);
  return el;
}
