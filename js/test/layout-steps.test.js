import { describe, expect, it } from "vitest";
import { adjacency, assignLayers, layerLists, orderLayers, placeColumns, wrapLayers } from "../src/layout.js";

const GAP = { nodeGap: 12, layerGap: 64, aspectGraph: 2 };

/**
 * The steps of one piece on local nodes 0 .. m-1 (kids are the identity).
 *
 * @param {number} m
 * @param {[number, number][]} pairs
 */
function steps(m, pairs) {
  const kids = Array.from({ length: m }, (_, i) => i);
  const adj = adjacency(kids, pairs, new Int32Array(m));
  const { layer, topo } = assignLayers(adj);
  return { kids, adj, layer, topo, cols: layerLists(layer, topo) };
}

/**
 * @param {Int32Array} start
 * @param {Int32Array} list
 * @param {number} i
 */
const around = (start, list, i) => [...list.subarray(start[i], start[i + 1])];

describe("adjacency", () => {
  it("indexes both ways in local positions, without duplicates or self-loops", () => {
    // Nodes 10, 20, 30: local 0, 1, 2.
    const local = new Int32Array(31).fill(-1);
    const adj = adjacency([10, 20, 30], [[10, 20], [10, 20], [20, 20], [10, 30], [20, 30]], local);
    expect([local[10], local[20], local[30]]).toEqual([0, 1, 2]);
    expect(adj.m).toBe(3);
    expect(around(adj.succStart, adj.succs, 0)).toEqual([1, 2]);
    expect(around(adj.succStart, adj.succs, 1)).toEqual([2]);
    expect(around(adj.succStart, adj.succs, 2)).toEqual([]);
    expect(around(adj.predStart, adj.preds, 2)).toEqual([0, 1]);
    expect(around(adj.predStart, adj.preds, 0)).toEqual([]);
    expect(adj.preds.length).toBe(3);
  });
});

describe("assignLayers", () => {
  it("puts each node one past its longest path from a source", () => {
    // 0 → 1 → 2 and 0 → 2: 2 is on layer 2, not 1.
    const { layer } = steps(3, [[0, 1], [1, 2], [0, 2]]);
    expect([...layer]).toEqual([0, 1, 2]);
  });

  it("pulls a source right, next to its first dependant", () => {
    // 0 → 1 → 2 → 3, and 4 → 3: 4 sits on layer 2, not 0.
    const { layer } = steps(5, [[0, 1], [1, 2], [2, 3], [4, 3]]);
    expect([...layer]).toEqual([0, 1, 2, 3, 2]);
  });

  it("leaves isolated nodes on layer 0", () => {
    const { layer, topo } = steps(3, []);
    expect([...layer]).toEqual([0, 0, 0]);
    expect([...topo]).toEqual([0, 1, 2]);
  });

  it("gets through a cycle, taking every node once", () => {
    const { layer, topo } = steps(3, [[0, 1], [1, 2], [2, 0]]);
    expect([...topo].sort()).toEqual([0, 1, 2]);
    // Every node in exactly one layer.
    expect(layerLists(layer, topo).flat().sort()).toEqual([0, 1, 2]);
  });
});

describe("layerLists", () => {
  it("lists each layer in the order the nodes were taken", () => {
    expect(layerLists(Int32Array.of(0, 1, 1, 2), Int32Array.of(0, 2, 1, 3))).toEqual([[0], [2, 1], [3]]);
  });
});

describe("orderLayers", () => {
  it("orders a layer by its neighbours, with no overlap", () => {
    // Two chains whose second layer starts crossed: 0 → 3, 1 → 2.
    const { adj, cols } = steps(4, [[0, 3], [1, 2]]);
    expect(cols).toEqual([[0, 1], [3, 2]]);
    const hh = new Float64Array(4).fill(34);
    const { cy } = orderLayers(cols, adj, hh, 12);
    // Each node of layer 1 level with its predecessor: no crossing.
    expect(cy[3]).toBeCloseTo(cy[0]);
    expect(cy[2]).toBeCloseTo(cy[1]);
    expect(Math.abs(cy[1] - cy[0])).toBeCloseTo(46);
  });

  it("centres a fan-in on its sources", () => {
    const { adj, cols } = steps(4, [[0, 3], [1, 3], [2, 3]]);
    const hh = new Float64Array(4).fill(34);
    const { cy } = orderLayers(cols, adj, hh, 12);
    expect(cy[3]).toBeCloseTo(cy[1]);
    expect(cy[3]).toBeCloseTo((cy[0] + cy[1] + cy[2]) / 3);
  });

  it("leaves fixed layers where they are when swept again", () => {
    const { adj, cols } = steps(3, [[0, 1], [0, 2]]);
    const hh = new Float64Array(3).fill(34);
    const sweeps = orderLayers(cols, adj, hh, 12);
    const before = [...sweeps.cy];
    sweeps.cy[1] += 100;
    sweeps.down(Uint8Array.of(0, 1));
    expect(sweeps.cy[1]).toBe(before[1] + 100);
    sweeps.down();
    expect(sweeps.cy[1]).toBeCloseTo(before[1]);
  });
});

