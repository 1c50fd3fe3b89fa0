/**
 * Where every node goes: a layered, left-to-right DAG layout with nested
 * sub-graphs, and a cheap overview layout for graphs too big to draw node by
 * node.
 *
 * Graph layout (`mode: "graph"`), per container (the top level, and every
 * expanded node that has children and is not collapsed), innermost first:
 *
 * 1. Layering (`assignLayers`): longest path from the sources (Kahn's
 *    order, so a cycle in bad data cannot hang it), then each source is
 *    pulled right to just before its first dependant, so an input used
 *    late does not sit in layer 0 with a long edge.
 * 2. Ordering (`orderLayers`): barycenter sweeps, down then up, sorting
 *    each layer by the mean y of the node's neighbours in any earlier
 *    (later) layer. Long edges get no dummy nodes: that keeps the cost
 *    linear in the edges.
 * 3. Coordinates (`orderLayers`, then `placeColumns`): each layer is a
 *    column; within it the nodes keep their order and sit as close as they
 *    can to their barycenter without overlapping, which is an isotonic
 *    regression solved exactly by pool-adjacent-violators in one pass.
 * 4. Compaction, only when the result would be much taller than the
 *    canvas is shaped (the layout is then done again): a layer much taller
 *    than the graph is wide (a fan-out of many independent steps) is split
 *    into side-by-side columns (`wrapLayers`), the other layers placed
 *    again around it; and pieces with no edge between them are packed side
 *    by side (`layered`).
 *
 * `layeredPiece` runs the steps for one connected piece; each is exported
 * for its unit tests.
 *
 * An open compound node is a box (header plus padding) around its
 * children's own layout, and takes part in its parent container's layout
 * at that size. A collapsed one is a plain node. Edges that cross a box
 * are lifted to the two siblings that contain their ends for layering,
 * and drawn between the visible nodes that stand for their ends.
 *
 * Overview layout (`mode: "overview"`), when more than `overviewThreshold`
 * nodes would be visible: one column block per top-level layer, one cell
 * per node (children in their top-level ancestor's layer), shaped so the
 * whole picture has a screen-like aspect. No edges, no labels.
 *
 * Both are pure functions of `(nodes, edges, options)`; the arrays they
 * return are indexed by the position of the node's id in `ids`.
 *
 * @module
 */

import { overview } from "./overview.js";
import { OPEN, buildTree, visibility } from "./tree.js";

/** @typedef {import("./tree.js").Tree} Tree */

/**
 * @typedef {object} LayoutOptions
 * @property {ReadonlySet<string>} [collapsed] ids of expanded nodes shown as plain nodes
 * @property {number} [nodeWidth]
 * @property {number} [nodeHeight]
 * @property {number} [layerGap] horizontal space between layers
 * @property {number} [nodeGap] vertical space between nodes of a layer
 * @property {number} [padding] inside a compound box
 * @property {number} [header] height of a compound box's header
 * @property {number} [overviewThreshold] more visible nodes than this: overview
 * @property {number} [aspectGraph] the shape of the canvas (width over height): a layout much
 *   taller than that is done again compact, with tall layers wrapped into columns (those
 *   taller than about √(area / aspectGraph)) and separate pieces packed side by side
 * @property {number} [aspect] overview: the picture's width over its height
 * @property {number} [cell] overview: world size of one cell
 */

