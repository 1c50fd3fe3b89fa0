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
 * For browser tests and benchmarks the root element (`.taskbeam-view`)
 * carries `data-seq` and `data-run-status`, and a `taskbeam` property (see
 * `TestHook`).
 *
 * @module
 */

import { readTheme } from "./colors.js";
import { DetailsPanel, h } from "./details.js";
import { formatDuration, formatRate, RateMeter } from "./format.js";
import { createHistoryList } from "./history-list.js";
import { bindCanvas } from "./interaction.js";
import { countStatuses } from "./reducer.js";
import { noteFor } from "./render.js";
import { AUTO_MIN, clampHeight } from "./size.js";
import { Stage } from "./stage.js";
import { RUN_ENDED, STATUSES, WORKED, controlSettled, statusClass } from "./status.js";
import { createStore, errorText } from "./store.js";
import { Toolbar } from "./toolbar.js";

/** @typedef {import("./store.js").Channel} Channel */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").StoreChange} StoreChange */
/** @typedef {import("./reducer.js").State} State */
/** @typedef {import("./details.js").Details} Details */

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
 */

/**
 * What browser tests and benchmarks read from `root.taskbeam`.
 *
 * @typedef {object} TestHook
 * @property {number | null} seq the last applied seq
 * @property {() => State | null} state
 * @property {() => Record<string, number>} counts status → count, as the legend shows
 * @property {(id: string) => string | null} nodeClass `tb-status-<status>`, the class whose colour the canvas uses
 * @property {() => Record<string, string>} nodeClasses
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
 * @property {() => string[]} drawnText the labels and notes drawn on the canvas in the last frame
 * @property {() => {s: number, floor: number, fit: number, clipped: boolean}} zoom the camera's scale, the automatic fit's floor, the whole graph's fit
 * @property {() => "list" | "run"} page history mode: the run list or a run; otherwise "run"
 * @property {() => import("./history.js").HistoryState | null} history history mode: the list's state
 */

