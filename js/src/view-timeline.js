/**
 * The timeline mode: one row per node on a canvas, bars from start to end.
 *
 * Rows are grouped by parent sub-graph (default), tag or function, and a
 * group's header collapses it. Bars take the status colours of the graph
 * (the same theme); earlier attempts are drawn as their own segments, in
 * the colour of their outcome, and waits for an answer as hatched spans in
 * the waiting colour. Only the rows in view are drawn, so 10,000 rows cost
 * what a screenful costs; past `AGGREGATE_OVER` nodes each group is one row
 * with a density bar (how many of its nodes run at each moment).
 *
 * Hands: the wheel zooms time around the pointer (over the names, or with
 * Shift, it scrolls the rows), a drag pans time and scrolls rows, a click
 * on a row opens the node's details, a click on a group's header collapses
 * it, `f` or a double click shows the whole run again (and follows it
 * while it grows), `+`/`-` zoom, arrows pan.
 *
 * Runs on the main thread; `dispose` removes it.
 *
 * @module
 */

import { h } from "./details.js";
import { formatCount } from "./format.js";
import { statusIndex } from "./status.js";
import {
  AGGREGATE_OVER,
  buildGroups,
  buildLines,
  density,
  extent,
  GROUP_BY,
  makeScale,
  panBy,
  toX,
  visibleLines,
  zoomAt,
} from "./timeline.js";

/** @typedef {import("./colors.js").Theme} Theme */
/** @typedef {import("./reducer.js").State} State */
/** @typedef {import("./timeline.js").Line} Line */
/** @typedef {import("./timeline.js").Group} Group */
/** @typedef {import("./timeline.js").Scale} Scale */
/** @typedef {import("./timeline.js").GroupBy} GroupBy */

export const ROW = 18;
export const AXIS = 22;
const LABELS = 180;
const CLICK_SLOP = 4;
const WHEEL_SPEED = 0.0018;
const HISTORY = 1000;
/** Past this many nodes, rows are rebuilt at most this often while the run goes on (ms). */
const BIG = 5000;
const BIG_REBUILD_MS = 250;

/**
 * What the test hook reads of the timeline.
 *
 * @typedef {object} TimelineHook
 * @property {() => boolean} shown
 * @property {() => Scale | null} scale the time scale of the last frame (canvas pixels)
 * @property {() => Record<string, {x0: number, x1: number, y: number, start: number, end: number | null}>} bars
 *   the node bars drawn in the last frame: canvas pixels, and the times they stand for
 * @property {(id: string) => {x: number, y: number} | null} barCenter client coordinates of a bar, after scrolling it into view
 * @property {() => {lines: number, nodes: number, aggregated: boolean, groupBy: string, drawn: number}} info
 * @property {(by: GroupBy) => void} groupBy
 * @property {number[]} frameTimes last ~1,000 frame durations (ms)
 * @property {() => void} flush draw now
 */

/**
 * @param {object} parts
 * @param {HTMLElement} parts.wrap where the timeline goes (beside the graph's canvas)
 * @param {Theme} parts.theme
 * @param {() => State | null} parts.state
 * @param {() => number | null | undefined} parts.now the run's clock in seconds (live bars grow to it)
 * @param {(id: string) => void} parts.select open a node's details
 * @param {() => Promise<Record<string, string>>} parts.functions the run's function names, by node id
 * @param {(text: string) => void} parts.notice
 * @param {() => void} [parts.rowsChanged] the number of lines changed (the view fits its height)
 */
