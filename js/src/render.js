/**
 * Drawing a layout on a 2D canvas.
 *
 * Everything is drawn in world units under one transform (`camera`), so
 * the cost of a frame depends on what is on screen: nodes outside the view
 * are skipped, and the level of detail follows the zoom:
 *
 * - below `CARD` screen pixels of node height, a node is a rectangle of its
 *   status colour, all rectangles of one status filled as one path;
 * - from there on, a card: a tinted fill, a border and a bar in the status
 *   colour, and (once the text would be legible) its name and a short note.
 *
 * A node whose result was reused (`reused`, from its summary's `cached`) is
 * a paler rectangle, or a card with a paler fill, a dashed border and the
 * note `reused`: a second path per status, with no allocation per frame.
 *
 * A comparison's frame (`compare`) is coloured by difference class (the
 * status table holds class indices, see compare.js), and colour is not
 * its only cue: each class but `equal` wears a glyph badge on the card's
 * top-right corner, the card's note names the class, a removed node's name
 * is struck through, and boxes' headers count their children's classes.
 *
 * Compound boxes and edges change only with the layout, the camera, the
 * size or the theme, so they are drawn into a cached layer (`StaticLayer`)
 * that a status-only frame just copies; then the nodes, the boxes' headers
 * (their counts change) and the selection are drawn over it.
 *
 * The overview is drawn by `raster.js`.
 *
 * @module
 */

import { CLASS_INFO, classAt, compareNote, headerNote } from "./compare.js";
import { displayName, errorNote, formatDuration } from "./format.js";
import { cardMetric, progressFraction, progressText } from "./metrics.js";
import { LEGIBLE_PX } from "./size.js";
import { FINISHED_INDEX, statusIndex } from "./status.js";
import { COLLAPSED, LEAF, OPEN } from "./tree.js";

/** @typedef {import("./colors.js").Theme} Theme */
/** @typedef {import("./text.js").TextFitter} TextFitter */
/** @typedef {import("./layout.js").GraphLayout} GraphLayout */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * The view transform: screen = world × s + (tx, ty), in CSS pixels.
 *
 * @typedef {object} Camera
 * @property {number} s
 * @property {number} tx
 * @property {number} ty
 */

/**
 * @typedef {object} Surface
 * @property {number} width CSS pixels
 * @property {number} height CSS pixels
 * @property {number} dpr device pixels per CSS pixel
 */

/** Node height on screen (px) from which nodes are drawn as cards. */
export const CARD = 12;
/** Smallest font size on screen (px) worth drawing; labels grow to it when zoomed out. */
const MIN_TEXT = 8;
/** Label font size in world units at normal zoom. */
const FONT = 12.5;
/** Note font size relative to the label's. */
const META = 0.88;
const BAR = 5;
const RADIUS = 5;
/** A waiting node (it asked a question) wears a "?" badge on its top-right corner. */
const WAITING = statusIndex("waiting");
const BADGE = 7;
/** A reused node's dashed border, in screen pixels (set per frame in world units: no allocation). */
const DASH = [4, 3];
/** @type {number[]} */
const NO_DASH = [];
/** Statuses whose cards draw their progress bar (see `progressBars`). */
const PROGRESSING = [statusIndex("running"), statusIndex("retrying")];

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {Surface} surface
 * @param {Camera} cam
 */
export function worldTransform(ctx, surface, cam) {
  const k = surface.dpr;
  ctx.setTransform(k * cam.s, 0, 0, k * cam.s, k * cam.tx, k * cam.ty);
}

/**
 * The visible world rectangle, a margin included.
 *
 * @param {Surface} surface
 * @param {Camera} cam
 * @param {number} margin in world units
 */
export function viewport(surface, cam, margin = 0) {
  return {
    x0: -cam.tx / cam.s - margin,
    y0: -cam.ty / cam.s - margin,
    x1: (surface.width - cam.tx) / cam.s + margin,
    y1: (surface.height - cam.ty) / cam.s + margin,
  };
}