/**
 * @typedef {object} GraphLayout
 * @property {"graph"} mode
 * @property {string[]} ids
 * @property {Map<string, number>} index
 * @property {Int32Array} parent index of the parent, -1 at the top level
 * @property {Int32Array} depth
 * @property {Uint8Array} kind HIDDEN, LEAF, OPEN or COLLAPSED (see tree.js)
 * @property {Int32Array} rep the visible node that stands for each node (itself if visible)
 * @property {Int32Array} order visible nodes, every box before what it contains
 * @property {Int32Array} childStart children of node i: childList[childStart[i] .. childStart[i+1])
 * @property {Int32Array} childList
 * @property {Int32Array} descendants descendants per node (all, visible or not)
 * @property {Float64Array} x left, world units
 * @property {Float64Array} y top
 * @property {Float64Array} w
 * @property {Float64Array} h
 * @property {Int32Array} edges drawn edges as pairs of visible nodes [from0, to0, from1, to1, ...]
 * @property {Int32Array} edgeLevel per drawn edge: 0 if it joins top-level nodes, else the
 *   depth of the box it lies in plus one (boxes of depth d are drawn over edges of level d)
 * @property {number} width
 * @property {number} height
 * @property {number} visible
 * @property {number} header
 */

/**
 * @typedef {object} OverviewLayout
 * @property {"overview"} mode
 * @property {string[]} ids
 * @property {Map<string, number>} index
 * @property {Int32Array} parent
 * @property {Int32Array} cellX column of each node's cell
 * @property {Int32Array} cellY row of each node's cell
 * @property {Int32Array} grid node index per cell (row-major, cols × rows), -1 if empty
 * @property {number} cols
 * @property {number} rows
 * @property {number} cell world size of one cell
 * @property {{x: number, cols: number, count: number}[]} layers column blocks, in cells
 * @property {number} width
 * @property {number} height
 * @property {number} visible
 */

/** @typedef {GraphLayout | OverviewLayout} Layout */

const DEFAULTS = {
  nodeWidth: 168,
  nodeHeight: 34,
  layerGap: 64,
  nodeGap: 12,
  padding: 14,
  header: 36,
  overviewThreshold: 20_000,
  aspectGraph: 2,
  compact: false,
  aspect: 2.4,
  cell: 10,
};

/**
 * Lay out a run's nodes and edges.
 *
 * @param {Readonly<Record<string, {parent?: string}>>} nodes the state's nodes by id
 * @param {ReadonlyArray<readonly [string, string] | string[]>} edges `[dependency, dependant]` pairs
 * @param {LayoutOptions} [options]
 * @returns {Layout}
 *
 * @example
 * const l = layout({a: {}, b: {}}, [["a", "b"]]);
 * l.mode === "graph" && l.x[l.index.get("b")] > l.x[l.index.get("a")]; // true
 */
export function layout(nodes, edges, options = {}) {
  const o = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && key in DEFAULTS) /** @type {any} */ (o)[key] = value;
  }
  const tree = buildTree(nodes);
  const vis = visibility(tree, options.collapsed ?? new Set());
  if (vis.count > o.overviewThreshold) return overview(tree, edges, o);
  // First as it comes; if that is much taller than the canvas is shaped,
  // again with fan-outs wrapped and separate pieces packed side by side.
  const plain = graph(tree, vis, edges, { ...o, compact: false });
  if (plain.height <= 0 || plain.width / plain.height >= o.aspectGraph / 1.6) return plain;
  return graph(tree, vis, edges, { ...o, compact: true });
}

/**
 * @param {Tree} tree
 * @param {ReturnType<typeof visibility>} vis
 * @param {ReadonlyArray<readonly [string, string] | string[]>} edgeList
 * @param {typeof DEFAULTS} o
 * @returns {GraphLayout}
 */
