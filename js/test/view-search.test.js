import { describe, expect, it } from "vitest";
import { createSearch } from "../src/view-search.js";

/**
 * The search part over fakes of the stage, the toolbar and the notices:
 * what it marks, centres and says.
 *
 * @param {Record<string, {status: string, label?: string}>} nodes
 */
function setup(nodes) {
  /** @type {(string | null)[]} */
  const marked = [];
  /** @type {[string, boolean][]} */
  const focused = [];
  /** @type {string[]} */
  const counts = [];
  /** @type {string[]} */
  const said = [];
  const classes = new Set();
  const stage = { setMatch: (/** @type {string | null} */ id) => marked.push(id) };
  const toolbar = {
    search: { classList: { add: (/** @type {string} */ c) => classes.add(c), remove: (/** @type {string} */ c) => classes.delete(c) } },
    setSearchCount: (/** @type {string} */ text) => counts.push(text),
  };
  const notices = { show: (/** @type {string} */ _level, /** @type {string} */ text) => said.push(text) };
  const part = createSearch({
    stage: /** @type {any} */ (stage),
    toolbar: /** @type {any} */ (toolbar),
    notices: /** @type {any} */ (notices),
    nodes: () => /** @type {any} */ (nodes),
    focus: (id, select) => focused.push([id, select]),
  });
  return { ...part, marked, focused, counts, said, classes };
}

const NODES = {
  "load/b": { status: "done" },
  load: { status: "running", label: "Load data" },
  parse: { status: "failed", label: "parse loaded" },
  report: { status: "failed" },
};

describe("search", () => {
  it("matches ids and labels, an exact id first, and centres the match without selecting it", () => {
    const s = setup(NODES);
    s.search("load", false);
    expect(s.marked.at(-1)).toBe("load");
    expect(s.focused).toEqual([["load", false]]);
    expect(s.counts.at(-1)).toBe("1 / 3");
  });

  it("steps to the next match on Enter, selecting it, and wraps round", () => {
    const s = setup(NODES);
    s.search("load", false);
    s.search("load", true);
    s.search("load", true);
    s.search("load", true);
    expect(s.focused.slice(1)).toEqual([
      ["load/b", true],
      ["parse", true],
      ["load", true],
    ]);
    expect(s.counts.at(-1)).toBe("1 / 3");
  });

  it("says none and marks nothing when nothing matches", () => {
    const s = setup(NODES);
    s.search("zzz", false);
    expect(s.classes.has("tb-notfound")).toBe(true);
    expect(s.counts.at(-1)).toBe("none");
    expect(s.marked.at(-1)).toBe(null);
    s.search("", false);
    expect(s.classes.has("tb-notfound")).toBe(false);
    expect(s.counts.at(-1)).toBe("");
  });
});

describe("nextWithStatus", () => {
  it("goes through the nodes in a status in turn, selecting each", () => {
    const s = setup(NODES);
    s.nextWithStatus("failed");
    s.nextWithStatus("failed");
    s.nextWithStatus("failed");
    expect(s.focused).toEqual([
      ["parse", true],
      ["report", true],
      ["parse", true],
    ]);
  });

  it("says so when no node has the status", () => {
    const s = setup(NODES);
    s.nextWithStatus("cancelled");
    expect(s.said).toEqual(["No cancelled node"]);
    expect(s.focused).toEqual([]);
  });
});