/**
 * Boxes and edges, drawn once per layout × camera × size × theme and then
 * copied into each frame.
 */
export class StaticLayer {
  constructor() {
    this.canvas = document.createElement("canvas");
    /** @type {string} */
    this.key = "";
  }

  invalidate() {
    this.key = "";
  }

  /**
   * Draw the layer into `ctx` (at the device-pixel origin), redrawing it first if needed.
   *
   * @param {CanvasRenderingContext2D} ctx
   * @param {GraphLayout} l
   * @param {number} version changes whenever the layout does
   * @param {Camera} cam
   * @param {Theme} theme
   * @param {Surface} surface
   * @param {number} selected index of the selected node, or -1 (its edges stand out)
   */
  blit(ctx, l, version, cam, theme, surface, selected) {
    const key = `${version}|${cam.s}|${cam.tx}|${cam.ty}|${surface.width}x${surface.height}@${surface.dpr}|${theme.bg}|${theme.edge}|${selected}`;
    const w = Math.max(1, Math.round(surface.width * surface.dpr));
    const h = Math.max(1, Math.round(surface.height * surface.dpr));
    if (key !== this.key) {
      if (this.canvas.width !== w || this.canvas.height !== h) {
        this.canvas.width = w;
        this.canvas.height = h;
      }
      const c = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d"));
      c.setTransform(1, 0, 0, 1, 0, 0);
      c.clearRect(0, 0, w, h);
      drawStatic(c, l, cam, theme, surface, selected);
      this.key = key;
    }
    ctx.drawImage(this.canvas, 0, 0);
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphLayout} l
 * @param {Camera} cam
 * @param {Theme} theme
 * @param {Surface} surface
 * @param {number} selected
 */
function drawStatic(ctx, l, cam, theme, surface, selected) {
  const { x, y, w, h, kind, order, edges, edgeLevel, depth } = l;
  const s = cam.s;
  const v = viewport(surface, cam, 20 / s);
  worldTransform(ctx, surface, cam);

  // Level by level: the edges between the children of a box lie over that
  // box but under its children's boxes, so an edge never runs across a box
  // it does not belong to.
  /** @type {number[][]} */
  const boxes = [];
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (kind[i] !== OPEN) continue;
    if (x[i] > v.x1 || y[i] > v.y1 || x[i] + w[i] < v.x0 || y[i] + h[i] < v.y0) continue;
    (boxes[depth[i]] ??= []).push(i);
  }
  /** @type {number[][]} */
  const levels = [];
  /** @type {number[]} */
  const mine = [];
  for (let k = 0; k < edges.length; k += 2) {
    if (edges[k] === selected || edges[k + 1] === selected) mine.push(edges[k], edges[k + 1]);
    else (levels[edgeLevel[k >> 1]] ??= []).push(edges[k], edges[k + 1]);
  }
  const thin = s < 0.25;
  for (let d = 0; d < Math.max(levels.length, boxes.length); d++) {
    const pairs = levels[d];
    if (pairs) {
      ctx.lineWidth = (thin ? 0.8 : 1.2) / s;
      ctx.strokeStyle = theme.edge;
      ctx.globalAlpha = thin ? 0.7 : 1;
      ctx.beginPath();
      for (let k = 0; k < pairs.length; k += 2) {
        const a = pairs[k];
        const b = pairs[k + 1];
        edgePath(ctx, x[a] + w[a], y[a] + h[a] / 2, x[b], y[b] + h[b] / 2, v);
      }
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (s >= 0.45) arrows(ctx, l, pairs, v, theme.edge);
    }
    for (const i of boxes[d] ?? []) {
      ctx.beginPath();
      ctx.roundRect(x[i], y[i], w[i], h[i], RADIUS + 2);
      ctx.fillStyle = theme.boxBg;
      ctx.fill();
      ctx.lineWidth = 1 / s;
      ctx.strokeStyle = theme.boxBorder;
      ctx.stroke();
      ctx.beginPath();
      ctx.roundRect(x[i], y[i], w[i], l.header, [RADIUS + 2, RADIUS + 2, 0, 0]);
      ctx.fillStyle = theme.boxHeader;
      ctx.fill();
    }
  }
  // The selected node's edges, over everything.
  if (mine.length) {
    ctx.lineWidth = 2 / s;
    ctx.strokeStyle = theme.edgeStrong;
    ctx.beginPath();
    for (let k = 0; k < mine.length; k += 2) {
      const a = mine[k];
      const b = mine[k + 1];
      edgePath(ctx, x[a] + w[a], y[a] + h[a] / 2, x[b], y[b] + h[b] / 2, v);
    }
    ctx.stroke();
    if (s >= 0.45) arrows(ctx, l, mine, v, theme.edgeStrong);
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} x1
 * @param {number} y1
 * @param {number} x2
 * @param {number} y2
 * @param {{x0: number, y0: number, x1: number, y1: number}} v
 */
function edgePath(ctx, x1, y1, x2, y2, v) {
  if (Math.max(x1, x2) < v.x0 || Math.min(x1, x2) > v.x1) return;
  if (Math.max(y1, y2) < v.y0 || Math.min(y1, y2) > v.y1) return;
  const dx = Math.max(24, Math.abs(x2 - x1) * 0.5);
  ctx.moveTo(x1, y1);
  ctx.bezierCurveTo(x1 + dx, y1, x2 - dx, y2, x2, y2);
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphLayout} l
 * @param {ArrayLike<number>} pairs
 * @param {{x0: number, y0: number, x1: number, y1: number}} v
 * @param {string} color
 */
function arrows(ctx, l, pairs, v, color) {
  const { x, y, h } = l;
  ctx.beginPath();
  for (let k = 0; k < pairs.length; k += 2) {
    const b = pairs[k + 1];
    const tx = x[b];
    const ty = y[b] + h[b] / 2;
    if (tx < v.x0 || tx > v.x1 || ty < v.y0 || ty > v.y1) continue;
    ctx.moveTo(tx, ty);
    ctx.lineTo(tx - 7, ty - 4);
    ctx.lineTo(tx - 7, ty + 4);
    ctx.closePath();
  }
  ctx.fillStyle = color;
  ctx.fill();
}

/**
 * @typedef {object} GraphFrame
 * @property {GraphLayout} layout
 * @property {number} version the layout's version (for the static layer)
 * @property {Uint8Array} status status index per node
 * @property {Readonly<Record<string, NodeSummary>>} nodes the state's nodes (for labels)
 * @property {Camera} camera
 * @property {Theme} theme
 * @property {Surface} surface
 * @property {number} selected node index or -1
 * @property {number} match search match index or -1
 * @property {number} hover node index or -1
 * @property {StaticLayer} layer
 * @property {TextFitter} text
 * @property {number | null | undefined} [now] seconds since the run started: running nodes show how long they
 *   have run (null: a stored run that was interrupted, whose running nodes say "stopped")
 * @property {string[]} [drawn] if given, gets the text of every label and note drawn (tests read it)
 * @property {ReadonlySet<string>} [fresh] ids of nodes with output not seen yet (a dot on the card)
 * @property {Uint8Array} [reused] 1 per node whose result was reused (`cached`): a paler card, dashed
 * @property {boolean} [compare] a comparison: `status` holds difference classes (see compare.js)
 */

/**
 * Draw one frame of the graph.
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 */
export function drawGraph(ctx, f) {
  const { layout: l, status, camera: cam, theme, surface, reused } = f;
  const { x, y, w, h, kind, order } = l;
  const s = cam.s;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = theme.bg;
  ctx.fillRect(0, 0, surface.width * surface.dpr, surface.height * surface.dpr);
  f.layer.blit(ctx, l, f.version, cam, theme, surface, f.selected);
  worldTransform(ctx, surface, cam);
  const v = viewport(surface, cam, 4 / s);

  // Which nodes are on screen, bucketed by status.
  const statuses = theme.status.length;
  /** @type {number[][]} */
  const buckets = Array.from({ length: statuses }, () => []);
  /** @type {number[]} */
  const boxes = [];
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (x[i] > v.x1 || y[i] > v.y1 || x[i] + w[i] < v.x0 || y[i] + h[i] < v.y0) continue;
    if (kind[i] === OPEN) boxes.push(i);
    else buckets[status[i]].push(i);
  }

