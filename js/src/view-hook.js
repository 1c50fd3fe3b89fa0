/**
 * The test hook: what browser tests and benchmarks read from the view's
 * root (`root.taskbeam`), alongside its `data-seq` and `data-run-status`.
 * It reads the store and the stage; the few calls that act (`select`,
 * `toggle`, `fit`, `flush`, `nodeCenter`) do what a user's hand would.
 *
 * Runs on the main thread; nothing to release (the view deletes the
 * property).
 *
 * @module
 */

import { classAt, diffClass } from "./compare.js";
import { STATUSES, statusClass } from "./status.js";
import { displayedCounts } from "./view-clock.js";

/** @typedef {import("./reducer.js").State} State */
/** @typedef {import("./stage.js").Stage} Stage */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./view-pages.js").Pages} Pages */

/**
 * What browser tests and benchmarks read from `root.taskbeam`.
 *
 * @typedef {object} TestHook
 * @property {number | null} seq the last applied seq
 * @property {() => State | null} state
 * @property {() => Record<string, number>} counts status → count, as the legend shows
 * @property {(id: string) => string | null} nodeClass `tb-status-<status>`, the class whose colour the canvas uses
 *   (in a comparison: `tb-diff-<class>`, its difference class)
 * @property {() => Record<string, string>} nodeClasses
 * @property {() => string[]} reused the nodes the canvas draws as reused (their summary's `cached`), in id order
 * @property {(id: string) => {x: number, y: number} | null} nodeCenter client coordinates, after bringing it into view
 * @property {(id: string | null) => void} select
 * @property {(id: string) => void} toggle collapse or expand a sub-graph
 * @property {() => void} fit
 * @property {() => void} flush draw now if a frame is waiting
 * @property {{seq: number | null, t: number}[]} paints last ~1,000 drawn frames, `t` on the epoch clock (ms)
 * @property {number[]} frameTimes last ~1,000 frame durations (ms)
 * @property {number} layoutMs
 * @property {number} layouts layouts computed so far
 * @property {number} lastFrameMs
 * @property {"graph" | "overview"} mode
 * @property {() => Record<string, number>} stats the store's and the reducer's counters
 * @property {() => number} height the view's height in pixels, as drawn
 * @property {() => string[]} drawnText the labels and notes drawn on the canvas in the last frame (and a
 *   comparison's badge glyphs, and `strike:<name>` for a name struck through)
 * @property {() => {s: number, floor: number, fit: number, clipped: boolean}} zoom the camera's scale, the automatic fit's floor, the whole graph's fit
 * @property {() => "list" | "run"} page history mode: the run list or a run; otherwise "run"
 * @property {() => import("./history.js").HistoryState | null} history history mode: the list's state
 * @property {import("./view-timeline.js").TimelineHook} timeline the timeline mode's bars and scale
 * @property {(on: boolean) => void} setTimeline show the timeline (true) or the graph, as the button does
 */

/**
 * @param {object} parts
 * @param {Store} parts.store
 * @param {Stage} parts.stage
 * @param {HTMLElement} parts.root
 * @param {Pages} parts.pages
 * @param {{seq: number | null, t: number}[]} parts.paints kept up to date by the view
 * @param {number[]} parts.frameTimes kept up to date by the view
 * @param {(id: string | null) => void} parts.select
 * @param {(id: string) => void} parts.focus select a node and centre it
 * @param {import("./view-timeline.js").TimelineHook} parts.timeline
 * @param {(on: boolean) => void} parts.setTimeline
 * @returns {TestHook}
 */
export function createTestHook({ store, stage, root, pages, paints, frameTimes, select, focus, timeline, setTimeline }) {
  return {
    get seq() {
      return store.client.seq;
    },
    state: () => store.client.state,
    counts: () => {
      const state = store.client.state;
      return state ? displayedCounts(state) : {};
    },
    nodeClass(id) {
      stage.prepare();
      const i = stage.layout?.index.get(id);
      return i === undefined ? null : colourClass(stage.status[i]);
    },
    nodeClasses() {
      stage.prepare();
      /** @type {Record<string, string>} */
      const out = {};
      const l = stage.layout;
      if (l) for (let i = 0; i < l.ids.length; i++) out[l.ids[i]] = colourClass(stage.status[i]);
      return out;
    },
    reused() {
      stage.prepare();
      const l = stage.layout;
      /** @type {string[]} */
      const out = [];
      if (l) for (let i = 0; i < l.ids.length; i++) if (stage.reused[i]) out.push(l.ids[i]);
      return out.sort();
    },
    nodeCenter(id) {
      stage.resize(); // the details panel may have just changed the canvas's size
      if (!stage.bringIntoView(id, { minHeight: 20 })) return null;
      stage.flush();
      const p = stage.clickPoint(id);
      if (!p) return null;
      const r = stage.canvas.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    select: (id) => (id === null ? select(null) : focus(id)),
    toggle: (id) => stage.toggle(id),
    fit: () => stage.fit(),
    flush: () => stage.flush(),
    paints,
    frameTimes,
    get layoutMs() {
      return stage.layoutMs;
    },
    get layouts() {
      return stage.layouts;
    },
    get lastFrameMs() {
      return stage.lastFrameMs;
    },
    get mode() {
      return stage.mode;
    },
    stats: () => ({ ...store.counts, ...store.client.counts }),
    height: () => root.getBoundingClientRect().height,
    drawnText: () => [...stage.drawn],
    zoom: () => ({ s: stage.camera.s, floor: stage.floorScale(), fit: stage.fitScale(), clipped: stage.clipped }),
    page: pages.page,
    history: () => (pages.list ? pages.list.state() : null),
    timeline,
    setTimeline,
  };
}

/**
 * The CSS class of a colour-table index: a status's, or a comparison's difference class's.
 *
 * @param {number} index
 * @returns {string}
 */
function colourClass(index) {
  const cls = classAt(index);
  return cls ? diffClass(cls) : statusClass(STATUSES[index]);
}