function graph(tree, vis, edgeList, o) {
  const { ids, index, parent, depth, childStart, childList, roots } = tree;
  const { kind, rep, order } = vis;
  const n = ids.length;

  // Edges: drawn between visible representatives; for layering, lifted to
  // the siblings (children of one container) that contain their two ends.
  /** @type {Set<number>} */
  const drawnSeen = new Set();
  /** @type {number[]} */
  const drawn = [];
  /** @type {number[]} */
  const liftFrom = [];
  /** @type {number[]} */
  const liftTo = [];
  /** @type {number[]} container of each lifted edge: the parent's index, or n for the top level */
  const liftIn = [];
  for (const e of edgeList) {
    const a = index.get(e[0]);
    const b = index.get(e[1]);
    if (a === undefined || b === undefined) continue;
    let ra = rep[a];
    let rb = rep[b];
    if (ra === rb) continue;
    const key = ra * n + rb;
    if (drawnSeen.has(key)) continue;
    drawnSeen.add(key);
    let sa = ra;
    let sb = rb;
    while (depth[sa] > depth[sb]) sa = parent[sa];
    while (depth[sb] > depth[sa]) sb = parent[sb];
    while (parent[sa] !== parent[sb]) {
      sa = parent[sa];
      sb = parent[sb];
    }
    if (sa === sb) continue; // one end contains the other: nothing to draw
    drawn.push(ra, rb);
    liftFrom.push(sa);
    liftTo.push(sb);
    liftIn.push(parent[sa] < 0 ? n : parent[sa]);
  }
  // Group the lifted edges by container (counting sort).
  const edgeStart = new Int32Array(n + 2);
  for (const c of liftIn) edgeStart[c + 1]++;
  for (let c = 0; c <= n; c++) edgeStart[c + 1] += edgeStart[c];
  const fill = edgeStart.slice(0, n + 1);
  const edgeOrder = new Int32Array(liftIn.length);
  for (let k = 0; k < liftIn.length; k++) edgeOrder[fill[liftIn[k]]++] = k;

  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const w = new Float64Array(n);
  const h = new Float64Array(n);
  for (let k = 0; k < order.length; k++) {
    const v = order[k];
    w[v] = o.nodeWidth;
    h[v] = o.nodeHeight;
  }

  const local = new Int32Array(n);
  /**
   * Lay out one container's visible children at relative coordinates (x, y
   * hold positions relative to the container's content origin for now).
   *
   * @param {ArrayLike<number>} kids
   * @param {number} c container index (n for the top level)
   * @returns {{width: number, height: number}}
   */
  const place = (kids, c) => {
    /** @type {[number, number][]} */
    const pairs = [];
    for (let k = edgeStart[c]; k < edgeStart[c + 1]; k++) {
      const e = edgeOrder[k];
      pairs.push([liftFrom[e], liftTo[e]]);
    }
    return layered(kids, pairs, w, h, x, y, local, o);
  };

  // Innermost boxes first: reverse preorder visits children before parents.
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k];
    if (kind[v] !== OPEN) continue;
    const kids = childList.subarray(childStart[v], childStart[v + 1]);
    const size = place(kids, v);
    w[v] = Math.max(size.width + 2 * o.padding, o.nodeWidth);
    h[v] = size.height + 2 * o.padding + o.header;
  }
  const top = place(roots, n);

  // Relative to absolute, parents first.
  for (let k = 0; k < order.length; k++) {
    const v = order[k];
    const p = parent[v];
    if (p >= 0) {
      x[v] += x[p] + o.padding;
      y[v] += y[p] + o.header + o.padding;
    }
  }

  return {
    mode: "graph",
    ids,
    index,
    parent,
    depth,
    kind,
    rep,
    order,
    childStart,
    childList,
    descendants: vis.descendants,
    x,
    y,
    w,
    h,
    edges: Int32Array.from(drawn),
    edgeLevel: Int32Array.from(liftIn, (c) => (c === n ? 0 : depth[c] + 1)),
    width: top.width,
    height: top.height,
    visible: vis.count,
    header: o.header,
  };
}

/**
 * The layered layout of one set of siblings.
 *
 * Writes each kid's top-left into `x`, `y` (relative to the content origin)
 * and returns the content size. `w`, `h` hold the kids' sizes.
 *
 * In a compact layout, siblings that fall apart into several connected
 * pieces (independent pipelines, isolated tasks) are laid out piece by
 * piece and the pieces packed in rows, left to right, so that many small
 * pieces make a block about `aspectGraph` times as wide as tall rather
 * than one tall column. Otherwise they are laid out whole.
 *
 * @param {ArrayLike<number>} kids
 * @param {[number, number][]} pairs edges between kids
 * @param {Float64Array} w
 * @param {Float64Array} h
 * @param {Float64Array} x
 * @param {Float64Array} y
 * @param {Int32Array} local scratch: position of each kid in `kids`
 * @param {typeof DEFAULTS} o
 * @returns {{width: number, height: number}}
 */