  const nodeHeight = leafHeight(l);
  const cards = nodeHeight * s >= CARD;
  // Zoomed out, labels keep a legible size on screen as long as the card can hold them.
  const font = Math.min(Math.max(FONT, LEGIBLE_PX / s), nodeHeight * 0.66);
  const text = font * s >= MIN_TEXT - 0.01;
  const headerFont = Math.min(Math.max(FONT, LEGIBLE_PX / s), l.header * 0.62);

  // Box headers: the parent's status as a band, the name, children done.
  for (const i of boxes) header(ctx, f, i, headerFont * s >= MIN_TEXT - 0.01 ? headerFont : 0);

  if (!cards) {
    const minH = 1.6 / s;
    for (let st = 0; st < statuses; st++) {
      const list = buckets[st];
      if (!list.length) continue;
      // Reused nodes paler: a second path of the same status (no allocation).
      let pale = 0;
      ctx.beginPath();
      for (const i of list) {
        if (reused !== undefined && reused[i]) {
          pale++;
          continue;
        }
        const hh = Math.max(h[i], minH);
        ctx.rect(x[i], y[i] + (h[i] - hh) / 2, w[i], hh);
      }
      ctx.fillStyle = theme.status[st];
      ctx.fill();
      if (pale && reused !== undefined) {
        ctx.beginPath();
        for (const i of list) {
          if (!reused[i]) continue;
          const hh = Math.max(h[i], minH);
          ctx.rect(x[i], y[i] + (h[i] - hh) / 2, w[i], hh);
        }
        ctx.fillStyle = theme.reusedFill[st];
        ctx.fill();
      }
    }
  } else {
    for (let st = 0; st < statuses; st++) {
      const list = buckets[st];
      if (!list.length) continue;
      // Stacked look for collapsed boxes, under their card.
      ctx.beginPath();
      let stacked = false;
      for (const i of list) {
        if (kind[i] !== COLLAPSED) continue;
        stacked = true;
        ctx.roundRect(x[i] + 5, y[i] - 5, w[i], h[i], RADIUS);
      }
      if (stacked) {
        ctx.fillStyle = theme.tint[st];
        ctx.fill();
        ctx.lineWidth = 1 / s;
        ctx.strokeStyle = theme.status[st];
        ctx.stroke();
      }
      let pale = 0;
      ctx.beginPath();
      for (const i of list) {
        if (reused !== undefined && reused[i]) {
          pale++;
          continue;
        }
        ctx.roundRect(x[i], y[i], w[i], h[i], RADIUS);
      }
      ctx.fillStyle = theme.tint[st];
      ctx.fill();
      ctx.lineWidth = 1.2 / s;
      ctx.strokeStyle = theme.status[st];
      ctx.stroke();
      // A reused node's card: a paler fill and a dashed border (its result was not made here).
      if (pale && reused !== undefined) {
        ctx.beginPath();
        for (const i of list) if (reused[i]) ctx.roundRect(x[i], y[i], w[i], h[i], RADIUS);
        ctx.fillStyle = theme.reusedTint[st];
        ctx.fill();
        DASH[0] = 4 / s;
        DASH[1] = 3 / s;
        ctx.setLineDash(DASH);
        ctx.stroke();
        ctx.setLineDash(NO_DASH);
      }
      ctx.beginPath();
      for (const i of list) ctx.roundRect(x[i], y[i], BAR, h[i], [RADIUS, 0, 0, RADIUS]);
      ctx.fillStyle = theme.status[st];
      ctx.fill();
    }
    for (const st of PROGRESSING) if (buckets[st]?.length) progressBars(ctx, f, buckets[st], st);
    if (text) {
      ctx.textBaseline = "middle";
      for (let st = 0; st < statuses; st++) {
        for (const i of buckets[st]) label(ctx, f, i, font);
      }
    }
  }