/**
 * What `createView` returns: a function that removes the view, which also
 * sets its height (`setHeight(0)`: fit the graph).
 *
 * @typedef {(() => void) & {setHeight: (height: number) => void}} ViewHandle
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
  /** @type {(() => void)[]} */
  const cleanups = [];
  let disposed = false;

  const root = /** @type {HTMLDivElement & {taskbeam?: TestHook}} */ (h("div", "taskbeam-view"));
  /** the height the user or the program set; 0: fit the graph */
  let fixedHeight = options.height ? clampHeight(options.height) : 0;
  root.style.height = `${fixedHeight || AUTO_MIN}px`;
  root.dataset.height = fixedHeight ? "fixed" : "fit";
  root.dataset.seq = "";
  root.dataset.runStatus = "";

  const toolbar = new Toolbar(
    {
      control: (kind) => control(kind),
      search: (query, step) => search(query, step),
      fit: () => stage.fit(),
      groups: (collapse) => {
        stage.setAllCollapsed(collapse);
        collapsedAll = collapse;
      },
      legend: (status) => nextWithStatus(status),
      run: (id) => {
        if (id) store.switchRun(id);
      },
      back: () => store.switchRun(""),
      continueRun: () => continueRun(),
    },
    { service, history, canContinue: options.continueRun !== null },
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
  // Notices (errors, what a button did) take a row of their own above the
  // canvas, so they never cover a node; the ✕ closes one.
  const statusline = h("div", "tb-statusline");
  statusline.hidden = true;
  statusline.setAttribute("role", "status");
  const statusText = h("span", "tb-statusline-text");
  const statusClose = h("button", "tb-statusline-close", "✕");
  statusClose.type = "button";
  statusClose.title = "Dismiss";
  statusClose.setAttribute("aria-label", "Dismiss notice");
  statusClose.addEventListener("click", () => hideNotice());
  statusline.append(statusText, statusClose);
  const handle = h("div", "tb-resize");
  handle.title = "Drag to resize the view; double click to fit the graph";
  handle.setAttribute("role", "separator");
  handle.setAttribute("aria-orientation", "horizontal");
  handle.setAttribute("aria-label", "Resize the view");
  const detailsEl = h("aside", "tb-details");
  detailsEl.setAttribute("aria-label", "Node details");
  stageEl.append(empty, caption, tooltip);
  body.append(stageEl, detailsEl);
  root.append(toolbar.bar, toolbar.summary, statusline, body, handle);
  el.append(root);

  // -- history mode: the run list ---------------------------------------------
  // The list and a run take turns: run_id "" is the list, any other run id
  // that run (the live one, or the stored one, frozen).
  const list = history
    ? createHistoryList({
        fetch: (request) => store.request(request),
        open: (id) => store.switchRun(id),
        interval: options.runsInterval ?? 3000,
      })
    : null;
  if (list) {
    root.insertBefore(list.el, statusline.nextSibling);
    cleanups.push(() => list.cleanup());
  }
  /** @returns {"list" | "run"} */
  const page = () => (list && !store.runId() ? "list" : "run");
  // A run asked for that sends no snapshot within 5 s (an id the store does not have): say so.
  let slowOpen = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let openTimer;
  cleanups.push(() => clearTimeout(openTimer));
  function showPage() {
    root.dataset.page = page();
    slowOpen = false;
    clearTimeout(openTimer);
    if (list && page() === "run" && !store.client.state) {
      openTimer = setTimeout(() => {
        slowOpen = !store.client.state;
        domDirty = true;
        stage.schedule();
      }, 5000);
    }
    if (!list) return;
    if (page() === "list") {
      list.show();
      // Fitting: as high as its rows, up to LIST_HEIGHT (style.css), then it scrolls.
      root.style.height = fixedHeight ? `${fixedHeight}px` : "auto";
    } else {
      list.hide();
      if (fixedHeight) root.style.height = `${fixedHeight}px`;
      else fitToGraph();
    }
  }

  let theme = readTheme(root, toolbar.items);
  let themeConnected = root.isConnected;
  /** @type {{seq: number | null, t: number}[]} */
  const paints = [];
  /** @type {number[]} */
  const frameTimes = [];
  let domDirty = true;
  let collapsedAll = false;
  const meter = new RateMeter(10);

  const stage = new Stage(stageEl, theme, {
    overviewThreshold: options.overviewThreshold,
    clock: () => nodeClock(),
    // The summary row says when only part of the graph is in view.
    onCamera: () => {
      domDirty = true;
    },
    onLayout: () => fitToGraph(),
    beforeDraw: () => {
      if (domDirty) refreshDom();
    },
    afterDraw: (ms) => {
      paints.push({ seq: store.client.seq, t: performance.timeOrigin + performance.now() });
      frameTimes.push(ms);
      if (paints.length > HISTORY) paints.shift();
      if (frameTimes.length > HISTORY) frameTimes.shift();
    },
  });

  // -- details ----------------------------------------------------------------
  const details = new DetailsPanel(detailsEl, {
    select: (id) => focusNode(id, true),
    cancel: (id) => {
      store.request({ type: "cancel_node", node_id: id }).then(
        () => notice("info", `Cancel of ${id} requested`),
        (error) => notice("error", `cancel ${id}: ${errorText(error)}`),
      );
    },
    close: () => select(null),
  });
  /** @type {{id: string, details: Details | null, error?: string}} */
  let current = { id: "", details: null };
  let detailsToken = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let detailsTimer;

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

  /** @param {string | null} id */
  function select(id) {
    // A click or a search is the user's hand on the view: stop fitting it automatically.
    if (id !== null) stage.userMoved = true;
    stage.selected = id;
    stage.layer.invalidate();
    stage.schedule();
    clearTimeout(detailsTimer);
    if (id === null) {
      current = { id: "", details: null };
      details.hide();
      return;
    }
    if (current.id !== id) current = { id, details: null };
    renderDetails();
    fetchDetails(id);
  }

  function renderDetails() {
    if (!current.id) return;
    const state = store.client.state;
    details.show(current.id, state?.nodes[current.id], current.details, {
      runEnded: !!state && (RUN_ENDED.has(state.run.status) || !!state.run.stored),
      now: nodeClock() ?? undefined,
      error: current.error,
      statusOf: (id) => store.client.state?.nodes[id]?.status,
      labelOf: (id) => store.client.state?.nodes[id]?.label,
    });
  }

  /** @param {string} id */
  function fetchDetails(id) {
    const token = ++detailsToken;
    store.request({ type: "node_details", node_id: id }).then(
      (answer) => {
        if (token !== detailsToken || current.id !== id) return;
        current = { id, details: /** @type {Details} */ (answer.details ?? {}) };
        renderDetails();
      },
      (error) => {
        if (token !== detailsToken || current.id !== id) return;
        current = { ...current, error: errorText(error) };
        renderDetails();
      },
    );
  }

  // -- store ------------------------------------------------------------------
  /** @type {string | null} */
  let lastRun = null;
  cleanups.push(
    store.subscribe((change) => {
      const state = store.client.state;
      root.dataset.seq = store.client.seq === null ? "" : String(store.client.seq);
      root.dataset.runStatus = state?.run.status ?? "";
      if (change.reset) {
        showPage();
        stage.collapsed.clear();
        stage.userMoved = false;
        stage.whole = false;
        collapsedAll = false;
        meter.reset();
        select(null);
        if (state && lastRun !== state.run.id) {
          // Another run now (a switch in service mode): the last one's notices are stale.
          lastRun = state.run.id;
          statusline.hidden = true;
        }
      }
      stage.update(state, change);
      domDirty = true;
      if (state) settleControl(state.run.status);
      const sel = current.id;
      if (sel && (change.nodes === null || change.nodes.includes(sel))) {
        renderDetails();
        // The node moved on: its details (output, result) did too. Ask again once it has
        // been quiet for a second, so a busy node costs one request, not one per frame.
        clearTimeout(detailsTimer);
        detailsTimer = setTimeout(() => current.id === sel && fetchDetails(sel), 1000);
      }
      for (const event of change.events) onEvent(/** @type {Record<string, any>} */ (event));
    }),
  );
  cleanups.push(store.onNotice((n) => notice(n.level, n.text)));

  /** @param {Record<string, any>} event */
  function onEvent(event) {
    if (event.kind === "error") notice("error", `${event.node_id} failed: ${event.type}: ${event.message}`);
    else if (event.kind === "run") notice(event.status === "done" ? "info" : "error", `Run ${event.status}`);
  }

  function refreshDom() {
    domDirty = false;
    const state = store.client.state;
    const counts = state ? displayedCounts(state) : {};
    toolbar.update(state, counts);
    const l = stage.layout;
    toolbar.setMode(stage.mode, l ? l.visible : 0, stage.groups, collapsedAll, stage.clipped);
    caption.hidden = stage.mode !== "overview";
    empty.hidden = !!state && Object.keys(counts).length > 0;
    if (state && !empty.hidden) empty.textContent = "No nodes yet";
    else if (!state) empty.textContent = store.runId() || !service ? "Waiting for the run…" : "Choose a run";
    if (!state && history && store.runId()) {
      empty.textContent = slowOpen
        ? `Run ${store.runId()} did not come: it may not be in this store. ← Runs goes back to the list.`
        : "Opening the run…";
    }
    if (state) {
      let finished = 0;
      for (const s of WORKED) finished += counts[s] ?? 0;
      meter.add(performance.now() / 1000, finished);
    }
    tick();
  }

  /**
   * Seconds since the run started, on this browser's clock (as the toolbar's
   * elapsed time), or undefined before a snapshot.
   *
   * @returns {number | undefined}
   */
  function runClock() {
    const state = store.client.state;
    const run = state?.run;
    if (!run || !run.created) return undefined;
    if (run.stored) return frozenClock(state);
    return Math.max(0, Date.now() / 1000 - run.created);
  }

  /**
   * The clock of running nodes' durations: the run's, except for a stored
   * run, whose running nodes do not run here: they show "stopped" when the
   * run was interrupted (`null`), else "running" (`undefined`).
   *
   * @returns {number | null | undefined}
   */
  function nodeClock() {
    const run = store.client.state?.run;
    if (run?.stored) return run.status === "interrupted" ? null : undefined;
    return runClock();
  }

  /** Once a second: running nodes' durations move on, on the canvas and in the details. */
  function everySecond() {
    tick();
    const counts = store.client.state?.run.counts;
    if (counts && (counts.running ?? 0) > 0 && !store.client.state?.run.stored) stage.schedule();
    if (current.id && store.client.state?.nodes[current.id]?.status === "running") renderDetails();
  }

  /** Elapsed time and throughput (also once a second between frames). */
  function tick() {
    const state = store.client.state;
    if (!state) {
      toolbar.setTimes("–", "–");
      return;
    }
    const run = state.run;
    // A stored run that did not end stopped at its last stored moment: its clock does not go on.
    const ended = run.ended !== undefined || !!run.stored;
    const elapsed = ended ? runClock() ?? run.ended : run.created ? Math.max(0, Date.now() / 1000 - run.created) : undefined;
    let rate = meter.rate(performance.now() / 1000);
    if (ended && elapsed) {
      let finished = 0;
      const counts = displayedCounts(state);
      for (const s of WORKED) finished += counts[s] ?? 0;
      rate = finished / elapsed;
    }
    toolbar.setTimes(formatDuration(elapsed), formatRate(rate));
  }
  const ticker = setInterval(everySecond, 1000);
  cleanups.push(() => clearInterval(ticker));

  // -- status line ------------------------------------------------------------
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let noticeTimer;
  /**
   * @param {"error" | "info"} level
   * @param {string} text
   */
  function notice(level, text, ms = level === "error" ? 8000 : 4000) {
    if (disposed) return;
    controlPending = null;
    statusText.textContent = text;
    statusline.title = text;
    statusline.classList.toggle("tb-error", level === "error");
    statusline.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(hideNotice, ms);
  }
  function hideNotice() {
    clearTimeout(noticeTimer);
    statusline.hidden = true;
    controlPending = null;
  }
  cleanups.push(() => clearTimeout(noticeTimer));

  /**
   * A control's "… requested" stays until the run shows it took effect
   * (paused, running again, ended), then goes.
   *
   * @type {"pause" | "resume" | "cancel" | null}
   */
  let controlPending = null;
  /** @param {string} status the run's status now */
  function settleControl(status) {
    if (controlPending && controlSettled(controlPending, status)) hideNotice();
  }

  // -- controls ---------------------------------------------------------------
  /** @param {"pause" | "resume" | "cancel"} kind */
  function control(kind) {
    store.request({ type: kind }).then(
      () => {
        notice("info", `${kind[0].toUpperCase()}${kind.slice(1)} requested`, 30_000);
        controlPending = kind;
        const status = store.client.state?.run.status;
        if (status) settleControl(status);
      },
      (error) => notice("error", `${kind}: ${errorText(error)}`),
    );
  }

  /** A stored run's "Continue": the run goes on live, and its snapshot replaces the stored one. */
  function continueRun() {
    const go = options.continueRun ?? (() => store.request({ type: "continue" }));
    toolbar.continueButton.disabled = true;
    notice("info", "Continuing the run…", 30_000);
    go().then(
      (answer) => {
        toolbar.continueButton.disabled = false;
        notice("info", "Continued: the run goes on from its stored state");
        // The answer names the live run (the stored run's own id, as the protocol stands);
        // a view that chooses its run follows it should it ever differ.
        const id = answer && typeof answer === "object" ? /** @type {Record<string, unknown>} */ (answer).run_id : undefined;
        if (typeof id === "string" && id && id !== store.runId() && (history || service)) store.switchRun(id);
      },
      (error) => {
        toolbar.continueButton.disabled = false;
        notice("error", `continue: ${errorText(error)}`, 15_000);
      },
    );
  }

  // -- search -----------------------------------------------------------------
  let lastQuery = "";
  /** @type {string[]} */
  let matches = [];
  let matchAt = -1;
  /**
   * @param {string} query
   * @param {boolean} step
   */
  function search(query, step) {
    const q = query.trim();
    const nodes = store.client.state?.nodes ?? {};
    toolbar.search.classList.remove("tb-notfound");
    if (!q) {
      lastQuery = "";
      matches = [];
      stage.match = null;
      toolbar.setSearchCount("");
      stage.schedule();
      return;
    }
    if (q !== lastQuery) {
      lastQuery = q;
      matchAt = -1;
      const lower = q.toLowerCase();
      // By id or by label; an exact id first.
      matches = Object.keys(nodes).filter((id) => {
        if (id === q) return false;
        const label = nodes[id].label;
        return id.toLowerCase().includes(lower) || (typeof label === "string" && label.toLowerCase().includes(lower));
      });
      if (q in nodes) matches.unshift(q);
    }
    if (!matches.length) {
      toolbar.search.classList.add("tb-notfound");
      toolbar.setSearchCount("none");
      stage.match = null;
      stage.schedule();
      return;
    }
    matchAt = step || matchAt < 0 ? (matchAt + 1) % matches.length : matchAt;
    const id = matches[matchAt];
    stage.match = id;
    focusNode(id, step);
    toolbar.setSearchCount(`${matchAt + 1} / ${matches.length}`);
    stage.schedule();
  }

  /** @type {Record<string, number>} */
  const legendCursor = {};
  /** @param {string} status */
  function nextWithStatus(status) {
    const nodes = store.client.state?.nodes;
    if (!nodes) return;
    const ids = Object.keys(nodes);
    const start = legendCursor[status] ?? -1;
    for (let k = 1; k <= ids.length; k++) {
      const at = (start + k) % ids.length;
      if (nodes[ids[at]].status === status) {
        legendCursor[status] = at;
        stage.match = ids[at];
        focusNode(ids[at], true);
        return;
      }
    }
    notice("info", `No ${status} node`);
  }

  // -- canvas interaction -----------------------------------------------------
  const canvas = stage.canvas;
  cleanups.push(
    bindCanvas(stage, {
      click(hit) {
        if (!hit) select(null);
        else if (hit.part === "toggle") {
          stage.toggle(hit.id);
          collapsedAll = false;
          domDirty = true;
        } else select(hit.id);
      },
      hover: showTooltip,
      key(which) {
        if (which === "escape") select(null);
        else toolbar.search.focus();
      },
    }),
  );

  /**
   * @param {import("./stage.js").Hit | null} hit
   * @param {number} x
   * @param {number} y
   */
  function showTooltip(hit, x, y) {
    const id = hit ? hit.id : null;
    if (id !== stage.hover) {
      stage.hover = id;
      stage.schedule();
    }
    if (!hit) {
      tooltip.hidden = true;
      return;
    }
    const node = store.client.state?.nodes[hit.id];
    const status = node?.status ?? "pending";
    const note =
      hit.part === "toggle" ? (stage.collapsed.has(hit.id) ? "click to expand" : "click to collapse") : noteFor(node, nodeClock());
    const name = node?.label ? [h("b", "", node.label), h("span", "tb-tooltip-id", hit.id)] : [hit.id];
    tooltip.replaceChildren(...name, h("span", `tb-pill ${statusClass(status)}`, status), note && note !== status ? `  ${note}` : "");
    tooltip.hidden = false;
    const maxX = stage.surface.width - tooltip.offsetWidth - 8;
    tooltip.style.left = `${Math.max(4, Math.min(x + 14, maxX))}px`;
    tooltip.style.top = `${y + 18 + tooltip.offsetHeight > stage.surface.height ? y - tooltip.offsetHeight - 10 : y + 18}px`;
  }

  // -- height -----------------------------------------------------------------
  /**
   * With no height set, the view takes the height that shows its graph
   * (size.js) at the width of the whole body, so that opening the details
   * panel does not change it.
   */
  function fitToGraph() {
    if (fixedHeight || disposed || !root.isConnected || page() === "list") return;
    const rect = body.getBoundingClientRect();
    const chrome = root.getBoundingClientRect().height - rect.height;
    const want = stage.contentHeight(chrome, Math.floor(rect.width));
    if (Math.abs(want - root.getBoundingClientRect().height) >= 2) root.style.height = `${want}px`;
  }

  /** @param {number} px 0: fit the graph */
  function setHeight(px) {
    fixedHeight = px ? clampHeight(px) : 0;
    root.dataset.height = fixedHeight ? "fixed" : "fit";
    if (fixedHeight) root.style.height = `${fixedHeight}px`;
    else if (page() === "list") root.style.height = "auto";
    else fitToGraph();
  }

  /** @type {{y: number, height: number, id: number} | null} */
  let dragging = null;
  /** @param {PointerEvent} e */
  const onHandleDown = (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    dragging = { y: e.clientY, height: root.getBoundingClientRect().height, id: e.pointerId };
    handle.setPointerCapture?.(e.pointerId);
    root.classList.add("tb-resizing");
  };
  /** @param {PointerEvent} e */
  const onHandleMove = (e) => {
    if (!dragging || e.pointerId !== dragging.id) return;
    const px = clampHeight(dragging.height + e.clientY - dragging.y);
    fixedHeight = px;
    root.dataset.height = "fixed";
    root.style.height = `${px}px`;
  };
  /** @param {PointerEvent} e */
  const onHandleUp = (e) => {
    if (!dragging || e.pointerId !== dragging.id) return;
    const moved = e.clientY !== dragging.y;
    dragging = null;
    root.classList.remove("tb-resizing");
    if (moved) options.onResize?.(fixedHeight);
  };
  const onHandleDouble = () => {
    setHeight(0);
    options.onResize?.(0);
  };
  handle.addEventListener("pointerdown", onHandleDown);
  handle.addEventListener("pointermove", onHandleMove);
  handle.addEventListener("pointerup", onHandleUp);
  handle.addEventListener("pointercancel", onHandleUp);
  handle.addEventListener("dblclick", onHandleDouble);

  // -- size and theme ---------------------------------------------------------
  let lastWidth = 0;
  const resizer = new ResizeObserver(() => {
    if (!themeConnected && root.isConnected) refreshTheme();
    stage.resize();
    // A new width changes the height that fits the graph.
    const width = Math.floor(body.getBoundingClientRect().width);
    if (width !== lastWidth) {
      lastWidth = width;
      fitToGraph();
    }
  });
  resizer.observe(stageEl);
  cleanups.push(() => resizer.disconnect());

  function refreshTheme() {
    if (disposed) return;
    themeConnected = root.isConnected;
    theme = readTheme(root, toolbar.items);
    stage.setTheme(theme);
  }
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let themeTimer;
  const onThemeChange = () => {
    refreshTheme();
    // JupyterLab may finish swapping its stylesheet after the attribute flips.
    clearTimeout(themeTimer);
    themeTimer = setTimeout(refreshTheme, 300);
  };
  const themeObserver = new MutationObserver(onThemeChange);
  if (document.body) {
    themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  media?.addEventListener?.("change", onThemeChange);
  cleanups.push(() => {
    themeObserver.disconnect();
    media?.removeEventListener?.("change", onThemeChange);
    clearTimeout(themeTimer);
  });

  // -- service mode: the run list ---------------------------------------------
  if (service) {
    let asking = false;
    /** @type {{id: string, name?: string, status?: string}[]} */
    let lastRuns = [];
    const refreshRuns = () => {
      if (asking || disposed || !root.isConnected) return;
      asking = true;
      store.request({ type: "runs" }).then(
        (answer) => {
          asking = false;
          const runs = Array.isArray(answer.runs) ? answer.runs : [];
          lastRuns = runs;
          toolbar.setRuns(runs, store.runId());
          // With no run chosen yet, show the latest (as the kernel does).
          if (!store.runId() && runs.length) store.switchRun(String(runs[runs.length - 1].id));
        },
        (error) => {
          asking = false;
          notice("error", `runs: ${errorText(error)}`);
        },
      );
    };
    toolbar.setRuns([], store.runId());
    refreshRuns();
    const timer = setInterval(refreshRuns, options.runsInterval ?? 2000);
    cleanups.push(() => clearInterval(timer));
    cleanups.push(
      store.subscribe((change) => {
        if (change.reset) toolbar.setRuns(lastRuns, store.runId());
      }),
    );
  }

  // -- test hook --------------------------------------------------------------
  /** @type {TestHook} */
  const hook = {
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
      return i === undefined ? null : statusClass(STATUSES[stage.status[i]]);
    },
    nodeClasses() {
      stage.prepare();
      /** @type {Record<string, string>} */
      const out = {};
      const l = stage.layout;
      if (l) for (let i = 0; i < l.ids.length; i++) out[l.ids[i]] = statusClass(STATUSES[stage.status[i]]);
      return out;
    },
    nodeCenter(id) {
      stage.resize(); // the details panel may have just changed the canvas's size
      if (!stage.bringIntoView(id, { minHeight: 20 })) return null;
      stage.flush();
      const p = stage.clickPoint(id);
      if (!p) return null;
      const r = canvas.getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    },
    select: (id) => (id === null ? select(null) : focusNode(id, true)),
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
    page,
    history: () => (list ? list.state() : null),
  };
  root.taskbeam = hook;

  // -- start ------------------------------------------------------------------
  if (store.client.state) stage.update(store.client.state, { structural: true, nodes: null });
  else store.ensureState();
  root.dataset.seq = store.client.seq === null ? "" : String(store.client.seq);
  root.dataset.runStatus = store.client.state?.run.status ?? "";
  showPage();
  stage.schedule();

  const remove = () => {
    if (disposed) return;
    disposed = true;
    clearTimeout(detailsTimer);
    for (const fn of cleanups) fn();
    stage.dispose();
    delete root.taskbeam;
    root.remove();
    if (ownStore) store.dispose();
  };
  return Object.assign(remove, { setHeight });
}