export function layered(kids, pairs, w, h, x, y, local, o) {
  const m = kids.length;
  if (m <= 1) {
    if (m === 1) {
      x[kids[0]] = 0;
      y[kids[0]] = 0;
      return { width: w[kids[0]], height: h[kids[0]] };
    }
    return { width: 0, height: 0 };
  }
  if (!o.compact) return layeredPiece(kids, pairs, w, h, x, y, local, o);
  // Connected pieces, by union-find, numbered in the order of their first kid.
  for (let i = 0; i < m; i++) local[kids[i]] = i;
  const root = new Int32Array(m);
  for (let i = 0; i < m; i++) root[i] = i;
  /** @param {number} i */
  const find = (i) => {
    while (root[i] !== i) {
      root[i] = root[root[i]];
      i = root[i];
    }
    return i;
  };
  for (const [a, b] of pairs) {
    const ra = find(local[a]);
    const rb = find(local[b]);
    if (ra !== rb) root[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const piece = new Int32Array(m).fill(-1);
  let pieces = 0;
  const pieceOf = new Int32Array(m);
  for (let i = 0; i < m; i++) {
    const r = find(i);
    if (piece[r] < 0) piece[r] = pieces++;
    pieceOf[i] = piece[r];
  }
  if (pieces === 1) return layeredPiece(kids, pairs, w, h, x, y, local, o);

  /** @type {number[][]} */
  const members = Array.from({ length: pieces }, () => []);
  for (let i = 0; i < m; i++) members[pieceOf[i]].push(kids[i]);
  /** @type {[number, number][][]} */
  const links = Array.from({ length: pieces }, () => []);
  for (const pair of pairs) links[pieceOf[local[pair[0]]]].push(pair);
  const sizes = members.map((ids, k) => layeredPiece(ids, links[k], w, h, x, y, local, o));

  // Rows of pieces, about aspectGraph times as wide as tall overall. The
  // tallest piece of a row sets its height; the pieces after it stack in
  // columns to its right as long as they fit under that height.
  const gapX = o.layerGap;
  const gapY = o.nodeGap * 2;
  let area = 0;
  let widest = 0;
  for (const size of sizes) {
    area += (size.width + gapX) * (size.height + gapY);
    widest = Math.max(widest, size.width);
  }
  const target = Math.max(widest, Math.sqrt(area * o.aspectGraph));
  const order = Array.from(sizes.keys()).sort((a, b) => sizes[b].height - sizes[a].height || a - b);
  let rowTop = 0;
  let rowHeight = -1; // no row yet
  let colLeft = 0;
  let colWidth = 0;
  let colBottom = 0;
  let width = 0;
  for (const k of order) {
    const size = sizes[k];
    let px;
    let py;
    if (rowHeight >= 0 && colBottom > rowTop && colBottom + gapY + size.height <= rowTop + rowHeight) {
      // Under the previous piece, in the same column.
      px = colLeft;
      py = colBottom + gapY;
      colWidth = Math.max(colWidth, size.width);
    } else if (rowHeight >= 0 && colLeft + colWidth + gapX + size.width <= target) {
      // A new column in this row.
      px = colLeft + colWidth + gapX;
      py = rowTop;
      colLeft = px;
      colWidth = size.width;
    } else {
      // A new row.
      rowTop = rowHeight < 0 ? 0 : rowTop + rowHeight + gapY;
      rowHeight = size.height;
      px = 0;
      py = rowTop;
      colLeft = 0;
      colWidth = size.width;
    }
    colBottom = py + size.height;
    for (const id of members[k]) {
      x[id] += px;
      y[id] += py;
    }
    width = Math.max(width, px + size.width);
  }
  return { width, height: rowTop + rowHeight };
}

/**
 * @typedef {object} Adjacency a piece's edges in local indices (0 .. m-1), both ways,
 *   duplicates and self-loops dropped: the predecessors of node i are
 *   `preds[predStart[i] .. predStart[i+1])`, its successors likewise
 * @property {number} m
 * @property {Int32Array} predStart
 * @property {Int32Array} preds
 * @property {Int32Array} succStart
 * @property {Int32Array} succs
 */

/**
 * The layered layout of one connected piece (see `layered`), in the steps
 * of the module's docstring: `adjacency`, `assignLayers` (1), `layerLists`,
 * `orderLayers` (2 and 3), `wrapLayers` (4, compact only) and
 * `placeColumns`.
 *
 * @param {ArrayLike<number>} kids
 * @param {[number, number][]} pairs
 * @param {Float64Array} w
 * @param {Float64Array} h
 * @param {Float64Array} x
 * @param {Float64Array} y
 * @param {Int32Array} local
 * @param {typeof DEFAULTS} o
 * @returns {{width: number, height: number}}
 */
function layeredPiece(kids, pairs, w, h, x, y, local, o) {
  const m = kids.length;
  if (m === 0) return { width: 0, height: 0 };
  const adj = adjacency(kids, pairs, local);
  const { layer, topo } = assignLayers(adj);
  const cols = layerLists(layer, topo);
  const hh = new Float64Array(m);
  const ww = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    hh[i] = h[kids[i]];
    ww[i] = w[kids[i]];
  }
  const sweeps = orderLayers(cols, adj, hh, o.nodeGap);
  const wrap = wrapLayers(cols, hh, ww, sweeps.cy, o);
  if (wrap.fixed.some((f) => f)) {
    // The other layers follow the wrapped ones.
    sweeps.down(wrap.fixed);
    sweeps.up(wrap.fixed);
    sweeps.down(wrap.fixed);
  }
  return placeColumns(cols, kids, sweeps.cy, hh, ww, wrap, x, y, o.layerGap);
}

/**
 * A piece's edges as local CSR adjacency, both ways. Writes `local[kid]`,
 * the kid's position in `kids`.
 *
 * @param {ArrayLike<number>} kids
 * @param {ReadonlyArray<readonly [number, number]>} pairs edges between kids
 * @param {Int32Array} local scratch, indexed by node
 * @returns {Adjacency}
 */
export function adjacency(kids, pairs, local) {
  const m = kids.length;
  for (let i = 0; i < m; i++) local[kids[i]] = i;
  /** @type {Set<number>} */
  const seen = new Set();
  /** @type {number[]} */
  const from = [];
  /** @type {number[]} */
  const to = [];
  for (const [a, b] of pairs) {
    const u = local[a];
    const v = local[b];
    const key = u * m + v;
    if (u === v || seen.has(key)) continue;
    seen.add(key);
    from.push(u);
    to.push(v);
  }
  const predStart = new Int32Array(m + 1);
  const succStart = new Int32Array(m + 1);
  for (let e = 0; e < from.length; e++) {
    succStart[from[e] + 1]++;
    predStart[to[e] + 1]++;
  }
  for (let i = 0; i < m; i++) {
    predStart[i + 1] += predStart[i];
    succStart[i + 1] += succStart[i];
  }
  const preds = new Int32Array(from.length);
  const succs = new Int32Array(from.length);
  const pf = predStart.slice(0, m);
  const sf = succStart.slice(0, m);
  for (let e = 0; e < from.length; e++) {
    succs[sf[from[e]]++] = to[e];
    preds[pf[to[e]]++] = from[e];
  }
  return { m, predStart, preds, succStart, succs };
}

/**
 * Step 1, layering: each node's layer is the longest path to it from a
 * source, in Kahn's order (a cycle, in bad data, is broken by releasing
 * the first node still waiting, so it cannot hang); then each source moves
 * right to just before its first dependant.
 *
 * @param {Adjacency} adj
 * @returns {{layer: Int32Array, topo: Int32Array}} the layer of each node, and the nodes in
 *   the order they were taken (topological where there is no cycle)
 */
export function assignLayers(adj) {
  const { m, predStart, succStart, succs } = adj;
  const layer = new Int32Array(m);
  const indeg = new Int32Array(m);
  for (let i = 0; i < m; i++) indeg[i] = predStart[i + 1] - predStart[i];
  const topo = new Int32Array(m);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < m; i++) if (indeg[i] === 0) topo[tail++] = i;
  const done = new Uint8Array(m);
  for (;;) {
    while (head < tail) {
      const u = topo[head++];
      done[u] = 1;
      for (let k = succStart[u]; k < succStart[u + 1]; k++) {
        const v = succs[k];
        if (layer[v] < layer[u] + 1) layer[v] = layer[u] + 1;
        if (--indeg[v] === 0) topo[tail++] = v;
      }
    }
    if (tail === m) break;
    // A cycle (bad data): release the first node still waiting and go on.
    let next = 0;
    while (done[next] || indeg[next] === 0) next++;
    indeg[next] = 0;
    topo[tail++] = next;
  }
  // Pull sources right, next to their first dependant.
  for (let i = 0; i < m; i++) {
    if (predStart[i + 1] > predStart[i] || succStart[i + 1] === succStart[i]) continue;
    let min = Infinity;
    for (let k = succStart[i]; k < succStart[i + 1]; k++) min = Math.min(min, layer[succs[k]]);
    if (min - 1 > layer[i]) layer[i] = min - 1;
  }
  return { layer, topo };
}