  // Hover, match and selection rings; a halo when nodes are too small to see one.
  const rings = /** @type {[number, string, number][]} */ ([
    [f.hover, theme.muted, 1.5],
    [f.match, theme.accent, 3],
    [f.selected, theme.fg, 2.5],
  ]);
  for (const [i, color, width] of rings) {
    if (i < 0 || kind[i] === 0) continue;
    const pad = (width + 2) / s;
    ctx.beginPath();
    ctx.roundRect(x[i] - pad, y[i] - pad, w[i] + 2 * pad, h[i] + 2 * pad, RADIUS + pad);
    ctx.lineWidth = width / s;
    ctx.strokeStyle = color;
    ctx.stroke();
    if (h[i] * s < 12 && i !== f.hover) {
      ctx.beginPath();
      ctx.arc(x[i] + w[i] / 2, y[i] + h[i] / 2, Math.max(w[i] / 2 + 8 / s, 16 / s), 0, Math.PI * 2);
      ctx.lineWidth = 2 / s;
      ctx.stroke();
    }
  }
  // Over the rings: a selected waiting node keeps its badge in sight.
  if (cards && buckets[WAITING]?.length) badges(ctx, f, buckets[WAITING]);
  if (cards && f.compare) classBadges(ctx, f, [...buckets, boxes]);
  if (cards && f.fresh?.size) outputDots(ctx, f, buckets);
}