describe("wrapLayers", () => {
  /** @param {number} n the fan-out's width */
  const fan = (n) => {
    /** @type {[number, number][]} */
    const pairs = Array.from({ length: n }, (_, i) => [0, i + 1]);
    const s = steps(n + 1, pairs);
    return { ...s, hh: new Float64Array(n + 1).fill(34), ww: new Float64Array(n + 1).fill(168) };
  };

  it("wraps a layer far taller than the graph is wide into sub-columns", () => {
    const { cols, hh, ww } = fan(100);
    const cy = new Float64Array(101);
    const wrap = wrapLayers(cols, hh, ww, cy, { ...GAP, compact: true });
    expect(wrap.fixed[1]).toBe(1);
    expect(wrap.fixed[0]).toBe(0);
    expect(wrap.wraps[1]).toBeGreaterThan(1);
    expect([...wrap.colWidth]).toEqual([168, 168]);
    // Each sub-column stacked from y = 0, in order.
    const used = new Set(cols[1].map((v) => wrap.sub[v]));
    expect(used.size).toBe(wrap.wraps[1]);
    const firsts = cols[1].filter((v, r) => r === 0 || wrap.sub[cols[1][r - 1]] !== wrap.sub[v]);
    for (const v of firsts) expect(cy[v]).toBe(17);
  });

  it("wraps nothing unless compact", () => {
    const { cols, hh, ww } = fan(100);
    const wrap = wrapLayers(cols, hh, ww, new Float64Array(101), { ...GAP, compact: false });
    expect([...wrap.wraps]).toEqual([1, 1]);
    expect(wrap.fixed.every((f) => f === 0)).toBe(true);
    expect(wrap.sub.every((c) => c === 0)).toBe(true);
  });

  it("keeps a short layer whole", () => {
    const { cols, hh, ww } = fan(3);
    const wrap = wrapLayers(cols, hh, ww, new Float64Array(4), { ...GAP, compact: true });
    expect([...wrap.wraps]).toEqual([1, 1]);
  });
});

describe("placeColumns", () => {
  it("puts layers a gap apart, each node centred in its column, the top at 0", () => {
    const cols = [[0], [1, 2]];
    const cy = Float64Array.of(0, -23, 23);
    const hh = Float64Array.of(34, 34, 34);
    const ww = Float64Array.of(100, 168, 120);
    const x = new Float64Array(3);
    const y = new Float64Array(3);
    const wrap = { colWidth: Float64Array.of(100, 168), wraps: Int32Array.of(1, 1), sub: new Int32Array(3) };
    const size = placeColumns(cols, [0, 1, 2], cy, hh, ww, wrap, x, y, 64);
    expect([...x]).toEqual([0, 164, 164 + 24]);
    expect([...y]).toEqual([23, 0, 46]);
    expect(size).toEqual({ width: 100 + 64 + 168, height: 80 });
  });

  it("gives a wrapped layer its sub-columns, half a layer gap apart", () => {
    const cols = [[0, 1]];
    const cy = Float64Array.of(17, 17);
    const hh = Float64Array.of(34, 34);
    const ww = Float64Array.of(168, 168);
    const x = new Float64Array(2);
    const y = new Float64Array(2);
    const wrap = { colWidth: Float64Array.of(168), wraps: Int32Array.of(2), sub: Int32Array.of(0, 1) };
    const size = placeColumns(cols, [0, 1], cy, hh, ww, wrap, x, y, 64);
    expect([...x]).toEqual([0, 168 + 32]);
    expect([...y]).toEqual([0, 0]);
    expect(size).toEqual({ width: 2 * 168 + 32, height: 34 });
  });

  it("writes the kids' own indices", () => {
    const x = new Float64Array(10);
    const y = new Float64Array(10);
    const wrap = { colWidth: Float64Array.of(50), wraps: Int32Array.of(1), sub: new Int32Array(1) };
    placeColumns([[0]], [7], Float64Array.of(0), Float64Array.of(20), Float64Array.of(50), wrap, x, y, 64);
    expect(x[7]).toBe(0);
    expect(y[7]).toBe(0);
    expect(x.filter((_, i) => i !== 7).every((v) => v === 0)).toBe(true);
  });
});
