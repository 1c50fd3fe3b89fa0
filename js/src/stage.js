/**
 * The canvas: layout, camera, drawing schedule, zoom and pan, hit-testing.
 *
 * The stage is told what changed (`update`) and draws at most once per
 * animation frame: several batches arriving between two frames cost one
 * draw. A structural change lays the graph out again; a status-only change
 * only recolours the named nodes (and, in the overview, their pixels).
 *
 * A comparison's state (its run has `compare`, see compare.js) is coloured
 * by difference class rather than by status: the status table then holds
 * each node's class index (`classIndex`), past the statuses'.
 *
 * Selection, search match and hover are kept as node ids, so they survive
 * a new layout; a node hidden in a collapsed box is shown by that box.
 *
 * Its owner changes it through its methods (`update`, `select`, `setMatch`,
 * `setHover`, `reset`, `toggle`, `fit`, `dragTo`...), never by writing its
 * fields; it reads them freely.
 *
 * @module
 */

import { layout as computeLayout } from "./layout.js";
import { OutputMarks } from "./output-follow.js";
import { OverviewRaster, drawOverview } from "./raster.js";
import { CARD, StaticLayer, drawGraph } from "./render.js";
import { AUTO_MAX, AUTO_MIN, LABEL_FONT, NODE_WIDTH, autoCamera, autoScale, fitHeight, legibleScale, nodeWidthFor, startTy } from "./size.js";
import { classIndex, runCompare } from "./compare.js";
import { isReused } from "./rerun.js";
import { statusIndex } from "./status.js";
import { TextFitter } from "./text.js";
import { COLLAPSED, HIDDEN, LEAF, OPEN } from "./tree.js";
import { localName } from "./format.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./colors.js").Theme} Theme */
/** @typedef {import("./render.js").Camera} Camera */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * @typedef {object} Hit
 * @property {string} id
 * @property {"node" | "toggle"} part `toggle`: the collapse control (a box header, a collapsed node's arrow)
 */

/**
 * @typedef {object} StageOptions
 * @property {number} [overviewThreshold] more visible nodes than this: overview mode
 * @property {() => void} [beforeDraw] called in each frame before drawing (DOM updates)
 * @property {(ms: number) => void} [afterDraw] called when a frame is drawn
 * @property {(camera: Camera) => void} [onCamera]
 * @property {() => void} [onLayout] called after each new layout
 * @property {() => number | null | undefined} [clock] seconds since the run started (live durations;
 *   null: an interrupted stored run, see `noteFor`)
 */

const MARGIN = 24;
const MAX_FIT = 1.25;
const TOGGLE_WIDTH = 28;
const COLLAPSED_TOGGLE = 28;

export class Stage {
  /**
   * @param {HTMLElement} wrap the element the canvas fills
   * @param {Theme} theme
   * @param {StageOptions} [options]
   */
  constructor(wrap, theme, options = {}) {
    this.wrap = wrap;
    this.theme = theme;
    this.options = options;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "tb-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "Task graph");
    wrap.append(this.canvas);
    this.ctx = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d", { alpha: false }));
    this.surface = { width: 0, height: 0, dpr: 1 };
    /** @type {Camera} */
    this.camera = { s: 1, tx: 0, ty: 0 };
    /** @type {Layout | null} */
    this.layout = null;
    this.version = 0;
    this.layouts = 0;
    /** whether any node has children (the toolbar offers to collapse them) */
    this.groups = false;
    this.status = new Uint8Array(0);
    /** a comparison's state: `status` holds difference classes (see compare.js) */
    this.compare = false;
    /** 1 per node whose result was reused (its summary's `cached`): drawn paler, dashed */
    this.reused = new Uint8Array(0);
    /** nodes with output the user has not seen: a dot on their card */
    this.marks = new OutputMarks();
    /** @type {OverviewRaster | null} */
    this.raster = null;
    this.layer = new StaticLayer();
    this.text = new TextFitter();
    /** @type {Set<string>} */
    this.collapsed = new Set();
    /** @type {Readonly<Record<string, NodeSummary>> | null} */
    this.nodes = null;
    /** @type {ReadonlyArray<[string, string]>} */
    this.edges = [];
    /** @type {string | null} */
    this.selected = null;
    /** @type {string | null} */
    this.match = null;
    /** @type {string | null} */
    this.hover = null;
    this.userMoved = false;
    /** the last fit was the user's: automatic fits show the whole graph too, however small */
    this.whole = false;
    /** the automatic fit shows only part of the graph (labels would be too small otherwise) */
    this.clipped = false;
    this.needLayout = true;
    /** @type {string[]} the labels and notes of the last frame */
    this.drawn = [];
    this.allStatus = false;
    /** @type {Set<string>} */
    this.dirty = new Set();
    /** @type {{id: string, sx: number, sy: number} | null} keep this node still across a relayout */
    this.anchor = null;
    this.raf = 0;
    this.layoutMs = 0;
    this.lastFrameMs = 0;
    this.disposed = false;
    this.frame = this.frame.bind(this);
    this.resize();
  }

  /** @returns {"graph" | "overview"} */
  get mode() {
    return this.layout?.mode ?? "graph";
  }

  /**
   * Take the state after a change.
   *
   * @param {{nodes: Record<string, NodeSummary>, edges: [string, string][], run?: {compare?: unknown}} | null} state
   * @param {{structural: boolean, nodes: string[] | null}} change
   */
  update(state, change) {
    this.nodes = state ? state.nodes : null;
    this.edges = state ? state.edges : [];
    this.marks.update(this.nodes, change.structural ? null : change.nodes);
    const compare = !!state && runCompare(state.run) !== null;
    if (compare !== this.compare) {
      this.compare = compare;
      this.needLayout = true;
    }
    if (change.structural || !state) this.needLayout = true;
    else if (change.nodes === null) this.allStatus = true;
    else for (const id of change.nodes) this.dirty.add(id);
    this.schedule();
  }

  schedule() {
    if (!this.raf && !this.disposed) this.raf = requestAnimationFrame(this.frame);
  }

  /** Draw now if something is waiting (tests and benchmarks call it through the hook). */
  flush() {
    if (this.raf) {
      cancelAnimationFrame(this.raf);
      this.frame();
    }
  }

  frame() {
    this.raf = 0;
    if (this.disposed) return;
    const t0 = performance.now();
    if (window.devicePixelRatio !== this.surface.dpr) this.resize();
    this.prepare();
    this.options.beforeDraw?.();
    this.draw();
    this.lastFrameMs = performance.now() - t0;
    this.options.afterDraw?.(this.lastFrameMs);
  }

  /** Bring the layout and the status table up to date with the state. */
  prepare() {
    if (this.needLayout) this.relayout();
    else if (this.allStatus) this.recolour(null);
    else if (this.dirty.size) this.recolour(this.dirty);
    this.allStatus = false;
    this.dirty.clear();
  }

  relayout() {
    this.needLayout = false;
    const nodes = this.nodes;
    const anchor = this.anchor;
    this.anchor = null;
    if (!nodes) {
      this.layout = null;
      this.raster = null;
      this.groups = false;
      this.status = new Uint8Array(0);
      this.reused = new Uint8Array(0);
      return;
    }
    const t0 = performance.now();
    const first = this.layout === null;
    const { width, height } = this.surface;
    this.layout = computeLayout(nodes, this.edges, {
      collapsed: this.collapsed,
      nodeWidth: this.nodeWidth(nodes),
      overviewThreshold: this.options.overviewThreshold,
      // Shape wide fan-outs and many small pieces for this canvas (kept on a later resize).
      aspectGraph: width > 0 && height > 0 ? Math.min(4, Math.max(1, width / height)) : undefined,
      aspect: width > 0 && height > 0 ? Math.min(5, Math.max(1, width / height)) : undefined,
    });
    this.layoutMs = performance.now() - t0;
    this.layouts += 1;
    this.groups = this.layout.parent.some((p) => p >= 0);
    this.version += 1;
    this.layer.invalidate();
    this.status = new Uint8Array(this.layout.ids.length);
    this.reused = new Uint8Array(this.layout.ids.length);
    this.raster = this.layout.mode === "overview" ? new OverviewRaster(this.layout) : null;
    this.recolour(null);
    if (anchor) {
      const c = this.centre(anchor.id, true);
      if (c) {
        this.camera.tx = anchor.sx - c.x * this.camera.s;
        this.camera.ty = anchor.sy - c.y * this.camera.s;
      }
    } else if (first || !this.userMoved) {
      this.fit(false);
    }
    this.options.onLayout?.();
  }

  /**
   * Cards as wide as labels need (see `nodeWidthFor`); graphs without
   * labels, and huge ones, keep the standard width.
   *
   * @param {Readonly<Record<string, NodeSummary>>} nodes
   * @returns {number}
   */
  nodeWidth(nodes) {
    /** @type {number[]} */
    const widths = [];
    let labelled = false;
    let count = 0;
    for (const id in nodes) {
      if (++count > 5000) return NODE_WIDTH;
      const node = nodes[id];
      if (node.label) labelled = true;
      const name = node.label || localName(id, node.parent);
      widths.push(this.text.width(name, LABEL_FONT, this.theme.font));
    }
    return labelled ? nodeWidthFor(widths) : NODE_WIDTH;
  }

  /** @param {Iterable<string> | null} ids null: all */
  recolour(ids) {
    const l = this.layout;
    const nodes = this.nodes;
    if (!l || !nodes) return;
    const { status, reused } = this;
    const colour = this.compare ? classIndex : (/** @type {NodeSummary | undefined} */ node) => statusIndex(node?.status);
    if (ids === null) {
      for (let i = 0; i < l.ids.length; i++) {
        const node = nodes[l.ids[i]];
        status[i] = colour(node);
        reused[i] = isReused(node) ? 1 : 0;
      }
      this.raster?.paintAll(status, this.theme.packed);
      return;
    }
    for (const id of ids) {
      const i = l.index.get(id);
      if (i === undefined) {
        this.needLayout = true; // a node we have not laid out: only a new layout can place it
        continue;
      }
      status[i] = colour(nodes[id]);
      reused[i] = isReused(nodes[id]) ? 1 : 0;
      this.raster?.paint(i, this.theme.packed[status[i]]);
    }
    if (this.needLayout) this.relayout();
  }

  draw() {
    const { ctx, surface, theme } = this;
    if (surface.width <= 0 || surface.height <= 0) return;
    const l = this.layout;
    if (!l) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.fillStyle = theme.bg;
      ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
      return;
    }
    const selected = this.shown(this.selected);
    const match = this.shown(this.match);
    const hover = this.shown(this.hover);
    if (l.mode === "overview") {
      this.drawn = [];
      drawOverview(ctx, {
        layout: l,
        raster: /** @type {OverviewRaster} */ (this.raster),
        camera: this.camera,
        theme,
        surface,
        selected,
        match,
        hover,
      });
    } else {
      drawGraph(ctx, {
        layout: l,
        version: this.version,
        status: this.status,
        reused: this.reused,
        compare: this.compare,
        nodes: this.nodes ?? {},
        camera: this.camera,
        theme,
        surface,
        selected,
        match,
        hover,
        layer: this.layer,
        text: this.text,
        now: this.options.clock?.(),
        fresh: this.marks.fresh,
        drawn: (this.drawn = []),
      });
    }
  }

  /**
   * The index of the node drawn for `id` (its collapsed box if it is hidden), or -1.
   *
   * @param {string | null} id
   * @returns {number}
   */
  shown(id) {
    const l = this.layout;
    if (id === null || !l) return -1;
    const i = l.index.get(id);
    if (i === undefined) return -1;
    return l.mode === "graph" ? l.rep[i] : i;
  }

  /** @param {Theme} theme */
  setTheme(theme) {
    this.theme = theme;
    this.layer.invalidate();
    this.text.widths.clear();
    if (this.raster) this.raster.paintAll(this.status, theme.packed);
    this.schedule();
  }

  resize() {
    const rect = this.wrap.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(0, Math.floor(rect.width));
    const height = Math.max(0, Math.floor(rect.height));
    if (width === this.surface.width && height === this.surface.height && dpr === this.surface.dpr) return;
    this.surface = { width, height, dpr };
    this.canvas.width = Math.max(1, Math.round(width * dpr));
    this.canvas.height = Math.max(1, Math.round(height * dpr));
    this.layer.invalidate();
    if (!this.userMoved) this.fit(false);
    this.schedule();
  }

  // -- what is marked, and a new run ----------------------------------------

  /**
   * Select `id` (null: nothing), drawn highlighted. Selecting a node is the
   * user's hand on the view: automatic fits stop moving the camera.
   *
   * @param {string | null} id
   */
  select(id) {
    if (id !== null) this.userMoved = true;
    this.selected = id;
    this.layer.invalidate();
    this.schedule();
  }

  /**
   * Mark `id` as the search's (or the legend's) current match (null: none).
   *
   * @param {string | null} id
   */
  setMatch(id) {
    this.match = id;
    this.schedule();
  }

  /**
   * The node under the pointer (null: none); draws again only if it changed.
   *
   * @param {string | null} id
   */
  setHover(id) {
    if (id === this.hover) return;
    this.hover = id;
    this.schedule();
  }

  /**
   * Another run (or the same one from scratch): no box collapsed, and the
   * camera follows automatic fits again. The next `update` lays it out.
   */
  reset() {
    this.marks.reset();
    this.collapsed.clear();
    this.userMoved = false;
    this.whole = false;
  }

  // -- camera ---------------------------------------------------------------

  /**
   * The view's height that shows the layout at its automatic fit, for the
   * canvas's current width (or `width`), with `chrome` pixels of rows
   * around the canvas.
   *
   * @param {number} chrome
   * @param {number} [width]
   * @returns {number}
   */
  contentHeight(chrome, width = this.surface.width) {
    const l = this.layout;
    if (!l) return AUTO_MIN;
    if (l.mode === "overview") return AUTO_MAX;
    return fitHeight({
      graphWidth: l.width,
      graphHeight: l.height,
      stageWidth: width,
      chrome,
      margin: MARGIN,
      maxScale: MAX_FIT,
      floor: this.floorScale(),
    });
  }

  /**
   * For a graph taller than the canvas at scale `s`: the camera's `ty` that
   * centres what is drawn in the graph's first screenful of columns (a
   * left-to-right graph starts there), or shows it from its top if it is
   * taller than the canvas, within the graph's top and bottom.
   *
   * @param {number} s
   * @returns {number}
   */
  startY(s) {
    const l = /** @type {import("./layout.js").GraphLayout} */ (this.layout);
    const { height, width } = this.surface;
    const right = (width - MARGIN) / s;
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < l.order.length; k++) {
      const i = l.order[k];
      if (l.kind[i] === HIDDEN || l.x[i] > right) continue;
      lo = Math.min(lo, l.y[i]);
      hi = Math.max(hi, l.y[i] + l.h[i]);
    }
    return startTy({ lo, hi, s, height, graphHeight: l.height, margin: MARGIN });
  }

  /** The scale that fits the whole layout. */
  fitScale() {
    const l = this.layout;
    if (!l || l.width <= 0 || l.height <= 0) return 1;
    const w = Math.max(10, this.surface.width - 2 * MARGIN);
    const h = Math.max(10, this.surface.height - 2 * MARGIN);
    const cap = l.mode === "overview" ? 24 / l.cell : MAX_FIT;
    return Math.min(w / l.width, h / l.height, cap);
  }

  /**
   * The smallest scale of an automatic fit: where a plain node's label is
   * still legible (see size.js). 0 in the overview.
   */
  floorScale() {
    const l = this.layout;
    if (!l || l.mode !== "graph") return 0;
    for (let k = 0; k < l.order.length; k++) {
      const i = l.order[k];
      if (l.kind[i] === LEAF || l.kind[i] === COLLAPSED) return legibleScale(l.w[i], l.h[i]);
    }
    return 0;
  }

  /**
   * Fit the graph. The user's fit (the button, `f`, a double click) shows
   * all of it; an automatic one (a new layout, a resize) does too unless
   * that would make labels illegible: then it shows the graph's start at
   * the legible scale, to be panned.
   *
   * @param {boolean} [byUser] a fit the user asked for resets "the user moved"
   */
  fit(byUser = true) {
    const l = this.layout;
    if (byUser) {
      this.userMoved = false;
      this.whole = true;
    }
    if (!l) return;
    const fit = this.fitScale();
    const { width, height } = this.surface;
    if (this.whole || l.mode === "overview") {
      this.camera = { s: fit, tx: (width - l.width * fit) / 2, ty: (height - l.height * fit) / 2 };
      this.clipped = false;
    } else {
      const s = autoScale({ fit, floor: this.floorScale(), maxScale: MAX_FIT });
      this.camera = autoCamera({ s, graphWidth: l.width, graphHeight: l.height, width, height, margin: MARGIN });
      if (l.height * s + 2 * MARGIN > height) this.camera.ty = this.startY(s);
      // Only part in view (beyond the margins): say so in the summary row.
      this.clipped = l.width * s > width + 0.5 || l.height * s > height + 0.5;
    }
    this.options.onCamera?.(this.camera);
    this.schedule();
  }

  /** @returns {[number, number]} */
  scaleLimits() {
    const l = this.layout;
    const fit = this.fitScale();
    const max = l && l.mode === "overview" ? 48 / l.cell : 3;
    return [Math.min(fit, 1) * 0.5, Math.max(max, fit)];
  }

  /**
   * Zoom by `factor` keeping the point (sx, sy) (canvas pixels) still.
   *
   * @param {number} factor
   * @param {number} sx
   * @param {number} sy
   */
  zoom(factor, sx, sy) {
    const [lo, hi] = this.scaleLimits();
    const c = this.camera;
    const s = Math.min(hi, Math.max(lo, c.s * factor));
    const k = s / c.s;
    this.camera = { s, tx: sx - (sx - c.tx) * k, ty: sy - (sy - c.ty) * k };
    this.userMoved = true;
    this.clipped = false;
    this.options.onCamera?.(this.camera);
    this.schedule();
  }

  /**
   * @param {number} dx
   * @param {number} dy
   */
  pan(dx, dy) {
    this.camera = { ...this.camera, tx: this.camera.tx + dx, ty: this.camera.ty + dy };
    this.userMoved = true;
    this.clipped = false;
    this.options.onCamera?.(this.camera);
    this.schedule();
  }

  /**
   * Put the camera's offset at (tx, ty), canvas pixels, at the same scale:
   * a drag of the canvas, which is the user's move.
   *
   * @param {number} tx
   * @param {number} ty
   */
  dragTo(tx, ty) {
    this.camera = { ...this.camera, tx, ty };
    this.userMoved = true;
    this.schedule();
  }

  /**
   * The world centre of the node drawn for `id` (or its top-left corner), or null.
   *
   * @param {string} id
   * @param {boolean} [corner]
   * @returns {{x: number, y: number, h: number} | null}
   */
  centre(id, corner = false) {
    const l = this.layout;
    const i = this.shown(id);
    if (!l || i < 0) return null;
    const k = corner ? 0 : 0.5;
    if (l.mode === "overview") {
      return { x: (l.cellX[i] + k) * l.cell, y: (l.cellY[i] + k) * l.cell, h: l.cell };
    }
    return { x: l.x[i] + l.w[i] * k, y: l.y[i] + l.h[i] * k, h: l.h[i] };
  }

  /**
   * Open every collapsed box around `id`, so it is drawn itself.
   *
   * @param {string} id
   */
  reveal(id) {
    const l = this.layout;
    const nodes = this.nodes;
    if (!l || !nodes || !(id in nodes)) return;
    let changed = false;
    for (let p = nodes[id].parent; p !== undefined; p = nodes[p]?.parent) {
      if (this.collapsed.delete(p)) changed = true;
      if (!(p in nodes)) break;
    }
    if (changed) {
      this.needLayout = true;
      this.prepare();
    }
  }

  /**
   * Bring `id` into view, big enough to read and click: reveal it, zoom in
   * if it is drawn smaller than `minHeight` pixels, and centre it if it is
   * not already well inside the canvas.
   *
   * @param {string} id
   * @param {{minHeight?: number, always?: boolean}} [options]
   * @returns {boolean} whether the node exists
   */
  bringIntoView(id, options = {}) {
    this.prepare();
    this.reveal(id);
    const c = this.target(id);
    if (!c) return false;
    const minHeight = options.minHeight ?? 16;
    let { s, tx, ty } = this.camera;
    let move = options.always ?? false;
    if (c.h * s < minHeight) {
      s = Math.min(this.scaleLimits()[1], Math.max(s, minHeight / c.h, this.mode === "graph" ? 1 : 0));
      move = true;
    }
    const sx = c.x * s + tx;
    const sy = c.y * s + ty;
    const m = 40;
    if (sx < m || sy < m || sx > this.surface.width - m || sy > this.surface.height - m) move = true;
    if (move) {
      tx = this.surface.width / 2 - c.x * s;
      ty = this.surface.height / 2 - c.y * s;
      this.camera = { s, tx, ty };
      this.userMoved = true;
      this.options.onCamera?.(this.camera);
      this.schedule();
    }
    return true;
  }

  /**
   * Where a click selects `id`, in world units: its centre, or for an open
   * box a point on its header's title (the inside of a box is background).
   * `h` is the height of what is there.
   *
   * @param {string} id
   * @returns {{x: number, y: number, h: number} | null}
   */
  target(id) {
    const l = this.layout;
    const i = this.shown(id);
    if (!l || i < 0) return null;
    if (l.mode === "graph" && l.kind[i] === OPEN) {
      return { x: l.x[i] + Math.min(l.w[i] / 2, TOGGLE_WIDTH + 48), y: l.y[i] + l.header / 2, h: l.header };
    }
    return this.centre(id);
  }

  /**
   * `target(id)` in canvas pixels.
   *
   * @param {string} id
   * @returns {{x: number, y: number} | null}
   */
  clickPoint(id) {
    const t = this.target(id);
    if (!t) return null;
    return { x: t.x * this.camera.s + this.camera.tx, y: t.y * this.camera.s + this.camera.ty };
  }

  /**
   * Where `id` is drawn (its centre, or its top-left corner), in canvas pixels.
   *
   * @param {string} id
   * @param {boolean} [corner]
   * @returns {{x: number, y: number} | null}
   */
  screenOf(id, corner = false) {
    const c = this.centre(id, corner);
    if (!c) return null;
    return { x: c.x * this.camera.s + this.camera.tx, y: c.y * this.camera.s + this.camera.ty };
  }

  // -- collapsing -----------------------------------------------------------

  /**
   * Collapse or expand the box of `id`, keeping it where it is on screen.
   *
   * @param {string} id
   */
  toggle(id) {
    const at = this.screenOf(id, true);
    if (this.collapsed.has(id)) this.collapsed.delete(id);
    else this.collapsed.add(id);
    if (at) this.anchor = { id, sx: at.x, sy: at.y };
    this.needLayout = true;
    this.schedule();
  }

  /** @param {boolean} collapse all boxes, or none */
  setAllCollapsed(collapse) {
    this.collapsed.clear();
    if (collapse && this.nodes) {
      for (const id in this.nodes) {
        const p = this.nodes[id].parent;
        if (p !== undefined) this.collapsed.add(p);
      }
    }
    this.needLayout = true;
    this.userMoved = false;
    this.schedule();
  }

  // -- hit-testing ----------------------------------------------------------

  /**
   * What is at (sx, sy), canvas pixels.
   *
   * @param {number} sx
   * @param {number} sy
   * @returns {Hit | null}
   */
  hitTest(sx, sy) {
    this.prepare();
    const l = this.layout;
    if (!l) return null;
    const s = this.camera.s;
    const wx = (sx - this.camera.tx) / s;
    const wy = (sy - this.camera.ty) / s;
    if (l.mode === "overview") {
      const cx = Math.floor(wx / l.cell);
      const cy = Math.floor(wy / l.cell);
      if (cx < 0 || cy < 0 || cx >= l.cols || cy >= l.rows) return null;
      const i = l.grid[cy * l.cols + cx];
      return i >= 0 ? { id: l.ids[i], part: "node" } : null;
    }
    const { x, y, w, h, kind, order, ids } = l;
    const slack = Math.min(3 / s, 6);
    const cards = h.length > 0 && s * 34 >= CARD;
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k];
      if (wx < x[i] - slack || wx > x[i] + w[i] + slack || wy < y[i] - slack || wy > y[i] + h[i] + slack) continue;
      if (kind[i] === OPEN) {
        if (wy > y[i] + l.header) return null; // the inside of a box is background
        // The header: its arrow collapses the box, the rest selects the node.
        return { id: ids[i], part: wx <= x[i] + TOGGLE_WIDTH ? "toggle" : "node" };
      }
      if (kind[i] === COLLAPSED && cards && wx <= x[i] + COLLAPSED_TOGGLE) return { id: ids[i], part: "toggle" };
      if (kind[i] !== HIDDEN) return { id: ids[i], part: "node" };
    }
    return null;
  }

  dispose() {
    this.disposed = true;
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.canvas.remove();
  }
}