/**
 * The counts the legend shows: the run's own (the protocol keeps every
 * status that has occurred, zeros included), or counted from the nodes.
 *
 * @param {State} state
 * @returns {Record<string, number>}
 */
export function displayedCounts(state) {
  const counts = state.run.counts;
  if (counts && typeof counts === "object" && Object.keys(counts).length) {
    /** @type {Record<string, number>} */
    const out = {};
    for (const s in counts) if (typeof counts[s] === "number") out[s] = counts[s];
    return out;
  }
  return countStatuses(state);
}

/** @type {WeakMap<State, number>} */
const frozenClocks = new WeakMap();

/**
 * A stored run's clock, stopped: its end, or else the last moment its
 * nodes show (the latest start or end), in seconds from the run's start.
 *
 * @param {State} state
 * @returns {number}
 */
export function frozenClock(state) {
  const run = state.run;
  if (typeof run.ended === "number") return run.ended;
  let last = frozenClocks.get(state);
  if (last === undefined) {
    last = 0;
    for (const id in state.nodes) {
      const n = state.nodes[id];
      if (typeof n.ended === "number" && n.ended > last) last = n.ended;
      if (typeof n.started === "number" && n.started > last) last = n.started;
    }
    frozenClocks.set(state, last);
  }
  return last;
}
