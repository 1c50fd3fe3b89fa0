/**
 * The overview layout, for graphs too big to draw node by node: one cell
 * per node, one block of columns per top-level layer (children sit in
 * their top-level ancestor's layer, right after it), filled row by row
 * and shaped so the whole picture has about the aspect of a screen. No
 * edges, no labels; a cell is found from a point by arithmetic, so
 * hit-testing stays cheap.
 *
 * @module
 */

/** @typedef {import("./tree.js").Tree} Tree */
/** @typedef {import("./layout.js").OverviewLayout} OverviewLayout */

/**
 * The overview: one cell per node, a block of columns per top-level layer.
 *
 * @param {Tree} tree
 * @param {ReadonlyArray<readonly [string, string] | string[]>} edgeList
 * @param {{aspect: number, cell: number}} o
 * @returns {OverviewLayout}
 */
export function overview(tree, edgeList, o) {
  const { ids, index, parent, roots, preorder } = tree;
  const n = ids.length;
  // Top-level ancestor of every node (preorder: a parent's is known first).
  const topOf = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const v = preorder[k];
    topOf[v] = parent[v] < 0 ? v : topOf[parent[v]];
  }
  /** @type {[number, number][]} */
  const pairs = [];
  for (const e of edgeList) {
    const a = index.get(e[0]);
    const b = index.get(e[1]);
    if (a === undefined || b === undefined) continue;
    const ta = topOf[a];
    const tb = topOf[b];
    if (ta !== tb) pairs.push([ta, tb]);
  }
  const layerOf = topLayers(roots, pairs, n);
  let layers = 0;
  for (let r = 0; r < roots.length; r++) layers = Math.max(layers, layerOf[roots[r]] + 1);
  const counts = new Int32Array(layers);
  for (let v = 0; v < n; v++) counts[layerOf[topOf[v]]]++;
  let biggest = 1;
  for (let l = 0; l < layers; l++) biggest = Math.max(biggest, counts[l]);
  // About `aspect` times as wide as tall: rows ≈ √(cells / aspect), but no
  // more than the biggest layer needs.
  const target = Math.max(1, Math.min(biggest, Math.ceil(Math.sqrt(n / o.aspect))));
  const layerX = new Int32Array(layers);
  const layerCols = new Int32Array(layers);
  /** @type {{x: number, cols: number, count: number}[]} */
  const blocks = [];
  let colsTotal = 0;
  let rows = 1;
  for (let l = 0; l < layers; l++) {
    const c = Math.max(1, Math.ceil(counts[l] / target));
    layerX[l] = colsTotal;
    layerCols[l] = c;
    rows = Math.max(rows, Math.ceil(counts[l] / c));
    blocks.push({ x: colsTotal, cols: c, count: counts[l] });
    colsTotal += c; // no gap: the view draws the boundaries once cells are big enough
  }
  const cellX = new Int32Array(n);
  const cellY = new Int32Array(n);
  const grid = new Int32Array(Math.max(1, colsTotal * rows)).fill(-1);
  const used = new Int32Array(layers);
  for (let k = 0; k < n; k++) {
    const v = preorder[k]; // a parent's children right after it
    const l = layerOf[topOf[v]];
    const j = used[l]++;
    // Row by row within the block, so a block is a rectangle with a short last row.
    const cx = layerX[l] + (j % layerCols[l]);
    const cyy = Math.floor(j / layerCols[l]);
    cellX[v] = cx;
    cellY[v] = cyy;
    grid[cyy * colsTotal + cx] = v;
  }
  return {
    mode: "overview",
    ids,
    index,
    parent,
    cellX,
    cellY,
    grid,
    cols: colsTotal,
    rows,
    cell: o.cell,
    layers: blocks,
    width: colsTotal * o.cell,
    height: rows * o.cell,
    visible: n,
  };
}

/**
 * Longest-path layers of the top-level nodes (others get 0 and are not read).
 *
 * @param {Int32Array} roots
 * @param {[number, number][]} pairs
 * @param {number} n
 * @returns {Int32Array}
 */
function topLayers(roots, pairs, n) {
  const local = new Int32Array(n);
  const m = roots.length;
  for (let i = 0; i < m; i++) local[roots[i]] = i;
  const succ = /** @type {number[][]} */ (Array.from({ length: m }, () => []));
  const indeg = new Int32Array(m);
  for (const [a, b] of pairs) {
    succ[local[a]].push(local[b]);
    indeg[local[b]]++;
  }
  const layer = new Int32Array(m);
  /** @type {number[]} */
  const queue = [];
  for (let i = 0; i < m; i++) if (indeg[i] === 0) queue.push(i);
  const done = new Uint8Array(m);
  let head = 0;
  for (;;) {
    while (head < queue.length) {
      const u = /** @type {number} */ (queue[head++]);
      done[u] = 1;
      for (const v of succ[u]) {
        if (layer[v] < layer[u] + 1) layer[v] = layer[u] + 1;
        if (--indeg[v] === 0) queue.push(v);
      }
    }
    if (queue.length === m) break;
    let next = 0;
    while (done[next] || indeg[next] === 0) next++;
    indeg[next] = 0;
    queue.push(next);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < m; i++) out[roots[i]] = layer[i];
  return out;
}