/**
 * The layers as lists of local nodes, each first in `topo`'s order.
 *
 * @param {Int32Array} layer
 * @param {Int32Array} topo
 * @returns {number[][]}
 */
export function layerLists(layer, topo) {
  const m = layer.length;
  let layers = 0;
  for (let i = 0; i < m; i++) if (layer[i] + 1 > layers) layers = layer[i] + 1;
  /** @type {number[][]} */
  const cols = Array.from({ length: layers }, () => []);
  for (let k = 0; k < m; k++) cols[layer[topo[k]]].push(topo[k]);
  return cols;
}

/**
 * @typedef {object} Sweeps
 * @property {Float64Array} cy each local node's centre, y
 * @property {(fixed?: Uint8Array) => void} down sweep layers 1 .. last by their predecessors,
 *   leaving out the `fixed` ones
 * @property {(fixed?: Uint8Array) => void} up sweep layers last-1 .. 0 by their successors
 */

/**
 * Steps 2 and 3, ordering and coordinates: each layer is stacked and
 * centred on y = 0, then barycenter sweeps (down, then up; 5 rounds, 3
 * above 1,000 nodes, 2 above 4,000, and a last one down) sort each layer
 * by the mean y of the node's neighbours in the layer before (after) it
 * and place it exactly with `pava`. Sorts `cols` in place.
 *
 * @param {number[][]} cols
 * @param {Adjacency} adj
 * @param {Float64Array} hh each local node's height
 * @param {number} gap between the nodes of a layer
 * @returns {Sweeps} the centres, and the sweeps to run again (see `wrapLayers`)
 */