export function createTimeline({ wrap, theme, state, now, select, functions, notice, rowsChanged }) {
  const el = h("div", "tb-timeline");
  el.hidden = true;
  const head = h("div", "tb-timeline-head");
  const choose = /** @type {HTMLSelectElement} */ (h("select", "tb-timeline-group"));
  choose.title = "Group the rows by";
  choose.setAttribute("aria-label", "Group rows by");
  for (const by of GROUP_BY) {
    const option = h("option", "", by === "parent" ? "by sub-graph" : `by ${by}`);
    option.value = by;
    choose.append(option);
  }
  const info = h("span", "tb-timeline-info", "");
  head.append(choose, info);
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", "tb-timeline-canvas"));
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Timeline of the run's nodes");
  const area = h("div", "tb-timeline-area");
  area.append(canvas);
  el.append(head, area);
  // Put in the page when first shown: until then the view's DOM is the graph's alone.
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { alpha: false }));

  const view = {
    theme,
    /** @type {GroupBy} */
    by: "parent",
    /** @type {Set<string>} */
    collapsed: new Set(),
    /** @type {Record<string, string> | null} */
    functions: null,
    /** @type {Group[]} */
    groups: [],
    /** @type {Line[]} */
    lines: [],
    aggregated: false,
    nodes: 0,
    dirty: true,
    builtAt: 0,
    /** @type {Scale | null} */
    scale: null,
    follow: true,
    scroll: 0,
    width: 0,
    height: 0,
    dpr: 1,
    /** @type {string | null} */
    selected: null,
    raf: 0,
    disposed: false,
    /** @type {Record<string, {x0: number, x1: number, y: number, start: number, end: number | null}>} */
    drawn: {},
    /** @type {CanvasPattern | null} */
    hatch: null,
  };
  /** @type {number[]} */
  const frameTimes = [];

  choose.addEventListener("change", () => setGroupBy(/** @type {GroupBy} */ (choose.value)));

  /** @param {GroupBy} by */
  function setGroupBy(by) {
    choose.value = by;
    view.by = by;
    view.collapsed.clear();
    view.dirty = true;
    view.scroll = 0;
    if (by === "function" && !view.functions) {
      functions().then(
        (names) => {
          view.functions = names;
          view.dirty = true;
          schedule();
        },
        (err) => notice(`Functions unknown: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    schedule();
  }

  function schedule() {
    if (!view.raf && !view.disposed && !el.hidden) view.raf = requestAnimationFrame(frame);
  }

  function frame() {
    view.raf = 0;
    draw();
  }

  function resize() {
    const rect = area.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(0, Math.floor(rect.width));
    const height = Math.max(0, Math.floor(rect.height));
    if (width === view.width && height === view.height && dpr === view.dpr) return;
    view.width = width;
    view.height = height;
    view.dpr = dpr;
    canvas.width = Math.max(1, Math.round(width * dpr));
    canvas.height = Math.max(1, Math.round(height * dpr));
    view.hatch = null;
    schedule();
  }

  function rebuild() {
    const s = state();
    const nodes = s ? s.nodes : {};
    view.groups = buildGroups(nodes, view.by, { collapsed: view.collapsed, functions: view.functions });
    const built = buildLines(view.groups, { aggregateOver: AGGREGATE_OVER });
    const before = view.lines.length;
    view.lines = built.lines;
    view.aggregated = built.aggregated;
    view.nodes = built.nodes;
    view.dirty = false;
    view.builtAt = performance.now();
    if (built.lines.length !== before && !el.hidden) queueMicrotask(() => rowsChanged?.());
    const note = built.aggregated
      ? `${formatCount(built.nodes)} nodes: one row per group (density)`
      : `${formatCount(built.nodes)} node${built.nodes === 1 ? "" : "s"}`;
    if (info.textContent !== note) info.textContent = note;
  }

  /** The scale for this frame: the whole run while following, else the user's window. */
  function currentScale() {
    const left = LABELS;
    const width = Math.max(10, view.width - LABELS - 8);
    if (view.follow || !view.scale) {
      const [t0, t1] = extent(view.groups, now());
      view.scale = makeScale(t0, t1, left, width);
    } else if (view.scale.width !== width) {
      view.scale = makeScale(view.scale.t0, view.scale.t1, left, width);
    }
    return view.scale;
  }

  function maxScroll() {
    return Math.max(0, view.lines.length * ROW - (view.height - AXIS));
  }

  function hatchPattern() {
    if (view.hatch) return view.hatch;
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const t = /** @type {CanvasRenderingContext2D} */ (tile.getContext("2d"));
    t.fillStyle = view.theme.tint[statusIndex("waiting")] ?? view.theme.bg;
    t.fillRect(0, 0, 8, 8);
    t.strokeStyle = view.theme.status[statusIndex("waiting")];
    t.lineWidth = 2;
    t.beginPath();
    t.moveTo(-2, 10);
    t.lineTo(10, -2);
    t.moveTo(6, 10);
    t.lineTo(10, 6);
    t.moveTo(-2, 2);
    t.lineTo(2, -2);
    t.stroke();
    view.hatch = ctx.createPattern(tile, "repeat");
    return view.hatch;
  }

  function draw() {
    if (el.hidden) return;
    const t = performance.now();
    resize();
    const s = state();
    const live = !!s && !s.run.stored && s.run.ended === undefined;
    if (view.dirty && (!live || view.nodes < BIG || t - view.builtAt > BIG_REBUILD_MS || view.lines.length === 0)) {
      rebuild();
    } else if (view.dirty) {
      schedule(); // a big live run: rebuilt on a later frame
    }
    const { width, height, dpr } = view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const th = view.theme;
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, width, height);
    if (width <= 0 || height <= 0) return;
    const scale = currentScale();
    const clock = now();
    view.scroll = Math.min(Math.max(0, view.scroll), maxScroll());
    ctx.font = `11px ${th.font}`;
    ctx.textBaseline = "middle";
    drawAxis(scale);
    const [first, last] = visibleLines(view.lines.length, view.scroll, height - AXIS, ROW);
    /** @type {typeof view.drawn} */
    const drawn = {};
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, AXIS, width, height - AXIS);
    ctx.clip();
    for (let i = first; i < last; i++) {
      const line = view.lines[i];
      const y = AXIS + i * ROW - view.scroll;
      if (line.kind === "group") drawGroup(line.group, y);
      else if (line.kind === "density") drawDensity(line.group, y, scale, clock);
      else {
        const bar = line.bar;
        if (bar.id === view.selected) {
          ctx.fillStyle = th.boxBg;
          ctx.fillRect(0, y, width, ROW);
        }
        ctx.fillStyle = th.fg;
        label(bar.id, y, 8);
        if (bar.start !== null) {
          const end = bar.end ?? Math.max(clock ?? bar.start, bar.start);
          const x0 = toX(scale, bar.start);
          const x1 = toX(scale, end);
          drawBar(bar, y, scale, clock);
          drawn[bar.id] = { x0, x1, y: y + ROW / 2, start: bar.start, end: bar.end };
        }
      }
    }
    ctx.restore();
    ctx.strokeStyle = th.edge;
    ctx.beginPath();
    ctx.moveTo(LABELS - 0.5, AXIS);
    ctx.lineTo(LABELS - 0.5, height);
    ctx.stroke();
    // Where the rows in view are among all of them: a thin thumb at the right edge.
    const total = view.lines.length * ROW;
    const room = height - AXIS;
    if (total > room) {
      const thumb = Math.max(16, (room * room) / total);
      const top = AXIS + ((room - thumb) * view.scroll) / Math.max(1, total - room);
      ctx.fillStyle = th.muted;
      ctx.globalAlpha = 0.45;
      ctx.fillRect(width - 5, top, 4, thumb);
      ctx.globalAlpha = 1;
    }
    view.drawn = drawn;
    frameTimes.push(performance.now() - t);
    if (frameTimes.length > HISTORY) frameTimes.shift();
  }

  /**
   * @param {string} id
   * @param {number} y
   * @param {number} indent
   */
  function label(id, y, indent) {
    const s = state()?.nodes[id];
    let text = s?.label ?? (s?.parent && id.startsWith(`${s.parent}/`) ? id.slice(s.parent.length + 1) : id);
    const room = LABELS - indent - 6;
    if (ctx.measureText(text).width > room) {
      while (text.length > 1 && ctx.measureText(`${text}…`).width > room) text = text.slice(0, -1);
      text = `${text}…`;
    }
    ctx.fillText(text, indent, y + ROW / 2);
  }

  /** @param {Scale} scale */
  function drawAxis(scale) {
    const th = view.theme;
    ctx.fillStyle = th.boxHeader;
    ctx.fillRect(0, 0, view.width, AXIS);
    const span = scale.t1 - scale.t0;
    const target = span / Math.max(1, scale.width / 90);
    const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
    const step = steps.find((x) => x >= target) ?? 3600 * Math.ceil(target / 3600);
    ctx.fillStyle = th.muted;
    ctx.strokeStyle = th.edge;
    ctx.beginPath();
    for (let v = Math.ceil(scale.t0 / step) * step; v <= scale.t1; v += step) {
      const x = Math.round(toX(scale, v)) + 0.5;
      if (x < LABELS) continue;
      ctx.moveTo(x, AXIS - 5);
      ctx.lineTo(x, view.height);
      ctx.fillText(formatTime(v, step), x + 3, AXIS / 2);
    }
    ctx.globalAlpha = 0.35;
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  /**
   * @param {Group} g
   * @param {number} y
   */
  function drawGroup(g, y) {
    const th = view.theme;
    ctx.fillStyle = th.boxHeader;
    ctx.fillRect(0, y, view.width, ROW);
    ctx.fillStyle = th.fg;
    ctx.font = `bold 11px ${th.font}`;
    const text = `${g.collapsed ? "▸" : "▾"} ${g.key} (${formatCount(g.count)})`;
    ctx.fillText(text.length > 80 ? `${text.slice(0, 79)}…` : text, 4, y + ROW / 2);
    ctx.font = `11px ${th.font}`;
  }

  /**
   * @param {import("./timeline.js").Bar} bar
   * @param {number} y
   * @param {Scale} scale
   * @param {number | null | undefined} clock
   */
  function drawBar(bar, y, scale, clock) {
    const th = view.theme;
    const top = y + 3;
    const hgt = ROW - 6;
    const n = bar.attempts.length;
    for (let k = 0; k < n; k++) {
      const [start, end, outcome] = bar.attempts[k];
      const stop = end ?? Math.max(clock ?? start, start);
      const x0 = toX(scale, start);
      const x1 = Math.max(x0 + 1, toX(scale, stop));
      if (x1 < LABELS || x0 > view.width) continue;
      // A waiting node's attempt is drawn as running; its wait is the hatched span on top.
      const status = outcome === "timeout" ? "failed" : outcome === "waiting" ? "running" : outcome;
      ctx.fillStyle = th.status[statusIndex(status)];
      ctx.globalAlpha = k < n - 1 ? 0.55 : 1;
      ctx.fillRect(Math.max(LABELS, x0), top, Math.min(view.width, x1) - Math.max(LABELS, x0), hgt);
      ctx.globalAlpha = 1;
      if (k < n - 1) {
        // The backoff before the next attempt: a thin line.
        const next = toX(scale, bar.attempts[k + 1][0]);
        ctx.fillStyle = th.muted;
        ctx.fillRect(Math.max(LABELS, x1), y + ROW / 2 - 0.5, Math.max(0, next - Math.max(LABELS, x1)), 1);
      }
    }
    const pattern = bar.waits.length ? hatchPattern() : null;
    for (const [start, end] of bar.waits) {
      const x0 = Math.max(LABELS, toX(scale, start));
      const x1 = Math.min(view.width, toX(scale, end ?? Math.max(clock ?? start, start)));
      if (x1 <= x0 || !pattern) continue;
      ctx.fillStyle = pattern;
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), hgt);
      ctx.strokeStyle = th.status[statusIndex("waiting")];
      ctx.strokeRect(x0 + 0.5, top + 0.5, Math.max(1, x1 - x0) - 1, hgt - 1);
    }
  }

  /**
   * @param {Group} g
   * @param {number} y
   * @param {Scale} scale
   * @param {number | null | undefined} clock
   */
  function drawDensity(g, y, scale, clock) {
    const th = view.theme;
    ctx.fillStyle = th.fg;
    const text = `${g.key} (${formatCount(g.count)})`;
    ctx.fillText(text.length > 28 ? `${text.slice(0, 27)}…` : text, 4, y + ROW / 2);
    const bins = Math.max(1, Math.floor(scale.width / 2));
    const counts = density(g, scale.t0, scale.t1, bins, clock);
    let max = 0;
    for (let k = 0; k < counts.length; k++) if (counts[k] > max) max = counts[k];
    if (max === 0) return;
    const done = g.end !== null;
    ctx.fillStyle = th.status[statusIndex(done ? "done" : "running")];
    const w = scale.width / bins;
    for (let k = 0; k < counts.length; k++) {
      if (!counts[k]) continue;
      const hgt = Math.max(1, ((ROW - 4) * counts[k]) / max);
      ctx.fillRect(scale.left + k * w, y + ROW - 2 - hgt, Math.max(1, w), hgt);
    }
  }

  // -- hands --------------------------------------------------------------------
  /** @param {number} y canvas pixels */
  function lineAt(y) {
    if (y < AXIS) return null;
    const i = Math.floor((y - AXIS + view.scroll) / ROW);
    return i >= 0 && i < view.lines.length ? view.lines[i] : null;
  }
  /** @param {MouseEvent} e */
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  /** @param {Scale} s */
  function moved(s) {
    view.scale = s;
    view.follow = false;
    schedule();
  }
  /** @param {WheelEvent} e */
  const wheel = (e) => {
    e.preventDefault();
    const p = local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    if (e.shiftKey || p.x < LABELS) {
      view.scroll = Math.min(maxScroll(), Math.max(0, view.scroll + (e.deltaY || e.deltaX) * unit));
      schedule();
      return;
    }
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) moved(panBy(currentScale(), -e.deltaX * unit));
    else moved(zoomAt(currentScale(), Math.exp(-e.deltaY * unit * WHEEL_SPEED), p.x));
  };
  /** @type {{x: number, y: number, scale: Scale, scroll: number, moved: boolean, id: number} | null} */
  let drag = null;
  /** @param {PointerEvent} e */
  const down = (e) => {
    if (e.button !== 0) return;
    const p = local(e);
    drag = { x: p.x, y: p.y, scale: currentScale(), scroll: view.scroll, moved: false, id: e.pointerId };
    canvas.setPointerCapture?.(e.pointerId);
  };
  /** @param {PointerEvent} e */
  const move = (e) => {
    const p = local(e);
    if (!drag || drag.id !== e.pointerId) {
      const line = lineAt(p.y);
      canvas.classList.toggle("tb-pointer", !!line);
      canvas.title = line?.kind === "node" ? tooltip(line.bar) : line ? `${line.group.key}: ${line.group.count} nodes` : "";
      return;
    }
    if (!drag.moved && Math.hypot(p.x - drag.x, p.y - drag.y) > CLICK_SLOP) {
      drag.moved = true;
      canvas.classList.add("tb-dragging");
    }
    if (drag.moved) {
      view.scroll = Math.min(maxScroll(), Math.max(0, drag.scroll - (p.y - drag.y)));
      moved(panBy(drag.scale, p.x - drag.x));
    }
  };
  /** @param {PointerEvent} e */
  const up = (e) => {
    if (!drag || drag.id !== e.pointerId) return;
    const click = !drag.moved;
    drag = null;
    canvas.classList.remove("tb-dragging");
    if (!click) return;
    const line = lineAt(local(e).y);
    if (!line) return;
    if (line.kind === "node") {
      view.selected = line.bar.id;
      select(line.bar.id);
      schedule();
    } else if (line.kind === "group") {
      if (view.collapsed.has(line.group.key)) view.collapsed.delete(line.group.key);
      else view.collapsed.add(line.group.key);
      view.dirty = true;
      schedule();
    }
  };
  const cancel = () => {
    drag = null;
    canvas.classList.remove("tb-dragging");
  };
  const fit = () => {
    view.follow = true;
    schedule();
  };
  /** @param {KeyboardEvent} e */
  const key = (e) => {
    const cx = LABELS + (view.width - LABELS) / 2;
    if (e.key === "f" || e.key === "0") fit();
    else if (e.key === "+" || e.key === "=") moved(zoomAt(currentScale(), 1.25, cx));
    else if (e.key === "-") moved(zoomAt(currentScale(), 0.8, cx));
    else if (e.key === "ArrowLeft") moved(panBy(currentScale(), 60));
    else if (e.key === "ArrowRight") moved(panBy(currentScale(), -60));
    else if (e.key === "ArrowUp" || e.key === "PageUp") {
      view.scroll = Math.max(0, view.scroll - (e.key === "PageUp" ? view.height - AXIS : ROW * 3));
      schedule();
    } else if (e.key === "ArrowDown" || e.key === "PageDown") {
      view.scroll = Math.min(maxScroll(), view.scroll + (e.key === "PageDown" ? view.height - AXIS : ROW * 3));
      schedule();
    } else return;
    e.preventDefault();
  };
  /** @type {[string, (e: any) => void][]} */
  const listeners = [
    ["wheel", wheel],
    ["pointerdown", down],
    ["pointermove", move],
    ["pointerup", up],
    ["pointercancel", cancel],
    ["dblclick", fit],
    ["keydown", key],
  ];
  for (const [type, fn] of listeners) canvas.addEventListener(type, fn, { passive: false });
  const observer = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => resize());
  observer?.observe(area);

  /** @param {import("./timeline.js").Bar} bar */
  function tooltip(bar) {
    const parts = [`${bar.id}: ${bar.status}`];
    if (bar.start !== null) parts.push(`from ${bar.start.toFixed(3)} s${bar.end !== null ? ` to ${bar.end.toFixed(3)} s` : ""}`);
    if (bar.attempts.length > 1) parts.push(`${bar.attempts.length} attempts`);
    if (bar.waits.length) {
      let waited = 0;
      for (const [a, b] of bar.waits) waited += (b ?? now() ?? a) - a;
      parts.push(`waited ${waited.toFixed(1)} s`);
    }
    return parts.join(" · ");
  }

  /** @type {TimelineHook} */
  const hook = {
    shown: () => !el.hidden,
    scale: () => view.scale,
    bars: () => ({ ...view.drawn }),
    barCenter(id) {
      const i = view.lines.findIndex((l) => l.kind === "node" && l.bar.id === id);
      if (i < 0) return null;
      const top = i * ROW;
      if (top < view.scroll || top + ROW > view.scroll + view.height - AXIS) view.scroll = Math.max(0, top - ROW * 2);
      draw();
      const b = view.drawn[id];
      if (!b) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + (Math.max(b.x0, LABELS) + Math.min(b.x1, view.width)) / 2, y: r.top + b.y };
    },
    info: () => ({
      lines: view.lines.length,
      nodes: view.nodes,
      aggregated: view.aggregated,
      groupBy: view.by,
      drawn: Object.keys(view.drawn).length,
    }),
    groupBy: setGroupBy,
    frameTimes,
    flush: () => draw(),
  };

  return {
    el,
    canvas,
    hook,
    /** @param {boolean} on */
    show(on) {
      el.hidden = !on;
      if (on && !el.isConnected) wrap.append(el);
      if (on) {
        view.dirty = true;
        view.builtAt = -Infinity; // rows are built in the first frame, whatever the run's size
        resize();
        schedule();
      }
    },
    shown: () => !el.hidden,
    /** Pixels the timeline wants: its header, the axis and every line. */
    contentHeight() {
      if (view.dirty) rebuild();
      return head.getBoundingClientRect().height + AXIS + view.lines.length * ROW + 4;
    },
    changed() {
      view.dirty = true;
      schedule();
    },
    reset() {
      view.dirty = true;
      view.follow = true;
      view.scroll = 0;
      view.collapsed.clear();
      view.functions = null;
      view.selected = null;
      if (view.by === "function") setGroupBy("function");
      schedule();
    },
    /** @param {string | null} id selected here or elsewhere (search, the legend): its row comes into view */
    selected(id) {
      view.selected = id;
      if (id !== null && !el.hidden) {
        if (view.dirty) rebuild();
        const i = view.lines.findIndex((l) => l.kind === "node" && l.bar.id === id);
        const top = i * ROW;
        if (i >= 0 && (top < view.scroll || top + ROW > view.scroll + view.height - AXIS)) {
          view.scroll = Math.max(0, top - Math.floor((view.height - AXIS) / 2));
        }
      }
      schedule();
    },
    /** @param {Theme} t */
    setTheme(t) {
      view.theme = t;
      view.hatch = null;
      schedule();
    },
    schedule,
    fit,
    dispose() {
      view.disposed = true;
      if (view.raf) cancelAnimationFrame(view.raf);
      observer?.disconnect();
      for (const [type, fn] of listeners) canvas.removeEventListener(type, fn);
      if (el.isConnected) el.remove();
    },
  };
}

/**
 * A tick's label: `1.5 s`, `250 ms`, `2:30`.
 *
 * @param {number} t seconds
 * @param {number} step seconds between ticks
 */
export function formatTime(t, step) {
  if (step < 1) return `${Math.round(t * 1000)} ms`;
  if (t < 60) return `${Number.isInteger(t) ? t : t.toFixed(1)} s`;
  const m = Math.floor(t / 60);
  const s = Math.round(t - m * 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}
