import { describe, expect, it } from "vitest";
import {
  AGGREGATE_OVER,
  barOf,
  buildGroups,
  buildLines,
  density,
  extent,
  makeScale,
  NO_TAG,
  panBy,
  TOP_LEVEL,
  toTime,
  toX,
  UNKNOWN_FUNCTION,
  visibleLines,
  zoomAt,
} from "../src/timeline.js";
import { formatTime } from "../src/view-timeline.js";

/** @type {Record<string, any>} */
const NODES = {
  a: { status: "done", attempt: 3, started: 1.0, ended: 1.5, attempts: [[0.0, 0.2, "failed"], [0.4, 0.7, "timeout"]] },
  b: { status: "waiting", attempt: 1, started: 0.5, waits: [[0.6, 0.8], [0.9]], tags: ["llm", "io"] },
  p: { status: "expanded", attempt: 1, started: 0.1 },
  "p/x": { status: "done", attempt: 1, started: 0.3, ended: 0.4, parent: "p", tags: ["llm"] },
  "p/y": { status: "pending", parent: "p" },
  c: { status: "skipped", ended: 2.0 },
};

describe("rows from node summaries", () => {
  it("makes every attempt a segment, the last one in the node's status", () => {
    const bar = barOf("a", NODES.a);
    expect(bar.attempts).toEqual([
      [0.0, 0.2, "failed"],
      [0.4, 0.7, "timeout"],
      [1.0, 1.5, "done"],
    ]);
    expect(bar.start).toBe(0.0);
    expect(bar.end).toBe(1.5);
  });

  it("keeps waits apart, an open one without an end", () => {
    const bar = barOf("b", NODES.b);
    expect(bar.waits).toEqual([
      [0.6, 0.8],
      [0.9, null],
    ]);
    expect(bar.end).toBeNull();
  });

  it("gives a node that never started no bar, even with an end", () => {
    const bar = barOf("c", NODES.c);
    expect(bar.start).toBeNull();
    expect(bar.end).toBeNull();
    expect(bar.attempts).toEqual([]);
  });
});

describe("grouping", () => {
  it("groups by parent sub-graph, the top level first, bars by start", () => {
    const groups = buildGroups(NODES, "parent");
    expect(groups.map((g) => g.key)).toEqual([TOP_LEVEL, "p"]);
    expect(groups[0].bars.map((b) => b.id)).toEqual(["a", "p", "b", "c"]);
    expect(groups[1].bars.map((b) => b.id)).toEqual(["p/x", "p/y"]);
    expect(groups[0].end).toBeNull(); // b and p are open
    expect(groups[1].start).toBe(0.3);
  });

  it("groups by first tag and by function", () => {
    const tags = buildGroups(NODES, "tag");
    expect(Object.fromEntries(tags.map((g) => [g.key, g.count]))).toEqual({ llm: 2, [NO_TAG]: 4 });
    const fns = buildGroups(NODES, "function", { functions: { a: "load", b: "load", p: "split" } });
    expect(Object.fromEntries(fns.map((g) => [g.key, g.count]))).toEqual({ load: 2, split: 1, [UNKNOWN_FUNCTION]: 3 });
  });

  it("draws a header per group and hides a collapsed group's rows", () => {
    const groups = buildGroups(NODES, "parent", { collapsed: new Set(["p"]) });
    const { lines, aggregated, nodes } = buildLines(groups);
    expect(aggregated).toBe(false);
    expect(nodes).toBe(6);
    expect(lines.map((l) => (l.kind === "node" ? l.bar.id : `[${l.group.key}]`))).toEqual([
      `[${TOP_LEVEL}]`,
      "a",
      "p",
      "b",
      "c",
      "[p]",
    ]);
  });

  it("has no header for a single group", () => {
    const { lines } = buildLines(buildGroups({ a: NODES.a, b: NODES.b }, "parent"));
    expect(lines.map((l) => l.kind)).toEqual(["node", "node"]);
  });

  it("aggregates past the limit: one density line per group", () => {
    /** @type {Record<string, any>} */
    const many = {};
    for (let i = 0; i < 30; i++) many[`g${i % 3}/n${i}`] = { status: "done", started: i, ended: i + 1, parent: `g${i % 3}` };
    const { lines, aggregated } = buildLines(buildGroups(many, "parent"), { aggregateOver: 10 });
    expect(aggregated).toBe(true);
    expect(lines.map((l) => l.kind)).toEqual(["density", "density", "density"]);
    expect(AGGREGATE_OVER).toBe(20000);
  });
});

describe("time scale", () => {
  it("maps seconds to pixels and back", () => {
    const s = makeScale(0, 10, 100, 500);
    expect(toX(s, 0)).toBe(100);
    expect(toX(s, 10)).toBe(600);
    expect(toTime(s, 350)).toBe(5);
  });

  it("zooms around the pointer and pans by pixels", () => {
    const s = makeScale(0, 10, 100, 500);
    const z = zoomAt(s, 2, 350);
    expect(toTime(z, 350)).toBeCloseTo(5);
    expect(z.t1 - z.t0).toBeCloseTo(5);
    const p = panBy(s, 50); // the bars move right by 50 px: one second earlier comes into view
    expect(p.t0).toBeCloseTo(-1);
    expect(p.t1).toBeCloseTo(9);
  });

  it("shows the whole run: open bars grow to the clock", () => {
    const groups = buildGroups(NODES, "parent");
    expect(extent(groups, 3)[1]).toBeCloseTo(3 * 1.02);
    expect(extent(groups, null)[1]).toBeCloseTo(1.5 * 1.02);
    expect(extent([], null)).toEqual([0, 1.02]);
  });

  it("labels ticks", () => {
    expect(formatTime(0.25, 0.05)).toBe("250 ms");
    expect(formatTime(5, 1)).toBe("5 s");
    expect(formatTime(150, 30)).toBe("2:30");
  });
});

describe("virtual rows and density", () => {
  it("draws only the lines in view", () => {
    expect(visibleLines(10000, 0, 400, 18)).toEqual([0, 23]);
    expect(visibleLines(10000, 18 * 5000, 400, 18)).toEqual([5000, 5023]);
    expect(visibleLines(10, 0, 400, 18)).toEqual([0, 10]);
    expect(visibleLines(10, 1000, 400, 18)).toEqual([10, 10]);
  });

  it("counts the nodes running in each slice", () => {
    const [group] = buildGroups(
      {
        a: { status: "done", started: 0, ended: 5 },
        b: { status: "done", started: 2, ended: 3 },
        c: { status: "running", started: 8 },
      },
      "parent",
    );
    expect([...density(group, 0, 10, 10, 10)]).toEqual([1, 1, 2, 2, 1, 1, 0, 0, 1, 1]);
  });
});