export function orderLayers(cols, adj, hh, gap) {
  const { m, predStart, preds, succStart, succs } = adj;
  const layers = cols.length;
  const cy = new Float64Array(m);
  const want = new Float64Array(m);
  const pos = new Float64Array(m);
  for (const col of cols) {
    let t = 0;
    for (const v of col) {
      cy[v] = t + hh[v] / 2;
      t += hh[v] + gap;
    }
    centre(col, cy, hh, gap);
  }
  /**
   * @param {number[]} col
   * @param {Int32Array} start
   * @param {Int32Array} nbrs
   */
  const sweep = (col, start, nbrs) => {
    for (let r = 0; r < col.length; r++) {
      const v = col[r];
      pos[v] = r;
      const a = start[v];
      const b = start[v + 1];
      if (a === b) {
        want[v] = cy[v];
        continue;
      }
      let s = 0;
      for (let k = a; k < b; k++) s += cy[nbrs[k]];
      want[v] = s / (b - a);
    }
    col.sort((p, q) => want[p] - want[q] || pos[p] - pos[q]);
    pava(col, want, cy, hh, gap);
  };
  /** @param {Uint8Array} [fixed] */
  const down = (fixed) => {
    for (let l = 1; l < layers; l++) if (!fixed?.[l]) sweep(cols[l], predStart, preds);
  };
  /** @param {Uint8Array} [fixed] */
  const up = (fixed) => {
    for (let l = layers - 2; l >= 0; l--) if (!fixed?.[l]) sweep(cols[l], succStart, succs);
  };
  const rounds = m > 4000 ? 2 : m > 1000 ? 3 : 5;
  for (let r = 0; r < rounds; r++) {
    down();
    up();
  }
  down();
  return { cy, down, up };
}

