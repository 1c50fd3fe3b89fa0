/**
 * The overview on the canvas: one pixel per node in a small raster, kept
 * up to date pixel by pixel as statuses change, and scaled up to the
 * view, with a grid and layer boundaries once cells are big enough to tell
 * apart.
 *
 * @module
 */

import { viewport, worldTransform } from "./render.js";

/** @typedef {import("./colors.js").Theme} Theme */
/** @typedef {import("./layout.js").OverviewLayout} OverviewLayout */
/** @typedef {import("./render.js").Camera} Camera */
/** @typedef {import("./render.js").Surface} Surface */

/**
 * One pixel per node, in status colours; scaled up to draw the overview.
 */
export class OverviewRaster {
  /** @param {OverviewLayout} l */
  constructor(l) {
    this.layout = l;
    this.canvas = document.createElement("canvas");
    this.canvas.width = Math.max(1, l.cols);
    this.canvas.height = Math.max(1, l.rows);
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d"));
    this.image = this.ctx.createImageData(this.canvas.width, this.canvas.height);
    this.words = new Uint32Array(this.image.data.buffer);
    this.dirty = true;
  }

  /**
   * @param {Uint8Array} status status index per node
   * @param {Uint32Array} packed colour word per status index
   */
  paintAll(status, packed) {
    const { cellX, cellY, cols } = this.layout;
    this.words.fill(0);
    for (let i = 0; i < status.length; i++) this.words[cellY[i] * cols + cellX[i]] = packed[status[i]];
    this.dirty = true;
  }

  /**
   * @param {number} i node index
   * @param {number} word its colour
   */
  paint(i, word) {
    const { cellX, cellY, cols } = this.layout;
    this.words[cellY[i] * cols + cellX[i]] = word;
    this.dirty = true;
  }

  flush() {
    if (!this.dirty) return;
    this.ctx.putImageData(this.image, 0, 0);
    this.dirty = false;
  }
}

/**
 * @typedef {object} OverviewFrame
 * @property {OverviewLayout} layout
 * @property {OverviewRaster} raster
 * @property {Camera} camera
 * @property {Theme} theme
 * @property {Surface} surface
 * @property {number} selected
 * @property {number} match
 * @property {number} hover
 */

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {OverviewFrame} f
 */
export function drawOverview(ctx, f) {
  const { layout: l, raster, camera: cam, theme, surface } = f;
  const s = cam.s;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = theme.bg;
  ctx.fillRect(0, 0, surface.width * surface.dpr, surface.height * surface.dpr);
  raster.flush();
  worldTransform(ctx, surface, cam);
  const px = l.cell * s;
  ctx.imageSmoothingEnabled = px < 1;
  ctx.drawImage(raster.canvas, 0, 0, l.cols * l.cell, l.rows * l.cell);
  const v = viewport(surface, cam);
  const r0 = Math.max(0, Math.floor(v.y0 / l.cell));
  const r1 = Math.min(l.rows, Math.ceil(v.y1 / l.cell));
  if (px >= 6) {
    // A grid in the background colour separates the cells.
    const c0 = Math.max(0, Math.floor(v.x0 / l.cell));
    const c1 = Math.min(l.cols, Math.ceil(v.x1 / l.cell));
    ctx.beginPath();
    for (let c = c0; c <= c1; c++) {
      ctx.moveTo(c * l.cell, r0 * l.cell);
      ctx.lineTo(c * l.cell, r1 * l.cell);
    }
    for (let r = r0; r <= r1; r++) {
      ctx.moveTo(c0 * l.cell, r * l.cell);
      ctx.lineTo(c1 * l.cell, r * l.cell);
    }
    ctx.lineWidth = Math.min(2, px / 6) / s;
    ctx.strokeStyle = theme.bg;
    ctx.stroke();
  }
  if (px >= 2.5) {
    // Layer boundaries, wider than the grid.
    ctx.beginPath();
    for (const block of l.layers) {
      const bx = block.x * l.cell;
      if (bx < v.x0 || bx > v.x1) continue;
      ctx.moveTo(bx, r0 * l.cell);
      ctx.lineTo(bx, r1 * l.cell);
    }
    ctx.lineWidth = Math.max(1.5, Math.min(4, px / 3)) / s;
    ctx.strokeStyle = theme.bg;
    ctx.stroke();
  }
  const rings = /** @type {[number, string][]} */ ([
    [f.hover, theme.muted],
    [f.match, theme.accent],
    [f.selected, theme.fg],
  ]);
  for (const [i, color] of rings) {
    if (i < 0) continue;
    const cx = (l.cellX[i] + 0.5) * l.cell;
    const cy = (l.cellY[i] + 0.5) * l.cell;
    ctx.beginPath();
    ctx.rect(l.cellX[i] * l.cell, l.cellY[i] * l.cell, l.cell, l.cell);
    ctx.lineWidth = 2 / s;
    ctx.strokeStyle = color;
    ctx.stroke();
    if (px < 10 && i !== f.hover) {
      ctx.beginPath();
      ctx.arc(cx, cy, 14 / s, 0, Math.PI * 2);
      ctx.stroke();
    }
  }
}