/**
 * A small dot in the accent colour on the bottom-right corner of a card whose
 * node printed what the user has not seen yet (see output-follow.js).
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number[][]} buckets the nodes on screen
 */
function outputDots(ctx, f, buckets) {
  const { layout: l, theme, camera } = f;
  const fresh = /** @type {ReadonlySet<string>} */ (f.fresh);
  const r = Math.max(3, 3.5 / camera.s);
  ctx.beginPath();
  let any = false;
  for (const list of buckets) {
    for (const i of list) {
      if (!fresh.has(l.ids[i])) continue;
      const cx = l.x[i] + l.w[i] - r - 3;
      const cy = l.y[i] + l.h[i] - r - 3;
      ctx.moveTo(cx + r, cy);
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      any = true;
    }
  }
  if (!any) return;
  ctx.fillStyle = theme.accent;
  ctx.fill();
  f.drawn?.push("•");
}

/**
 * Progress bars of running nodes that reported progress (`tb.progress`): a
 * thin bar along the card's bottom edge, its track muted, the part done in
 * the status colour. One path for the tracks and one for the bars.
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number[]} list on-screen nodes of one status
 * @param {number} st that status
 */
function progressBars(ctx, f, list, st) {
  const { layout: l, nodes, theme, camera } = f;
  const { x, y, w, h, ids } = l;
  const t = Math.max(2.5, 1.5 / camera.s);
  const left = BAR + 3;
  /** @type {[number, number][]} */
  const drawn = [];
  for (const i of list) {
    const fraction = progressFraction(nodes[ids[i]]?.progress);
    if (fraction !== null) drawn.push([i, fraction]);
  }
  if (!drawn.length) return;
  ctx.beginPath();
  for (const [i] of drawn) ctx.rect(x[i] + left, y[i] + h[i] - t - 2, w[i] - left - RADIUS, t);
  ctx.fillStyle = theme.muted;
  ctx.globalAlpha = 0.25;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.beginPath();
  for (const [i, fraction] of drawn) ctx.rect(x[i] + left, y[i] + h[i] - t - 2, (w[i] - left - RADIUS) * fraction, t);
  ctx.fillStyle = theme.status[st];
  ctx.fill();
}

