/**
 * The live view of a run: toolbar, legend, canvas, details panel.
 *
 * `createView(el, channel, options)` knows nothing of Jupyter: the channel
 * carries messages both ways (see `store.js` for its shape), so the same
 * view serves the anywidget adapter (`widget.js`) and a standalone page.
 *
 * Data flow: the store applies each message and tells the view what
 * changed; the view updates `data-seq` at once and asks the stage for a
 * frame; in that frame (at most one per animation frame) the stage lays
 * out or recolours, the toolbar's numbers are refreshed, and the canvas is
 * drawn. Nothing waits on the network: details, control requests and the
 * run list are answered asynchronously, and failures show in the status
 * line, never as exceptions.
 *
 * The view is made of parts, each owning one concern and returning its
 * cleanup: the notices (`view-notices.js`), the clocks and the toolbar's
 * numbers (`view-clock.js`), the selection and its details panel
 * (`view-details.js`), search and the legend (`view-search.js`), the run's
 * controls (`view-controls.js`), the canvas's clicks, keys and tooltip
 * (`view-canvas.js`), the height and its handle (`view-height.js`), the
 * theme (`view-theme.js`), history mode's pages (`view-pages.js`), service
 * mode's run selector (`view-runs.js`), the open questions (`view-questions.js`),
 * the timeline mode (`view-timeline.js`, toggled with its button or `T`)
 * and the test hook (`view-hook.js`).
 * What the server sends (the store's state) is kept apart from the view's
 * own state (what is selected, collapsed, in view), which lives in the
 * parts and in the stage, changed only through the stage's methods.
 * `createView` builds the skeleton, wires the parts, and on each frame
 * refreshes the toolbar and the summary row.
 *
 * For browser tests and benchmarks the root element (`.taskbeam-view`)
 * carries `data-seq` and `data-run-status`, and a `taskbeam` property (see
 * `TestHook` in `view-hook.js`).
 *
 * @module
 */

import { runCompare } from "./compare.js";
import { h } from "./details.js";
import { AUTO_MAX } from "./size.js";
import { Stage } from "./stage.js";
import { createStore } from "./store.js";
import { Toolbar } from "./toolbar.js";
import { createSelection } from "./view-details.js";
import { bindView } from "./view-canvas.js";
import { createClock, displayedCounts } from "./view-clock.js";
import { createControls } from "./view-controls.js";
import { createHeight } from "./view-height.js";
import { createTestHook } from "./view-hook.js";
import { createTimeline } from "./view-timeline.js";
import { createNotices } from "./view-notices.js";
import { createPages } from "./view-pages.js";
import { createQuestions } from "./view-questions.js";
import { watchRuns } from "./view-runs.js";
import { createSearch } from "./view-search.js";
import { watchTheme } from "./view-theme.js";

export { displayedCounts, frozenClock } from "./view-clock.js";

/** @typedef {import("./store.js").Channel} Channel */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").StoreChange} StoreChange */
/** @typedef {import("./view-hook.js").TestHook} TestHook */

/**
 * @typedef {object} ViewOptions
 * @property {Store} [store] a store shared with other views of the same model
 *   (the widget keeps one per model); by default the view makes its own
 * @property {number} [height] pixels; 0 or none: fit the graph (240 to 640 pixels)
 * @property {(height: number) => void} [onResize] the user dragged the view to this height
 * @property {number} [overviewThreshold] more visible nodes than this: overview mode (20,000)
 * @property {number} [runsInterval] service mode: ms between refreshes of the run list (2,000;
 *   history mode: 3,000)
 * @property {(() => Promise<unknown>) | null} [continueRun] what a stored run's "Continue" does
 *   (resolves once the run goes on): by default the `continue` request; null offers no "Continue"
 * @property {RerunOptions | null} [rerun] how the view reruns (the `rerun` request): by default
 *   the toolbar's "Rerun changed" and the details panel's "Rerun from here", a stored run rerun
 *   with the graph the view was given; null offers neither
 * @property {(runId: string) => void} [openRun] show another run by its id (the parent of a
 *   rerun, where a reused result was made); service and history views switch runs themselves
 * @property {(runId: string) => boolean} [canOpenRun] which runs `openRun` can show (all)
 */

/**
 * @typedef {import("./rerun.js").RerunPolicy & {toolbar?: boolean}} RerunOptions `toolbar`: offer
 *   "Rerun changed" in the toolbar (default true; the server's page has it in its head)
 */