/**
 * @typedef {object} Wrapping
 * @property {Float64Array} colWidth the widest node of each layer
 * @property {Int32Array} wraps side-by-side sub-columns per layer (1: not wrapped)
 * @property {Int32Array} sub each local node's sub-column in its layer
 * @property {Uint8Array} fixed the wrapped layers, whose positions are settled
 */

/**
 * Step 4, wrapping (only with `o.compact`): a layer of 4 or more nodes
 * whose stack is over 1.3 times √(area / aspectGraph) (a fan-out of many
 * independent steps) becomes as many side-by-side sub-columns as that
 * limit needs, each node stacked from y = 0 in its sub-column (in `cy`),
 * so the graph keeps a shape a screen can show. The caller sweeps the
 * other layers again around the wrapped ones.
 *
 * @param {number[][]} cols
 * @param {Float64Array} hh
 * @param {Float64Array} ww each local node's width
 * @param {Float64Array} cy written for the nodes of wrapped layers
 * @param {{nodeGap: number, layerGap: number, aspectGraph: number, compact: boolean}} o
 * @returns {Wrapping}
 */
export function wrapLayers(cols, hh, ww, cy, o) {
  const layers = cols.length;
  const colWidth = new Float64Array(layers);
  let area = 0;
  let tallest = 0;
  for (let l = 0; l < layers; l++) {
    let stack = -o.nodeGap;
    for (const v of cols[l]) {
      colWidth[l] = Math.max(colWidth[l], ww[v]);
      stack += hh[v] + o.nodeGap;
      tallest = Math.max(tallest, hh[v]);
    }
    area += stack * (colWidth[l] + o.layerGap);
  }
  const limit = Math.max(tallest, Math.sqrt(area / o.aspectGraph));
  const wraps = new Int32Array(layers).fill(1);
  const sub = new Int32Array(hh.length);
  const fixed = new Uint8Array(layers);
  for (let l = 0; o.compact && l < layers; l++) {
    const col = cols[l];
    let stack = -o.nodeGap;
    for (const v of col) stack += hh[v] + o.nodeGap;
    if (col.length < 4 || stack <= limit * 1.3) continue;
    const k = Math.min(col.length, Math.ceil(stack / limit));
    const per = stack / k;
    let c = 0;
    let t = 0;
    for (const v of col) {
      // A new column when this node's middle would pass the column's share.
      if (t > 0 && t + hh[v] / 2 > per && c < k - 1) {
        c++;
        t = 0;
      }
      sub[v] = c;
      cy[v] = t + hh[v] / 2;
      t += hh[v] + o.nodeGap;
    }
    wraps[l] = c + 1;
    fixed[l] = 1;
  }
  return { colWidth, wraps, sub, fixed };
}

