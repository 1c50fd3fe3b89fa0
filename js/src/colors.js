/**
 * Colours for the canvas, read from CSS.
 *
 * Status colours are defined once, in `style.css`, as the custom property
 * `--tb-color` of the classes `tb-status-<status>`; the view's own colours
 * are custom properties of `.taskbeam-view` that fall back on JupyterLab's
 * `--jp-*` variables. `readTheme` reads them all (so a JupyterLab theme, or
 * any page's CSS, restyles the canvas too) and derives the few mixed shades
 * the canvas needs. Any CSS colour syntax works: colours are resolved by
 * painting them on a 1×1 canvas and reading the pixel back.
 *
 * @module
 */

import { CLASSES } from "./compare.js";
import { STATUSES } from "./status.js";

/** @typedef {[number, number, number]} RGB */

/**
 * @typedef {object} Theme
 * @property {string} bg canvas background
 * @property {string} fg text
 * @property {string} muted secondary text
 * @property {string} edge
 * @property {string} edgeStrong edges of the selected node
 * @property {string} accent search match, focus
 * @property {string} boxBg inside a compound box
 * @property {string} boxHeader a compound box's header band
 * @property {string} boxBorder
 * @property {string} font UI font family
 * @property {string[]} status colour per status index, then per difference class of a comparison
 *   (at `CLASS_BASE` and on, in `CLASSES` order: see compare.js)
 * @property {string[]} onStatus text drawn on a status colour (a badge's glyph): dark on a light
 *   colour, white on a dark one
 * @property {string[]} tint a status colour mixed into the background (node cards)
 * @property {string[]} reusedTint a paler tint: the card of a node whose result was reused
 * @property {string[]} reusedFill a status colour half-way to the background: a reused node drawn
 *   as a plain rectangle (zoomed out)
 * @property {Uint32Array} packed status colours as little-endian RGBA words (ImageData)
 * @property {number} bgPacked the background as an RGBA word
 * @property {boolean} dark
 */

/**
 * Mix two colours: `t` = 0 gives `a`, 1 gives `b`.
 *
 * @param {RGB} a
 * @param {RGB} b
 * @param {number} t
 * @returns {RGB}
 */
export function mix(a, b, t) {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
  ];
}

/**
 * @param {RGB} c
 * @returns {string} `rgb(r, g, b)`
 */
export function css(c) {
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/**
 * An opaque colour as the 32-bit word an ImageData's Uint32Array holds
 * (little-endian: bytes R, G, B, A in memory).
 *
 * @param {RGB} c
 * @returns {number}
 */
export function pack(c) {
  return ((255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;
}

/**
 * Relative luminance (WCAG), 0 (black) to 1 (white).
 *
 * @param {RGB} c
 * @returns {number}
 */
export function luminance(c) {
  const f = (/** @type {number} */ v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
}

/**
 * A resolver of CSS colours to RGB, composited over a backdrop (so a
 * translucent `rgba(255, 255, 255, 0.87)` text colour resolves to what it
 * looks like on the background).
 *
 * @returns {(color: string, backdrop?: RGB) => RGB}
 */
function colorResolver() {
  const canvas = document.createElement("canvas");
  canvas.width = 1;
  canvas.height = 1;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { willReadFrequently: true }));
  return (color, backdrop = [255, 255, 255]) => {
    const under = css(backdrop);
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = under;
    ctx.fillRect(0, 0, 1, 1);
    ctx.fillStyle = color; // an invalid colour is ignored: the backdrop stays
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    return [d[0], d[1], d[2]];
  };
}

/**
 * Read the theme from the view's root and its status probes.
 *
 * @param {Element} root the `.taskbeam-view` element
 * @param {ReadonlyArray<Element>} probes one element per status (in `STATUSES` order) carrying
 *   its `tb-status-<status>` class (the legend items), then one per difference class (in
 *   `CLASSES` order) carrying its `tb-diff-<class>` class (the comparison legend's items)
 * @returns {Theme}
 */
export function readTheme(root, probes) {
  const style = getComputedStyle(root);
  const prop = (/** @type {string} */ name, /** @type {string} */ fallback) =>
    style.getPropertyValue(name).trim() || fallback;
  const resolve = colorResolver();
  const bg = resolve(prop("--tb-bg", "#ffffff"));
  const fg = resolve(prop("--tb-fg", "#1f2328"), bg);
  const muted = resolve(prop("--tb-fg-muted", "#6b7280"), bg);
  const accent = resolve(prop("--tb-accent", "#1976d2"), bg);
  const border = resolve(prop("--tb-border", "#e0e0e0"), bg);
  const dark = luminance(bg) < 0.4;
  const status = [...STATUSES, ...CLASSES].map((_, i) => {
    const probe = probes[i];
    const value = probe ? getComputedStyle(probe).getPropertyValue("--tb-color").trim() : "";
    return resolve(value || "#9aa4b2", bg);
  });
  return {
    bg: css(bg),
    fg: css(fg),
    muted: css(muted),
    edge: css(mix(bg, fg, dark ? 0.32 : 0.26)),
    edgeStrong: css(accent),
    accent: css(accent),
    boxBg: css(mix(bg, fg, dark ? 0.05 : 0.028)),
    boxHeader: css(mix(bg, fg, dark ? 0.1 : 0.06)),
    boxBorder: css(mix(border, fg, dark ? 0.15 : 0.1)),
    font: style.fontFamily || "sans-serif",
    status: status.map(css),
    onStatus: status.map((c) => (luminance(c) > 0.42 ? css(mix(c, [0, 0, 0], 0.82)) : "#ffffff")),
    tint: status.map((c) => css(mix(bg, c, dark ? 0.22 : 0.14))),
    reusedTint: status.map((c) => css(mix(bg, c, dark ? 0.08 : 0.045))),
    reusedFill: status.map((c) => css(mix(bg, c, dark ? 0.5 : 0.45))),
    packed: Uint32Array.from(status.map(pack)),
    bgPacked: pack(bg),
    dark,
  };
}