/**
 * What `createView` returns: a function that removes the view, which also
 * sets its height (`setHeight(0)`: fit the graph) and reruns the run shown
 * (`rerun(null)`: what changed, as "Rerun changed" does; `rerunBlock()`
 * says why it cannot now, "" when it can).
 *
 * @typedef {(() => void) & {setHeight: (height: number) => void, rerun: (nodes: string[] | null) => Promise<{runId: string, parentRun: string} | null>, rerunBlock: () => string}} ViewHandle
 */

const HISTORY = 1000;

/**
 * Build the view inside `el`.
 *
 * @param {HTMLElement} el
 * @param {Channel} channel
 * @param {ViewOptions} [options]
 * @returns {ViewHandle} removes the view and everything it listens to; `.setHeight(px)`
 */
export function createView(el, channel, options = {}) {
  const store = options.store ?? createStore(channel);
  const ownStore = !options.store;
  const service = store.mode === "service";
  const history = store.mode === "history";
  /** @type {(() => void)[]} the parts' cleanups, in the order they were made */
  const cleanups = [];
  let disposed = false;
  /** The view's own state: the toolbar and the summary row need refreshing; all boxes collapsed. */
  const ui = { dirty: true, collapsedAll: false };

  // -- what a view drawn anew shows again -------------------------------------
  // The timeline mode and the node whose details are open live in the channel's
  // view state (the widget's `view_state`): JupyterLab draws an output anew
  // when its display is updated (a run's end), and the new view takes them up.
  const kept = channel.viewState;
  /** @type {import("./store.js").ViewState} */
  let viewState = { ...(kept?.get() ?? {}) };
  /** the kept details wait for the run's state to open */
  let restoring = typeof viewState.details === "string";
  /** @param {import("./store.js").ViewState} patch */
  function keep(patch) {
    if (!kept || (restoring && "details" in patch)) return;
    const next = { ...viewState, ...patch };
    if (next.details === undefined) delete next.details;
    if (next.timeline === viewState.timeline && next.details === viewState.details) return;
    viewState = next;
    kept.set(viewState);
  }

  // -- the skeleton -----------------------------------------------------------
  const root = /** @type {HTMLDivElement & {taskbeam?: TestHook}} */ (h("div", "taskbeam-view"));
  root.dataset.seq = "";
  root.dataset.runStatus = "";
  const rerunOptions = options.rerun === null ? null : (options.rerun ?? {});
  // The parent of a rerun: a view that chooses its runs switches to it; the page opens it by id.
  /** @type {((id: string) => void) | undefined} */
  const openRun = history || service ? (id) => store.switchRun(id) : options.openRun;
  const toolbar = new Toolbar(
    {
      control: (kind) => controls.control(kind),
      search: (query, step) => finder.search(query, step),
      fit: () => (timelineOn ? timeline?.fit() : stage.fit()),
      timeline: () => setTimeline(!timelineOn),
      groups: (collapse) => {
        stage.setAllCollapsed(collapse);
        ui.collapsedAll = collapse;
      },
      legend: (status) => finder.nextWithStatus(status),
      legendClass: (cls) => finder.nextWithClass(cls),
      run: (id) => {
        if (id) store.switchRun(id);
      },
      back: () => store.switchRun(""),
      continueRun: () => controls.continueRun(),
      rerun: () => controls.rerun(null),
      openRun,
    },
    {
      service,
      history,
      canContinue: options.continueRun !== null,
      rerunChanged: rerunOptions !== null && rerunOptions.toolbar !== false,
      openRuns: service ? "listed" : history ? "any" : (options.canOpenRun ?? "any"),
    },
  );
  const body = h("div", "tb-body");
  const stageEl = h("div", "tb-stage");
  const empty = h("div", "tb-empty", "Waiting for the run…");
  const tooltip = h("div", "tb-tooltip");
  tooltip.hidden = true;
  const caption = h(
    "div",
    "tb-caption",
    "Overview: one cell per node, layers from left to right. Zoom in to pick a node, or collapse sub-graphs to see the graph.",
  );
  caption.hidden = true;
  const notices = createNotices();
  cleanups.push(notices.cleanup);
  /** @type {() => "list" | "run"} */
  const page = () => pages.page();
  const height = createHeight({
    root,
    body,
    // An open questions panel may need more room than the graph (within the fit's bounds).
    contentHeight: (chrome, width) =>
      timelineOn && timeline
        ? Math.min(AUTO_MAX, Math.max(stage.contentHeight(chrome, width), chrome + timeline.contentHeight()))
        : Math.max(stage.contentHeight(chrome, width), Math.min(AUTO_MAX, chrome + questions.contentHeight())),
    page,
    height: options.height,
    onResize: options.onResize,
  });
  cleanups.push(height.cleanup);
  const detailsEl = h("aside", "tb-details");
  detailsEl.setAttribute("aria-label", "Node details");
  stageEl.append(empty, caption, tooltip);
  const questions = createQuestions({
    store,
    notices,
    focus: (id) => {
      stage.select(id);
      stage.bringIntoView(id);
    },
    details: (id) => select(id, true),
    detailsOpen: () => !detailsEl.hidden,
    resized: () => height.fit(),
  });
  cleanups.push(questions.cleanup);
  toolbar.bar.insertBefore(questions.badge, toolbar.stats);
  body.append(stageEl, questions.el, detailsEl);
  root.append(toolbar.bar, toolbar.summary, notices.el, body, height.handle);
  el.append(root);

  // -- the parts --------------------------------------------------------------
  const pages = createPages({
    store,
    root,
    interval: options.runsInterval ?? 3000,
    onSlow: () => {
      ui.dirty = true;
      stage.schedule();
    },
  });
  if (pages.list) root.insertBefore(pages.list.el, notices.el.nextSibling);
  cleanups.push(pages.cleanup);
  function showPage() {
    pages.show();
    if (pages.list) height.apply();
  }

  // The colours: each status's, then each difference class's (a comparison's).
  const theme = watchTheme(root, [...toolbar.items, ...toolbar.compareItems], (t) => {
    stage.setTheme(t);
    timeline?.setTheme(t);
  });
  /** @type {{seq: number | null, t: number}[]} */
  const paints = [];
  /** @type {number[]} */
  const frameTimes = [];

  const stage = new Stage(stageEl, theme.theme, {
    overviewThreshold: options.overviewThreshold,
    clock: () => clock.nodeClock(),
    // The summary row says when only part of the graph is in view.
    onCamera: () => {
      ui.dirty = true;
    },
    onLayout: () => height.fit(),
    beforeDraw: () => {
      if (ui.dirty) refreshDom();
    },
    afterDraw: (ms) => {
      paints.push({ seq: store.client.seq, t: performance.timeOrigin + performance.now() });
      frameTimes.push(ms);
      if (paints.length > HISTORY) paints.shift();
      if (frameTimes.length > HISTORY) frameTimes.shift();
    },
  });

  // -- the timeline mode: beside the graph, one row per node -------------------
  /** @type {ReturnType<typeof createTimeline> | null} */
  let timeline = null;
  let timelineOn = false;
  timeline = createTimeline({
    wrap: stageEl,
    theme: theme.theme,
    state: () => store.client.state,
    now: () => clock.nodeClock(),
    select: (id) => select(id, true),
    functions: () => store.request({ type: "functions" }).then((a) => /** @type {Record<string, string>} */ (a.functions ?? {})),
    notice: (text) => notices.show("error", text),
    rowsChanged: () => {
      if (timelineOn) height.fit();
    },
  });
  cleanups.push(() => timeline?.dispose());
  /** @param {boolean} on */
  function setTimeline(on) {
    if (on !== timelineOn) keep({ timeline: on });
    timelineOn = on;
    timeline?.show(on);
    stage.canvas.hidden = on;
    tooltip.hidden = true;
    toolbar.setTimeline(on);
    root.dataset.view = on ? "timeline" : "graph";
    ui.dirty = true;
    height.fit();
    if (!on) stage.schedule();
  }
  root.dataset.view = "graph";
  /** @param {KeyboardEvent} e */
  const timelineKey = (e) => {
    const key = (e.key === "t" || e.key === "T") && !e.ctrlKey && !e.metaKey && !e.altKey;
    if (key && e.target instanceof HTMLCanvasElement && root.dataset.compare !== "true") {
      e.preventDefault();
      setTimeline(!timelineOn);
      (timelineOn ? timeline?.canvas : stage.canvas)?.focus();
    }
  };
  root.addEventListener("keydown", timelineKey);
  cleanups.push(() => root.removeEventListener("keydown", timelineKey));

  const selection = createSelection({
    el: detailsEl,
    store,
    stage,
    notices,
    nodeClock: () => clock.nodeClock(),
    focus: (id) => focusNode(id, true),
    seen: (id, chars) => {
      if (stage.marks.see(id, chars)) stage.schedule(); // its output mark goes
    },
    selected: (id) => keep({ details: id ?? undefined }),
    rerun: rerunOptions ? { from: (id) => controls.rerun([id]), block: () => controls.rerunBlock() } : undefined,
    canOpen: (id) => toolbar.canOpen(id),
    openRun,
  });
  /**
   * Select a node: a waiting one opens its question (unless `details`), any other its
   * details; the questions panel and the details take turns beside the canvas.
   *
   * @param {string | null} id
   * @param {boolean} [details]
   */
  function select(id, details = false) {
    if (id !== null && !details && questions.openNode(id)) {
      selection.select(null);
      stage.select(id);
      return;
    }
    if (id !== null) questions.close();
    selection.select(id);
    timeline?.selected(id);
  }

  /**
   * Centre `id` (and select it): the details panel opens first, so the
   * canvas has its final size when the node is centred.
   *
   * @param {string} id
   * @param {boolean} andSelect
   */
  function focusNode(id, andSelect) {
    if (andSelect) select(id);
    stage.resize();
    stage.bringIntoView(id, { always: true });
  }

  // -- store ------------------------------------------------------------------
  /** @type {string | null} */
  let lastRun = null;
  cleanups.push(
    store.subscribe((change) => {
      const state = store.client.state;
      root.dataset.seq = store.client.seq === null ? "" : String(store.client.seq);
      root.dataset.runStatus = state?.run.status ?? "";
      markCompare();
      if (change.reset) {
        showPage();
        stage.reset();
        ui.collapsedAll = false;
        clock.reset();
        select(null);
        if (state && lastRun !== state.run.id) {
          // Another run now (a switch in service mode): the last one's notices are stale.
          lastRun = state.run.id;
          notices.hideStale();
        }
      }
      stage.update(state, change);
      if (change.reset) timeline?.reset();
      timeline?.changed();
      ui.dirty = true;
      if (state) notices.settle(state.run.status);
      selection.changed(change);
      questions.changed(change);
      if (restoring && state) restoreDetails();
      if (reselect && state) reopen();
      for (const event of change.events) onEvent(/** @type {Record<string, any>} */ (event));
    }),
  );
  cleanups.push(store.onNotice((n) => notices.show(n.level, n.text)));

  /** @param {Record<string, any>} event */
  function onEvent(event) {
    if (event.kind === "error") notices.show("error", `${event.node_id} failed: ${event.type}: ${event.message}`);
    else if (event.kind === "run") notices.show(event.status === "done" ? "info" : "error", `Run ${event.status}`);
  }

  /** The toolbar, the summary row and the canvas's captions, in the frame that draws. */
  function refreshDom() {
    ui.dirty = false;
    const state = store.client.state;
    const counts = state ? displayedCounts(state) : {};
    toolbar.update(state, counts, rerunOptions ? controls.rerunBlock() : "");
    const l = stage.layout;
    toolbar.setMode(stage.mode, l ? l.visible : 0, stage.groups, ui.collapsedAll, stage.clipped);
    caption.hidden = stage.mode !== "overview";
    empty.hidden = !!state && Object.keys(counts).length > 0;
    if (state && !empty.hidden) empty.textContent = "No nodes yet";
    else if (!state) empty.textContent = store.runId() || !service ? "Waiting for the run…" : "Choose a run";
    if (!state && history && store.runId()) {
      empty.textContent = pages.slow()
        ? `Run ${store.runId()} did not come: it may not be in this store. ← Runs goes back to the list.`
        : "Opening the run…";
    }
    if (state) clock.sample(counts);
    clock.tick();
  }

  // Once a second: running nodes' durations move on, on the canvas and in the details.
  const clock = createClock(store, toolbar, () => {
    const counts = store.client.state?.run.counts;
    if (counts && (counts.running ?? 0) + (counts.waiting ?? 0) > 0 && !store.client.state?.run.stored) {
      stage.schedule();
      timeline?.schedule();
    }
    selection.everySecond();
  });
  cleanups.push(clock.cleanup);

  /** @type {{run: string, node: string} | null} after "Rerun from here": the node to show in the new run */
  let reselect = null;
  const controls = createControls({
    store,
    toolbar,
    notices,
    continueRun: options.continueRun,
    follows: history || service,
    rerun: rerunOptions ?? undefined,
    changed: () => {
      ui.dirty = true;
      stage.schedule();
      selection.refresh();
    },
    rerunning: (next, nodes) => {
      // The node rerun from keeps its details open in the new run.
      const node = nodes?.length === 1 ? nodes[0] : "";
      reselect = node && selection.selected() === node ? { run: next.runId, node } : null;
      if (reselect && store.client.state) reopen();
    },
  });

  /**
   * A comparison (its run has `compare`) is drawn by difference: `data-compare` on the root
   * (its CSS: a wider details panel), and no timeline (its times are two runs').
   */
  function markCompare() {
    const on = runCompare(store.client.state?.run) !== null;
    if (on === (root.dataset.compare === "true")) return;
    if (on) root.dataset.compare = "true";
    else delete root.dataset.compare;
    if (on && timelineOn) setTimeline(false);
  }

  /** The new run of a rerun has come: open the details of the node it was rerun from. */
  function reopen() {
    const want = reselect;
    const state = store.client.state;
    if (!want || !state || state.run.id !== want.run) return;
    reselect = null;
    if (state.nodes[want.node]) select(want.node, true);
  }
  const finder = createSearch({
    stage,
    toolbar,
    notices,
    nodes: () => store.client.state?.nodes,
    focus: focusNode,
  });

  cleanups.push(
    bindView({
      stage,
      tooltip,
      node: (id) => store.client.state?.nodes[id],
      nodeClock: () => clock.nodeClock(),
      select,
      toggled: () => {
        ui.collapsedAll = false;
        ui.dirty = true;
      },
      searchKey: () => toolbar.search.focus(),
    }),
  );

  // -- size and theme ---------------------------------------------------------
  height.observe(stageEl, () => {
    theme.connected();
    stage.resize();
  });
  // A notice line or a toolbar that wraps takes height from the body: fit again.
  if (typeof ResizeObserver !== "undefined") {
    let last = "";
    const chrome = new ResizeObserver(() => {
      const now = `${notices.el.offsetHeight},${toolbar.bar.offsetHeight},${toolbar.summary.offsetHeight}`;
      if (now !== last) {
        last = now;
        height.fit();
      }
    });
    for (const part of [notices.el, toolbar.bar, toolbar.summary]) chrome.observe(part);
    cleanups.push(() => chrome.disconnect());
  }
  cleanups.push(theme.cleanup);

  // -- service mode: the run list ---------------------------------------------
  if (service) cleanups.push(watchRuns({ store, toolbar, notices, root, interval: options.runsInterval ?? 2000 }));

  root.taskbeam = createTestHook({
    store,
    stage,
    root,
    pages,
    paints,
    frameTimes,
    select,
    focus: (id) => focusNode(id, true),
    timeline: timeline.hook,
    setTimeline,
  });

  /** Open the kept node's details once the run's state is there (if the node is in it). */
  function restoreDetails() {
    const id = viewState.details;
    restoring = false;
    if (id && store.client.state?.nodes[id]) select(id, true);
    else keep({ details: undefined });
  }

  // -- start ------------------------------------------------------------------
  if (viewState.timeline) setTimeline(true);
  if (store.client.state) {
    stage.update(store.client.state, { structural: true, nodes: null });
    timeline?.changed();
    if (timelineOn) height.fit();
  } else store.ensureState();
  if (restoring && store.client.state) restoreDetails();
  root.dataset.seq = store.client.seq === null ? "" : String(store.client.seq);
  root.dataset.runStatus = store.client.state?.run.status ?? "";
  markCompare();
  showPage();
  stage.schedule();

  const remove = () => {
    if (disposed) return;
    disposed = true;
    selection.cleanup();
    for (const fn of cleanups) fn();
    stage.dispose();
    delete root.taskbeam;
    root.remove();
    if (ownStore) store.dispose();
  };
  return Object.assign(remove, {
    setHeight: height.set,
    rerun: (/** @type {string[] | null} */ nodes) => controls.rerun(nodes),
    rerunBlock: () => (rerunOptions ? controls.rerunBlock() : "This view does not rerun"),
  });
}
