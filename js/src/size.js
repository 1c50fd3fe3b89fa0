/**
 * How big the view is and how far it zooms out: pure arithmetic, no DOM.
 *
 * - The view's height: a height the user set (the widget's `height`
 *   trait, or a drag of the handle at its bottom edge) is kept, within
 *   `MIN_HEIGHT`…`MAX_HEIGHT`; otherwise (`height` 0) it fits the graph,
 *   within `AUTO_MIN`…`AUTO_MAX`.
 * - The automatic fit never zooms out below the scale at which a node's
 *   label is still drawn at `LEGIBLE_PX` pixels; a graph bigger than that
 *   is shown from its start (left, top) and panned. The fit button fits
 *   the whole graph, whatever the scale.
 *
 * @module
 */

/** The smallest height a drag or the `height` trait can give (pixels). */
export const MIN_HEIGHT = 160;
/** The largest (pixels); the Python trait allows the same. */
export const MAX_HEIGHT = 10_000;
/** A view that fits its graph is at least this high… */
export const AUTO_MIN = 240;
/** …and at most this high: past it, the graph is panned or the view resized. */
export const AUTO_MAX = 640;
/** Screen pixels of label text below which the automatic fit does not zoom out. */
export const LEGIBLE_PX = 10;
/** Screen pixels of card width below which the automatic fit does not zoom out. */
export const LEGIBLE_WIDTH = 100;
/** Label font size in world units at scale 1 (render.js draws at this size). */
export const LABEL_FONT = 12.5;
/** The largest share of a node's height the label font may take (render.js). */
export const LABEL_SHARE = 0.66;

/**
 * `px` as a height the view can take: rounded, within MIN_HEIGHT…MAX_HEIGHT.
 *
 * @param {number} px
 * @returns {number}
 */
export function clampHeight(px) {
  if (!Number.isFinite(px)) return AUTO_MIN;
  return Math.round(Math.min(MAX_HEIGHT, Math.max(MIN_HEIGHT, px)));
}

/**
 * The smallest scale at which a node `nodeWidth` × `nodeHeight` world
 * units is still readable: its label drawn at `LEGIBLE_PX` screen pixels
 * (labels grow as the view zooms out, up to `LABEL_SHARE` of the node's
 * height) on a card at least `LEGIBLE_WIDTH` pixels wide.
 *
 * @param {number} nodeWidth world units
 * @param {number} nodeHeight world units
 * @returns {number}
 */
export function legibleScale(nodeWidth, nodeHeight) {
  if (!(nodeWidth > 0) || !(nodeHeight > 0)) return 0;
  return Math.max(LEGIBLE_PX / (nodeHeight * LABEL_SHARE), LEGIBLE_WIDTH / nodeWidth);
}

/**
 * The scale of an automatic fit: the whole graph if that keeps labels
 * legible, else the legible floor (never above `maxScale`).
 *
 * @param {{fit: number, floor: number, maxScale: number}} o `fit`: the scale that shows everything
 * @returns {number}
 */
export function autoScale({ fit, floor, maxScale }) {
  return Math.min(maxScale, Math.max(fit, floor));
}

/**
 * The view's height when it fits its graph: the toolbar and the other rows
 * (`chrome`), plus the graph at the scale an automatic fit would use for
 * the canvas's width, plus margins; within AUTO_MIN…AUTO_MAX.
 *
 * @param {{graphWidth: number, graphHeight: number, stageWidth: number, chrome: number, margin: number, maxScale: number, floor: number}} o
 * @returns {number}
 */
export function fitHeight({ graphWidth, graphHeight, stageWidth, chrome, margin, maxScale, floor }) {
  if (!(graphWidth > 0) || !(graphHeight > 0) || !(stageWidth > 0)) return AUTO_MIN;
  const fit = Math.max(10, stageWidth - 2 * margin) / graphWidth;
  const s = autoScale({ fit, floor, maxScale });
  const total = chrome + graphHeight * s + 2 * margin;
  return Math.round(Math.min(AUTO_MAX, Math.max(AUTO_MIN, total)));
}

/**
 * Where the camera goes for an automatic fit at scale `s`: centred along
 * an axis the graph fits in, else at the graph's start (its left or top
 * edge, `margin` in).
 *
 * @param {{s: number, graphWidth: number, graphHeight: number, width: number, height: number, margin: number}} o
 * @returns {{s: number, tx: number, ty: number}}
 */
export function autoCamera({ s, graphWidth, graphHeight, width, height, margin }) {
  const w = graphWidth * s;
  const h = graphHeight * s;
  return {
    s,
    tx: w + 2 * margin <= width ? (width - w) / 2 : margin,
    ty: h + 2 * margin <= height ? (height - h) / 2 : margin,
  };
}

/** The narrowest and widest a node's card is drawn (world units at scale 1). */
export const NODE_WIDTH = 168;
export const NODE_WIDTH_MAX = 300;

/**
 * The width of every card, from the widths of the names drawn on them
 * (labels, or ids; world units at the label font): wide enough for nine
 * names in ten and a short note, within NODE_WIDTH…NODE_WIDTH_MAX. Longer
 * names are cut with an ellipsis (the details and the tooltip show them
 * whole).
 *
 * @param {ArrayLike<number>} nameWidths
 * @param {number} [extra] room for the status bar, padding and a note
 * @returns {number}
 */
export function nodeWidthFor(nameWidths, extra = 64) {
  const n = nameWidths.length;
  if (!n) return NODE_WIDTH;
  const sorted = Array.from(nameWidths).sort((a, b) => a - b);
  const p90 = sorted[Math.min(n - 1, Math.floor(0.9 * n))];
  return Math.round(Math.min(NODE_WIDTH_MAX, Math.max(NODE_WIDTH, p90 + extra)));
}

/**
 * The camera's `ty` for a graph taller than the canvas at scale `s`: the
 * nodes of its first screenful of columns (world `lo`…`hi`) centred if
 * they fit, else shown from their top; never past the graph's top or
 * bottom edge (`margin` in).
 *
 * @param {{lo: number, hi: number, s: number, height: number, graphHeight: number, margin: number}} o
 * @returns {number}
 */
export function startTy({ lo, hi, s, height, graphHeight, margin }) {
  const top = margin;
  if (!(hi > lo)) return top;
  const bottom = height - margin - graphHeight * s;
  const ty = (hi - lo) * s + 2 * margin > height ? margin - lo * s : height / 2 - ((lo + hi) / 2) * s;
  return Math.min(top, Math.max(bottom, ty));
}