/**
 * The last step, coordinates: x by layer (a wrapped layer takes its
 * sub-columns, half a layer gap apart), each node centred in its column;
 * y from the centres, shifted so the top is 0. Writes `x` and `y` of the
 * kids.
 *
 * @param {number[][]} cols
 * @param {ArrayLike<number>} kids local node → node
 * @param {Float64Array} cy
 * @param {Float64Array} hh
 * @param {Float64Array} ww
 * @param {Pick<Wrapping, "colWidth" | "wraps" | "sub">} wrap
 * @param {Float64Array} x
 * @param {Float64Array} y
 * @param {number} layerGap
 * @returns {{width: number, height: number}} the piece's size
 */
export function placeColumns(cols, kids, cy, hh, ww, wrap, x, y, layerGap) {
  const { colWidth, wraps, sub } = wrap;
  const layers = cols.length;
  let minTop = Infinity;
  let maxBottom = -Infinity;
  for (let i = 0; i < cy.length; i++) {
    minTop = Math.min(minTop, cy[i] - hh[i] / 2);
    maxBottom = Math.max(maxBottom, cy[i] + hh[i] / 2);
  }
  let left = 0;
  const subGap = layerGap / 2;
  for (let l = 0; l < layers; l++) {
    const cw = colWidth[l];
    for (const v of cols[l]) {
      const id = kids[v];
      x[id] = left + sub[v] * (cw + subGap) + (cw - ww[v]) / 2;
      y[id] = cy[v] - hh[v] / 2 - minTop;
    }
    left += wraps[l] * cw + (wraps[l] - 1) * subGap + (l < layers - 1 ? layerGap : 0);
  }
  return { width: left, height: maxBottom - minTop };
}

/**
 * Centre a freshly stacked column on y = 0.
 *
 * @param {number[]} col
 * @param {Float64Array} cy
 * @param {Float64Array} hh
 * @param {number} gap
 */
function centre(col, cy, hh, gap) {
  if (!col.length) return;
  let total = -gap;
  for (const v of col) total += hh[v] + gap;
  const shift = total / 2;
  for (const v of col) cy[v] -= shift;
}

/**
 * Put the nodes of `col` (in this order) as close to their wanted centres
 * as they can be without overlapping: minimise Σ(cy − want)² subject to
 * cy[i+1] − cy[i] ≥ (h[i] + h[i+1]) / 2 + gap. Subtracting the cumulative
 * separations turns it into isotonic regression, which pool-adjacent-
 * violators solves exactly in linear time.
 *
 * @param {number[]} col
 * @param {Float64Array} want
 * @param {Float64Array} cy written
 * @param {Float64Array} hh
 * @param {number} gap
 */
export function pava(col, want, cy, hh, gap) {
  const k = col.length;
  if (k === 0) return;
  const off = new Float64Array(k);
  for (let i = 1; i < k; i++) off[i] = off[i - 1] + (hh[col[i - 1]] + hh[col[i]]) / 2 + gap;
  // Blocks of pooled values: sum, count, first index.
  const sum = new Float64Array(k);
  const cnt = new Int32Array(k);
  const first = new Int32Array(k);
  let top = -1;
  for (let i = 0; i < k; i++) {
    top++;
    sum[top] = want[col[i]] - off[i];
    cnt[top] = 1;
    first[top] = i;
    while (top > 0 && sum[top - 1] / cnt[top - 1] > sum[top] / cnt[top]) {
      sum[top - 1] += sum[top];
      cnt[top - 1] += cnt[top];
      top--;
    }
  }
  for (let b = 0; b <= top; b++) {
    const mean = sum[b] / cnt[b];
    const end = b < top ? first[b + 1] : k;
    for (let i = first[b]; i < end; i++) cy[col[i]] = mean + off[i];
  }
}