/**
 * The "?" badge of waiting nodes: a disc in the status colour on the card's
 * top-right corner, at least 5 screen pixels across (a question must be seen).
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number[]} list the waiting nodes on screen
 */
function badges(ctx, f, list) {
  const { layout: l, theme, camera } = f;
  const { x, y, w } = l;
  const r = Math.max(BADGE, 5 / camera.s);
  ctx.beginPath();
  for (const i of list) {
    const cx = x[i] + w[i] - r * 0.6;
    ctx.moveTo(cx + r, y[i]);
    ctx.arc(cx, y[i], r, 0, Math.PI * 2);
  }
  ctx.fillStyle = theme.status[WAITING];
  ctx.fill();
  ctx.lineWidth = 1.5 / camera.s;
  ctx.strokeStyle = theme.bg;
  ctx.stroke();
  if (r * camera.s < 5) return;
  ctx.font = `700 ${r * 1.45}px ${theme.font}`;
  ctx.fillStyle = "#ffffff";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (const i of list) ctx.fillText("?", x[i] + w[i] - r * 0.6, y[i] + r * 0.08);
  ctx.textAlign = "left";
  f.drawn?.push("?");
}

/**
 * A comparison's badges: a disc in the class's colour on the card's top-right
 * corner with the class's glyph (`≠`, `!`, `+`, `−`, `?`), so that a class is
 * told by its shape as well as its colour; `equal` nodes wear none.
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number[][]} lists the nodes on screen (cards by colour index, and open boxes)
 */
function classBadges(ctx, f, lists) {
  const { layout: l, theme, camera, status } = f;
  const { x, y, w } = l;
  const r = Math.max(BADGE, 5 / camera.s);
  const text = r * camera.s >= 5;
  /** @type {Map<number, number[]>} the nodes with a badge, by colour index */
  const byClass = new Map();
  for (const list of lists) {
    for (const i of list) {
      const cls = classAt(status[i]);
      if (!cls || cls === "equal") continue;
      const group = byClass.get(status[i]);
      if (group) group.push(i);
      else byClass.set(status[i], [i]);
    }
  }
  for (const [st, list] of byClass) {
    ctx.beginPath();
    for (const i of list) {
      const cx = x[i] + w[i] - r * 0.6;
      ctx.moveTo(cx + r, y[i]);
      ctx.arc(cx, y[i], r, 0, Math.PI * 2);
    }
    ctx.fillStyle = theme.status[st];
    ctx.fill();
    ctx.lineWidth = 1.5 / camera.s;
    ctx.strokeStyle = theme.bg;
    ctx.stroke();
    if (!text) continue;
    const glyph = CLASS_INFO[/** @type {import("./compare.js").DiffClass} */ (classAt(st))].glyph;
    ctx.font = `700 ${r * 1.45}px ${theme.font}`;
    ctx.fillStyle = theme.onStatus[st];
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const i of list) ctx.fillText(glyph, x[i] + w[i] - r * 0.6, y[i] + r * 0.08);
    ctx.textAlign = "left";
    f.drawn?.push(glyph);
  }
}

/**
 * The height of a plain node (the most common leaf height).
 *
 * @param {GraphLayout} l
 * @returns {number}
 */
function leafHeight(l) {
  for (let k = 0; k < l.order.length; k++) {
    const i = l.order[k];
    if (l.kind[i] === LEAF || l.kind[i] === COLLAPSED) return l.h[i];
  }
  return 34;
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number} i
 * @param {number} font label size in world units, 0 for no text
 */
