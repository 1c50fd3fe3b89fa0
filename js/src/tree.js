/**
 * The node tree of a run: ids indexed, parent links checked, children
 * listed, and which nodes are visible given the collapsed boxes.
 *
 * Children of an expanded node have ids `parent/child` and a `parent`
 * field; only the field is trusted. Everything is in typed arrays indexed
 * by the node's position in `ids`, so a 100,000-node run costs a few
 * megabytes and no per-node objects.
 *
 * @module
 */

/**
 * Kind of a node in a graph layout.
 * HIDDEN: inside a collapsed box; LEAF: a plain node; OPEN: a box with its
 * children; COLLAPSED: a plain node standing for its hidden descendants.
 */
export const HIDDEN = 0;
export const LEAF = 1;
export const OPEN = 2;
export const COLLAPSED = 3;

/**
 * @typedef {object} Tree
 * @property {string[]} ids
 * @property {Map<string, number>} index
 * @property {Int32Array} parent
 * @property {Int32Array} depth
 * @property {Int32Array} childStart
 * @property {Int32Array} childList
 * @property {Int32Array} roots
 * @property {Int32Array} preorder every node, parents before children
 */

/**
 * Index the nodes and their parent links. A `parent` that is not a node, or
 * that would make a cycle, is dropped (the node goes to the top level).
 *
 * @param {Readonly<Record<string, {parent?: string}>>} nodes
 * @returns {Tree}
 */
export function buildTree(nodes) {
  const ids = Object.keys(nodes);
  const n = ids.length;
  /** @type {Map<string, number>} */
  const index = new Map();
  for (let i = 0; i < n; i++) index.set(ids[i], i);
  const parent = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    const p = nodes[ids[i]]?.parent;
    if (typeof p === "string") {
      const j = index.get(p);
      if (j !== undefined && j !== i) parent[i] = j;
    }
  }
  // Cut parent cycles (bad data): walk up from each node, marking the path;
  // meeting the path again means a cycle, broken by making that node a root.
  const mark = new Uint8Array(n); // 0 unseen, 1 on the current walk, 2 settled
  /** @type {number[]} */
  const path = [];
  for (let i = 0; i < n; i++) {
    let j = i;
    while (j >= 0 && mark[j] === 0) {
      mark[j] = 1;
      path.push(j);
      j = parent[j];
    }
    if (j >= 0 && mark[j] === 1) parent[j] = -1;
    for (const k of path) mark[k] = 2;
    path.length = 0;
  }
  const childStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) if (parent[i] >= 0) childStart[parent[i] + 1]++;
  for (let i = 0; i < n; i++) childStart[i + 1] += childStart[i];
  const fill = childStart.slice(0, n);
  const childList = new Int32Array(childStart[n]);
  let rootCount = 0;
  for (let i = 0; i < n; i++) {
    if (parent[i] >= 0) childList[fill[parent[i]]++] = i;
    else rootCount++;
  }
  const roots = new Int32Array(rootCount);
  for (let i = 0, r = 0; i < n; i++) if (parent[i] < 0) roots[r++] = i;
  const preorder = new Int32Array(n);
  const depth = new Int32Array(n);
  let p = 0;
  /** @type {number[]} */
  const stack = [];
  for (let r = rootCount - 1; r >= 0; r--) stack.push(roots[r]);
  while (stack.length) {
    const v = /** @type {number} */ (stack.pop());
    preorder[p++] = v;
    depth[v] = parent[v] < 0 ? 0 : depth[parent[v]] + 1;
    for (let c = childStart[v + 1] - 1; c >= childStart[v]; c--) stack.push(childList[c]);
  }
  return { ids, index, parent, depth, childStart, childList, roots, preorder };
}

/**
 * Which nodes are drawn, and how.
 *
 * @param {Tree} tree
 * @param {ReadonlySet<string>} collapsed
 * @returns {{kind: Uint8Array, rep: Int32Array, order: Int32Array, count: number, descendants: Int32Array}}
 */
export function visibility(tree, collapsed) {
  const { ids, parent, childStart, preorder } = tree;
  const n = ids.length;
  const kind = new Uint8Array(n);
  const rep = new Int32Array(n);
  const order = new Int32Array(n);
  const descendants = new Int32Array(n);
  for (let k = n - 1; k >= 0; k--) {
    const v = preorder[k];
    if (parent[v] >= 0) descendants[parent[v]] += descendants[v] + 1;
  }
  let count = 0;
  for (let k = 0; k < n; k++) {
    const v = preorder[k];
    const p = parent[v];
    if (p >= 0 && kind[p] !== OPEN) {
      kind[v] = HIDDEN;
      rep[v] = rep[p];
      continue;
    }
    const hasChildren = childStart[v + 1] > childStart[v];
    kind[v] = !hasChildren ? LEAF : collapsed.has(ids[v]) ? COLLAPSED : OPEN;
    rep[v] = v;
    order[count++] = v;
  }
  return { kind, rep, order: order.slice(0, count), count, descendants };
}

