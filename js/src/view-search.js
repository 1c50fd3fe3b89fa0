/**
 * Finding nodes: the toolbar's search box (by id or label, an exact id
 * first; Enter goes to the next match and opens it) and the legend (a click
 * on a status goes to the next node in that status; in a comparison, on a
 * difference class, to the next node of that class).
 *
 * Runs on the main thread; keeps only the last query's matches, nothing to
 * release.
 *
 * @module
 */

import { classOf } from "./compare.js";
import { isReused } from "./rerun.js";

/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */
/** @typedef {import("./stage.js").Stage} Stage */
/** @typedef {import("./toolbar.js").Toolbar} Toolbar */
/** @typedef {import("./view-notices.js").Notices} Notices */

/**
 * @param {object} parts
 * @param {Stage} parts.stage
 * @param {Toolbar} parts.toolbar
 * @param {Notices} parts.notices
 * @param {() => Readonly<Record<string, NodeSummary>> | undefined} parts.nodes the state's nodes
 * @param {(id: string, select: boolean) => void} parts.focus centre a node, selecting it or not
 * @returns {{search: (query: string, step: boolean) => void, nextWithStatus: (status: string) => void, nextWithClass: (cls: string) => void}}
 */
export function createSearch({ stage, toolbar, notices, nodes, focus }) {
  let lastQuery = "";
  /** @type {string[]} */
  let matches = [];
  let matchAt = -1;

  /**
   * @param {string} query
   * @param {boolean} step Enter: go to the next match and select it
   */
  function search(query, step) {
    const q = query.trim();
    const all = nodes() ?? {};
    toolbar.search.classList.remove("tb-notfound");
    if (!q) {
      lastQuery = "";
      matches = [];
      stage.setMatch(null);
      toolbar.setSearchCount("");
      return;
    }
    if (q !== lastQuery) {
      lastQuery = q;
      matchAt = -1;
      const lower = q.toLowerCase();
      // By id or by label; an exact id first.
      matches = Object.keys(all).filter((id) => {
        if (id === q) return false;
        const label = all[id].label;
        return id.toLowerCase().includes(lower) || (typeof label === "string" && label.toLowerCase().includes(lower));
      });
      if (q in all) matches.unshift(q);
    }
    if (!matches.length) {
      toolbar.search.classList.add("tb-notfound");
      toolbar.setSearchCount("none");
      stage.setMatch(null);
      return;
    }
    matchAt = step || matchAt < 0 ? (matchAt + 1) % matches.length : matchAt;
    const id = matches[matchAt];
    stage.setMatch(id);
    focus(id, step);
    toolbar.setSearchCount(`${matchAt + 1} / ${matches.length}`);
  }

  /** @type {Record<string, number>} */
  const legendCursor = {};
  /**
   * Go to the next node (after the last one this key went to) that `test` accepts.
   *
   * @param {string} key
   * @param {(node: NodeSummary) => boolean} test
   * @param {string} none the notice when there is none
   */
  function nextWhere(key, test, none) {
    const all = nodes();
    if (!all) return;
    const ids = Object.keys(all);
    const start = legendCursor[key] ?? -1;
    for (let k = 1; k <= ids.length; k++) {
      const at = (start + k) % ids.length;
      if (test(all[ids[at]])) {
        legendCursor[key] = at;
        stage.setMatch(ids[at]);
        focus(ids[at], true);
        return;
      }
    }
    notices.show("info", none);
  }

  /** @param {string} status */
  function nextWithStatus(status) {
    nextWhere(status, (node) => node.status === status, `No ${status} node`);
  }

  /**
   * A comparison's legend: the next node of a difference class, or (`reused`) one run b reused.
   *
   * @param {string} cls
   */
  function nextWithClass(cls) {
    const test = cls === "reused" ? isReused : (/** @type {NodeSummary} */ node) => classOf(node) === cls;
    nextWhere(`class:${cls}`, test, cls === "reused" ? "No node reused in run b" : `No ${cls} node`);
  }

  return { search, nextWithStatus, nextWithClass };
}