function header(ctx, f, i, font) {
  const { layout: l, status, theme } = f;
  const { x, y, w, childStart, childList, parent, ids } = l;
  const hh = l.header;
  ctx.beginPath();
  ctx.roundRect(x[i], y[i], w[i], 4, [RADIUS + 2, RADIUS + 2, 0, 0]);
  ctx.fillStyle = theme.status[status[i]];
  ctx.fill();
  if (!font) return;
  const k = font / FONT;
  // The toggle: a down-pointing triangle.
  const cx = x[i] + 14 * Math.min(k, 1.2);
  const cy = y[i] + hh / 2 + 1;
  const t = 4.5 * Math.min(k, 1.4);
  ctx.beginPath();
  ctx.moveTo(cx - t, cy - t * 0.55);
  ctx.lineTo(cx + t, cy - t * 0.55);
  ctx.lineTo(cx, cy + t * 0.65);
  ctx.closePath();
  ctx.fillStyle = theme.muted;
  ctx.fill();
  let note;
  if (f.compare) {
    // The box's own class is its badge's; the note counts its children's.
    note = childrenNote(l, status, i);
  } else {
    let done = 0;
    const total = childStart[i + 1] - childStart[i];
    for (let c = childStart[i]; c < childStart[i + 1]; c++) if (FINISHED_INDEX[status[childList[c]]]) done++;
    note = `${done}/${total}`;
  }
  const metaSize = font * META;
  const noteWidth = f.text.width(note, metaSize, theme.font);
  ctx.textBaseline = "middle";
  ctx.font = `${metaSize}px ${theme.font}`;
  ctx.fillStyle = theme.muted;
  ctx.textAlign = "right";
  ctx.fillText(note, x[i] + w[i] - 10, cy);
  ctx.textAlign = "left";
  const left = cx + t + 8;
  ctx.font = `600 ${font}px ${theme.font}`;
  ctx.fillStyle = theme.fg;
  const name = displayName(ids[i], f.nodes[ids[i]], parent[i] >= 0 ? ids[parent[i]] : undefined);
  const room = x[i] + w[i] - 20 - noteWidth - left;
  if (room > 12) {
    const shown = f.text.fit(name, room, font, theme.font, "600");
    ctx.fillText(shown, left, cy);
    f.drawn?.push(shown, note);
  }
}

/**
 * A card's name and note.
 *
 * @param {CanvasRenderingContext2D} ctx
 * @param {GraphFrame} f
 * @param {number} i
 * @param {number} font label size in world units
 */
function label(ctx, f, i, font) {
  const { layout: l, theme, nodes, status } = f;
  const { x, y, w, h, ids, parent, kind } = l;
  const id = ids[i];
  const node = nodes[id];
  const k = font / FONT;
  const pad = 8 * Math.min(k, 1.3);
  const cy = y[i] + h[i] / 2 + 0.5;
  let left = x[i] + BAR + pad;
  if (kind[i] === COLLAPSED) {
    // The toggle: a right-pointing triangle.
    const t = 4.5 * Math.min(k, 1.4);
    ctx.beginPath();
    ctx.moveTo(left, cy - t);
    ctx.lineTo(left + t * 1.2, cy);
    ctx.lineTo(left, cy + t);
    ctx.closePath();
    ctx.fillStyle = theme.muted;
    ctx.fill();
    left += t * 1.2 + pad * 0.8;
  }
  const right = x[i] + w[i] - pad;
  const name = displayName(id, node, parent[i] >= 0 ? ids[parent[i]] : undefined);
  const note = f.compare
    ? kind[i] === COLLAPSED
      ? `${compareNote(node)} · ${childrenNote(l, status, i)}`
      : compareNote(node)
    : kind[i] === COLLAPSED
      ? `+${l.descendants[i]}`
      : noteFor(node, f.now);
  let noteWidth = 0;
  let nameY = cy;
  const metaSize = font * META;
  const room = right - left;
  if (note) {
    const width = f.text.width(note, metaSize, theme.font);
    const nameWidth = f.text.width(name, font, theme.font);
    if (nameWidth + width + pad <= room) {
      // Side by side: the name, the note on the right.
      noteWidth = width + pad;
      ctx.font = `${metaSize}px ${theme.font}`;
      ctx.fillStyle = theme.muted;
      ctx.textAlign = "right";
      ctx.fillText(note, right, cy);
      ctx.textAlign = "left";
      f.drawn?.push(note);
    } else if ((font + metaSize) * 1.12 <= h[i] - 4 && kind[i] !== COLLAPSED) {
      // Two lines when the card is tall enough for both: the name, the note under it.
      const gap = (font + metaSize) * 0.56;
      nameY = cy - gap * 0.5;
      const shownNote = f.text.fit(note, room, metaSize, theme.font);
      if (shownNote) {
        ctx.font = `${metaSize}px ${theme.font}`;
        ctx.fillStyle = node?.status === "failed" ? theme.status[status[i]] : theme.muted;
        ctx.fillText(shownNote, left, cy + gap * 0.5);
        f.drawn?.push(shownNote);
      } else nameY = cy;
    }
    // Else the name alone: it comes first.
  }
  ctx.font = `${font}px ${theme.font}`;
  ctx.fillStyle = theme.fg;
  const shown = f.text.fit(name, room - noteWidth, font, theme.font);
  ctx.fillText(shown, left, nameY);
  if (shown) f.drawn?.push(shown);
  if (shown && f.compare && classAt(status[i]) === "removed") {
    // A removed node's name is struck through: run b did not make it.
    const width = f.text.width(shown, font, theme.font);
    ctx.beginPath();
    ctx.moveTo(left, nameY + font * 0.05);
    ctx.lineTo(left + width, nameY + font * 0.05);
    ctx.lineWidth = Math.max(1, font * 0.09);
    ctx.strokeStyle = theme.fg;
    ctx.stroke();
    f.drawn?.push("strike:" + shown);
  }
}

/**
 * The differences among a box's children, in a comparison (`+1 −1 ≠2`).
 *
 * @param {GraphLayout} l
 * @param {Uint8Array} status class index per node
 * @param {number} i the box
 * @returns {string}
 */
function childrenNote(l, status, i) {
  /** @type {(import("./compare.js").DiffClass | null)[]} */
  const classes = [];
  for (let c = l.childStart[i]; c < l.childStart[i + 1]; c++) classes.push(classAt(status[l.childList[c]]));
  return headerNote(classes);
}

/**
 * The short note on a card's right: a duration (how long a running node
 * has been running, when `now` is known), an attempt, an error; `reused`
 * for a node whose result was reused rather than made (its own times
 * would say nothing).
 *
 * @param {NodeSummary | undefined} node
 * @param {number | null} [now] seconds since the run started; null: the run was interrupted (stored),
 *   so a running node was stopped
 * @returns {string}
 */
export function noteFor(node, now) {
  if (!node) return "";
  switch (node.status) {
    case "done": {
      if (node.cached) return "reused";
      const took = node.started !== undefined && node.ended !== undefined ? formatDuration(node.ended - node.started) : "";
      const metric = cardMetric(node.metrics);
      return metric ? (took ? `${took} · ${metric}` : metric) : took;
    }
    case "running": {
      const done = progressText(node.progress);
      const tried = [node.attempt && node.attempt > 1 ? `try ${node.attempt}` : "", done].filter(Boolean).join(" · ");
      if (now === null) return tried ? `${tried} · stopped` : "stopped";
      if (now === undefined || node.started === undefined) return tried || "running";
      const took = formatDuration(Math.max(0, now - node.started));
      return tried ? `${tried} · ${took}` : took;
    }
    case "retrying":
      return `retry ${node.attempt ?? ""}`.trim();
    case "waiting":
      return node.questions && node.questions > 1 ? `${node.questions} questions` : "question";
    case "failed":
      return node.error ? errorNote(node.error) : "failed";
    case "cancelled":
    case "skipped":
    case "aggregating":
      return node.status;
    default:
      return "";
  }
}
