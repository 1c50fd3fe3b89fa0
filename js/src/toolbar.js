/**
 * The toolbar (run selector, run controls, search, fit) and the summary row
 * (legend with counts, progress bar, elapsed time, throughput).
 *
 * A comparison (the run's `compare`) has its own title (run a → run b) and
 * legend (the difference classes, and the reuse mark), and no controls.
 *
 * Plain DOM, updated in place: a frame changes a few text nodes and
 * attributes, never rebuilds the bar.
 *
 * @module
 */

import { CLASS_INFO, CLASSES, diffClass, legendEntries, runCompare } from "./compare.js";
import { h } from "./details.js";
import { formatCount } from "./format.js";
import { icon } from "./icons.js";
import { overBudget, runMetricsText } from "./metrics.js";
import { lineage, shortRunId } from "./rerun.js";
import { CONTINUABLE, RUN_ENDED, STATUSES, runStatusClass, statusClass } from "./status.js";

/** @typedef {import("./reducer.js").State} State */
/** @typedef {{id: string, name?: string, status?: string, project?: string}} RunEntry */

/**
 * @typedef {object} ToolbarHandlers
 * @property {(kind: "pause" | "resume" | "cancel") => void} control
 * @property {(query: string, step: boolean) => void} search `step`: Enter was pressed (go to the next match)
 * @property {() => void} fit
 * @property {(collapse: boolean) => void} groups collapse or expand every box
 * @property {(status: string) => void} legend a legend item was clicked
 * @property {(cls: string) => void} [legendClass] a comparison's legend item was clicked (a difference
 *   class, or `reused`)
 * @property {(runId: string) => void} run another run was chosen
 * @property {() => void} [back] history mode: back to the run list
 * @property {() => void} [continueRun] a stored run's "Continue" was clicked
 * @property {() => void} [timeline] the timeline button was clicked (graph ↔ timeline, `T`)
 * @property {() => void} [rerun] "Rerun changed" was clicked
 * @property {(runId: string) => void} [openRun] show another run (the parent of a rerun)
 */

/**
 * @typedef {object} ToolbarOptions
 * @property {boolean} service the run selector
 * @property {boolean} [history] "← Runs"
 * @property {boolean} [canContinue] offer "Continue" on a stored run that did not finish (default true)
 * @property {boolean} [rerunChanged] offer "Rerun changed" (default true)
 * @property {"any" | "listed" | ((runId: string) => boolean)} [openRuns] which runs `openRun`
 *   can show: any (history mode), those of the run selector (service mode), those a predicate
 *   accepts (the server's page: those its run list has); none without `openRun` (a view of
 *   one run, whose parent run is then named, not linked)
 */

const FINISHED_ORDER = ["done", "failed", "cancelled", "skipped"];

export class Toolbar {
  /**
   * @param {ToolbarHandlers} handlers
   * @param {ToolbarOptions} options
   */
  constructor(handlers, options) {
    this.handlers = handlers;
    this.canContinue = options.canContinue ?? true;
    this.openRuns = options.openRuns ?? "any";
    /** @type {Set<string>} the run selector's runs (service mode) */
    this.listed = new Set();
    this.bar = h("div", "tb-toolbar");
    this.summary = h("div", "tb-summary");

    this.back = h("button", "tb-button tb-back");
    this.back.type = "button";
    this.back.title = "Back to the list of runs";
    this.back.setAttribute("aria-label", "Back to the list of runs");
    this.back.append(h("span", "tb-back-arrow", "←"), h("span", "tb-button-text", "Runs"));
    this.back.hidden = !options.history;
    this.back.addEventListener("click", () => handlers.back?.());

    this.runs = h("select", "tb-runs");
    this.runs.title = "Run";
    this.runs.setAttribute("aria-label", "Run");
    this.runs.hidden = !options.service;
    this.runs.addEventListener("change", () => handlers.run(this.runs.value));

    this.title = h("div", "tb-title");
    this.name = h("span", "tb-title-name", "");
    this.runStatus = h("span", "tb-pill", "…");
    this.frozen = h("span", "tb-frozen", "stored");
    this.frozen.title = "A stored run, as it was saved: nothing changes until it is continued";
    this.frozen.hidden = true;
    // A comparison: "a 1a2b3c4d done → b 5e6f7a8b failed".
    this.compareRuns = h("span", "tb-compare-runs");
    this.compareRuns.hidden = true;
    this.title.append(this.name, this.runStatus, this.frozen, this.compareRuns);

    this.pause = button("pause", "Pause", "Pause the run: running nodes finish, no new ones start");
    this.resume = button("play", "Resume", "Resume the run");
    this.cancel = button("stop", "Cancel", "Cancel the run");
    this.cancel.classList.add("tb-danger");
    this.pause.addEventListener("click", () => handlers.control("pause"));
    this.resume.addEventListener("click", () => handlers.control("resume"));
    this.cancel.addEventListener("click", () => handlers.control("cancel"));
    const controls = h("div", "tb-group");
    controls.append(this.pause, this.resume, this.cancel);
    this.controls = controls;
    this.continueButton = button("play", "Continue", "Continue the run: its done nodes are not run again");
    this.continueButton.classList.add("tb-primary", "tb-continue");
    this.continueButton.hidden = true;
    this.continueButton.addEventListener("click", () => handlers.continueRun?.());
    this.rerunButton = button(
      "rerun",
      "Rerun changed",
      "A new run that runs only what changed (edited tasks, changed inputs) and reuses the rest",
    );
    this.rerunButton.classList.add("tb-rerun");
    this.offersRerun = options.rerunChanged ?? true;
    this.rerunButton.hidden = !this.offersRerun;
    this.rerunButton.disabled = true;
    this.rerunButton.addEventListener("click", () => handlers.rerun?.());

    const searchWrap = h("div", "tb-search-wrap");
    this.search = h("input", "tb-search");
    this.search.type = "search";
    this.search.placeholder = "Find node";
    this.search.title = "Find a node by id or label; Enter goes to the next match";
    this.search.setAttribute("aria-label", "Find node by id or label");
    this.search.spellcheck = false;
    this.searchCount = h("span", "tb-search-count", "");
    searchWrap.append(icon("search", "tb-search-icon"), this.search);
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let typing;
    this.search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => handlers.search(this.search.value, false), 200);
    });
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        clearTimeout(typing);
        handlers.search(this.search.value, true);
      } else if (e.key === "Escape") {
        this.search.value = "";
        handlers.search("", false);
      }
    });

    this.fit = button("fit", "", "Fit the whole graph in view (F)", "Fit");
    this.fit.addEventListener("click", () => handlers.fit());
    this.groups = button("collapse", "", "Collapse every sub-graph into its node", "Collapse all");
    this.groups.hidden = true;
    this.collapsedAll = false;
    this.groups.addEventListener("click", () => handlers.groups(!this.collapsedAll));
    this.timeline = button("timeline", "", "Show the nodes on a timeline (T); again: back to the graph", "Timeline");
    this.timeline.classList.add("tb-timeline-toggle");
    this.timeline.setAttribute("aria-pressed", "false");
    this.timeline.addEventListener("click", () => handlers.timeline?.());
    this.mode = h("span", "tb-mode", "");
    this.mode.dataset.mode = "graph";

    this.elapsed = h("span", "tb-stat tb-elapsed", "");
    this.elapsed.title = "Time since the run started";
    this.rate = h("span", "tb-stat tb-rate", "");
    this.rate.title = "Nodes finished per second (over the last 10 s while the run goes on)";
    this.metrics = h("span", "tb-stat tb-run-metrics", "");
    const stats = h("div", "tb-group tb-stats");
    stats.append(this.elapsed, this.rate, this.metrics);
    this.stats = stats;

    const view = h("div", "tb-group");
    view.append(searchWrap, this.searchCount, this.fit, this.groups, this.timeline);
    this.bar.append(
      this.back,
      this.runs,
      this.title,
      controls,
      this.continueButton,
      this.rerunButton,
      stats,
      h("div", "tb-spacer"),
      view,
    );

    // Summary row.
    this.legend = h("div", "tb-legend");
    /** @type {HTMLButtonElement[]} one per status, in STATUSES order */
    this.items = STATUSES.map((status) => {
      const item = h("button", `tb-legend-item ${statusClass(status)}`);
      item.dataset.status = status;
      item.dataset.count = "0";
      item.title = `${status}: click to go to the next ${status} node`;
      item.hidden = true;
      const count = h("span", "tb-legend-count", "0");
      item.append(h("span", "tb-swatch"), h("span", "tb-legend-label", status), count);
      item.addEventListener("click", () => handlers.legend(status));
      this.legend.append(item);
      return item;
    });
    // A comparison's legend: each difference class (its colour, its glyph) and the reuse mark.
    this.compareLegend = h("div", "tb-legend tb-compare-legend");
    this.compareLegend.hidden = true;
    this.compareLegend.setAttribute("aria-label", "What the colours and marks mean");
    /** @type {HTMLButtonElement[]} one per difference class, in CLASSES order */
    this.compareItems = CLASSES.map((cls) => {
      const info = CLASS_INFO[cls];
      const item = h("button", `tb-legend-item ${diffClass(cls)}`);
      item.type = "button";
      item.dataset.class = cls;
      item.dataset.count = "0";
      item.title = `${info.title}: click to go to the next one`;
      item.append(h("span", "tb-swatch tb-diff-swatch", info.glyph), h("span", "tb-legend-label", info.label), h("span", "tb-legend-count", "0"));
      item.addEventListener("click", () => handlers.legendClass?.(cls));
      this.compareLegend.append(item);
      return item;
    });
    this.reusedItem = h("button", "tb-legend-item tb-legend-reused");
    this.reusedItem.type = "button";
    this.reusedItem.dataset.class = "reused";
    this.reusedItem.dataset.count = "0";
    this.reusedItem.title = "Paler, dashed: run b reused this node's result (from run a or the cache) rather than made it";
    this.reusedItem.append(h("span", "tb-swatch tb-reused-swatch"), h("span", "tb-legend-label", "reused in b"), h("span", "tb-legend-count", "0"));
    this.reusedItem.addEventListener("click", () => handlers.legendClass?.("reused"));
    this.compareLegend.append(this.reusedItem);

    const progress = h("div", "tb-progress");
    this.progress = progress;
    this.progressBar = h("div", "tb-progress-bar");
    this.progressBar.setAttribute("role", "progressbar");
    this.progressBar.setAttribute("aria-label", "Finished nodes");
    /** @type {Record<string, HTMLElement>} */
    this.segments = {};
    for (const status of FINISHED_ORDER) {
      const seg = h("div", `tb-progress-seg ${statusClass(status)}`);
      seg.style.width = "0%";
      this.segments[status] = seg;
      this.progressBar.append(seg);
    }
    this.progressText = h("span", "tb-progress-text", "");
    // A rerun: "rerun of <short id>" (a link when the view can show that run) and "12 reused".
    this.lineage = h("span", "tb-lineage");
    this.lineage.hidden = true;
    progress.append(this.progressBar, this.progressText, this.lineage);
    progress.append(this.mode);
    this.summary.append(this.legend, this.compareLegend, progress);
    /** @type {Record<string, number>} */
    this.shown = {};
  }

  /**
   * Show the run's state.
   *
   * @param {State | null} state
   * @param {Record<string, number>} counts per status, as the legend shows them
   * @param {string} [rerun] why "Rerun changed" is off now ("": it is on; see `rerunBlock`)
   */
  update(state, counts, rerun = "") {
    const run = state?.run;
    const compare = runCompare(run);
    // Before the first snapshot there is nothing to count or time.
    this.summary.hidden = !state;
    this.stats.hidden = !state || !!compare;
    setText(this.name, run ? run.name || run.id : "");
    this.name.title = run ? `${run.name} (${run.id})` : "";
    const status = run?.status ?? "waiting";
    setText(this.runStatus, status);
    const cls = `tb-pill ${runStatusClass(status)}`;
    if (this.runStatus.className !== cls) this.runStatus.className = cls;
    // A stored run is frozen: no controls, but "Continue" when it did not finish.
    const stored = !!run?.stored;
    this.frozen.hidden = !stored || !!compare;
    this.controls.hidden = stored;
    this.continueButton.hidden = !(stored && !compare && this.canContinue && CONTINUABLE.has(status));
    this.continueButton.title =
      stored && !run?.continuable
        ? "Continue the run (this view was given no graph for it: the answer says how to pass one)"
        : "Continue the run: its done nodes are not run again";
    this.stats.title = stored ? "As stored: the time it ran until it stopped" : "";
    const ended = !run || RUN_ENDED.has(status) || stored;
    this.pause.disabled = ended || status === "paused";
    this.resume.disabled = ended || status !== "paused";
    this.cancel.disabled = ended;
    // The words go where the action is: an ended run's controls shrink to their icons, and
    // "Rerun changed" says its words once it can be used (the toolbar stays one row).
    this.controls.classList.toggle("tb-compact", ended);
    this.rerunButton.classList.toggle("tb-compact", !ended);
    this.rerunButton.disabled = rerun !== "";
    const rerunTitle =
      rerun || "A new run that runs only what changed since this run (edited tasks, changed inputs) and reuses the rest";
    if (this.rerunButton.title !== rerunTitle) this.rerunButton.title = rerunTitle;
    this.setLineage(run);
    this.setCompare(state, compare);
    if (compare) return;

    const metered = runMetricsText(run);
    setText(this.metrics, metered);
    this.metrics.title = metered ? `${metered}: the run's metrics, rolled up over every node` : "";
    this.metrics.hidden = !metered;
    this.metrics.classList.toggle("tb-over-budget", overBudget(run));

    this.shown = counts;
    let total = 0;
    for (const s in counts) total += counts[s];
    total = Math.max(total, run?.total ?? 0);
    for (let k = 0; k < STATUSES.length; k++) {
      const item = this.items[k];
      const n = counts[STATUSES[k]];
      const present = n !== undefined;
      if (item.hidden === present) item.hidden = !present;
      const text = String(n ?? 0);
      if (item.dataset.count !== text) {
        item.dataset.count = text;
        setText(/** @type {HTMLElement} */ (item.lastChild), formatCount(n ?? 0));
      }
    }
    let finished = 0;
    for (const s of FINISHED_ORDER) {
      const n = counts[s] ?? 0;
      finished += n;
      const width = total > 0 ? `${((100 * n) / total).toFixed(2)}%` : "0%";
      if (this.segments[s].style.width !== width) this.segments[s].style.width = width;
    }
    const pct = total > 0 ? Math.floor((100 * finished) / total) : 0;
    setText(this.progressText, total > 0 ? `${formatCount(finished)} / ${formatCount(total)} · ${pct}%` : "");
    this.progressBar.setAttribute("aria-valuenow", String(pct));
    this.progressBar.title = FINISHED_ORDER.filter((s) => counts[s]).map((s) => `${s} ${counts[s]}`).join(", ");
  }

  /**
   * A comparison's title and legend instead of a run's (or back).
   *
   * @param {State | null} state
   * @param {import("./compare.js").RunCompare | null} compare
   */
  setCompare(state, compare) {
    const on = !!compare;
    this.legend.hidden = on;
    this.progress.hidden = on;
    this.compareLegend.hidden = !on;
    this.compareRuns.hidden = !on;
    this.rerunButton.hidden = on || !this.offersRerun;
    this.timeline.hidden = on;
    if (!compare) {
      if (this.runStatus.title) this.runStatus.title = "";
      return;
    }
    setText(this.runStatus, "comparison");
    this.runStatus.className = "tb-pill tb-compare-pill";
    this.runStatus.title = "Two ended runs as one graph, coloured by what differs from run a to run b";
    const { a, b } = compare;
    const key = JSON.stringify([a.id, a.status, b.id, b.status]);
    if (this.compareRuns.dataset.key !== key) {
      this.compareRuns.dataset.key = key;
      const side = (/** @type {string} */ which, /** @type {import("./compare.js").CompareSide} */ run) => {
        const el = h("span", "tb-compare-run");
        el.title = `run ${which}: ${run.id}${run.name ? ` (${run.name})` : ""}`;
        el.append(h("b", "", which), ` ${shortRunId(run.id)} `, h("span", `tb-pill ${runStatusClass(run.status)}`, run.status ?? ""));
        return el;
      };
      this.compareRuns.replaceChildren(side("a", a), h("span", "tb-compare-arrow", "→"), side("b", b));
    }
    const legend = legendEntries(state);
    legend.classes.forEach((entry, k) => {
      const item = this.compareItems[k];
      const text = String(entry.count);
      if (item.dataset.count !== text) {
        item.dataset.count = text;
        setText(/** @type {HTMLElement} */ (item.lastChild), formatCount(entry.count));
      }
    });
    const reused = String(legend.reused);
    if (this.reusedItem.dataset.count !== reused) {
      this.reusedItem.dataset.count = reused;
      setText(/** @type {HTMLElement} */ (this.reusedItem.lastChild), formatCount(legend.reused));
    }
  }

  /**
   * @param {string} elapsed
   * @param {string} rate
   */
  setTimes(elapsed, rate) {
    setBold(this.elapsed, "", elapsed, " elapsed");
    setBold(this.rate, "", rate, " nodes/s");
  }

  /**
   * @param {"graph" | "overview"} mode
   * @param {number} nodes
   * @param {boolean} groups whether there are sub-graphs to collapse
   * @param {boolean} collapsedAll
   * @param {boolean} [clipped] only part of the graph is in view (so that its labels stay legible)
   */
  setMode(mode, nodes, groups, collapsedAll, clipped = false) {
    this.mode.dataset.mode = mode;
    const count = `${formatCount(nodes)} node${nodes === 1 ? "" : "s"}`;
    setText(this.mode, mode === "overview" ? `Overview · ${formatCount(nodes)} nodes` : clipped ? `${count} · drag to see all` : count);
    this.mode.title =
      mode === "overview"
        ? "Too many nodes to draw one by one: each cell is a node, each block a layer. Collapse sub-graphs to see the graph."
        : clipped
          ? "Part of the graph is in view, at a size where its labels can be read: drag to pan, or Fit (F) to see it all"
          : "";
    this.groups.hidden = !groups;
    if (this.collapsedAll !== collapsedAll || !this.groups.dataset.ready) {
      this.collapsedAll = collapsedAll;
      this.groups.dataset.ready = "1";
      this.groups.replaceChildren(icon(collapsedAll ? "expand" : "collapse"));
      this.groups.setAttribute("aria-label", collapsedAll ? "Expand all" : "Collapse all");
      this.groups.title = collapsedAll ? "Show every sub-graph" : "Collapse every sub-graph into its node";
    }
  }

  /** @param {boolean} on the timeline is shown (instead of the graph) */
  setTimeline(on) {
    this.timeline.setAttribute("aria-pressed", String(on));
    this.timeline.classList.toggle("tb-active", on);
    this.fit.title = on ? "Show the whole run (F)" : "Fit the whole graph in view (F)";
  }

  /**
   * @param {RunEntry[]} runs
   * @param {string} current
   */
  setRuns(runs, current) {
    const list = runs.some((r) => r.id === current) || !current ? runs : [{ id: current }, ...runs];
    const key = JSON.stringify(list.map((r) => [r.id, r.name, r.status])) + current;
    this.listed = new Set(list.map((r) => r.id));
    if (this.runs.dataset.key === key) return;
    this.runs.dataset.key = key;
    if (!current) {
      const none = h("option", "", "Choose a run…");
      none.value = "";
      this.runs.replaceChildren(none);
    } else {
      this.runs.replaceChildren();
    }
    for (const r of list) {
      const option = h("option", "", `${r.name || r.id}${r.status ? ` · ${r.status}` : ""}`);
      option.value = r.id;
      option.title = r.project ? `${r.project}: ${r.id}` : r.id;
      this.runs.append(option);
    }
    this.runs.value = current;
  }

  /**
   * Whether `openRun` can show the run `id`.
   *
   * @param {string} id
   * @returns {boolean}
   */
  canOpen(id) {
    if (!this.handlers.openRun || !id) return false;
    const which = this.openRuns;
    return which === "any" || (which === "listed" ? this.listed.has(id) : which(id));
  }

  /**
   * "rerun of <short id> · 12 reused", rebuilt only when it changes.
   *
   * @param {import("./reducer.js").RunInfo | undefined} run
   */
  setLineage(run) {
    const l = lineage(run);
    const open = !!l && this.canOpen(l.parent);
    const key = l ? JSON.stringify([l.parent, l.reusedLabel, l.title, open]) : "";
    if (this.lineage.dataset.key === key) return;
    this.lineage.dataset.key = key;
    this.lineage.hidden = !l;
    if (!l) {
      this.lineage.replaceChildren();
      return;
    }
    /** @type {(Node | string)[]} */
    const parts = [];
    if (l.parent) {
      const id = open ? h("button", "tb-lineage-run", l.short) : h("span", "tb-lineage-run", l.short);
      if (id instanceof HTMLButtonElement) {
        id.type = "button";
        id.title = `A rerun of run ${l.parent}: click to show that run`;
        id.addEventListener("click", () => this.handlers.openRun?.(l.parent));
      } else {
        id.title = `A rerun of run ${l.parent}`;
      }
      parts.push(h("span", "tb-lineage-of", "rerun of"), id);
    }
    if (l.reusedLabel) {
      const reused = h("span", "tb-lineage-reused", l.reusedLabel);
      reused.title = l.title;
      parts.push(reused);
    }
    this.lineage.replaceChildren(...parts);
  }

  /** @param {string} text */
  setSearchCount(text) {
    setText(this.searchCount, text);
  }
}

/**
 * @param {import("./icons.js").IconName} name
 * @param {string} label shown text; empty for an icon-only button
 * @param {string} title
 * @param {string} [aria] the accessible name of an icon-only button
 */
function button(name, label, title, aria) {
  const b = h("button", label ? "tb-button" : "tb-button tb-icon-only");
  b.type = "button";
  b.title = title;
  if (aria) b.setAttribute("aria-label", aria);
  b.append(icon(name));
  if (label) {
    b.append(h("span", "tb-button-text", label));
    if (!aria) b.setAttribute("aria-label", label);
  }
  return b;
}

/**
 * @param {HTMLElement} el
 * @param {string} text
 */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * `before` <b>value</b> `after`, rebuilt only when it changes.
 *
 * @param {HTMLElement} el
 * @param {string} before
 * @param {string} value
 * @param {string} after
 */
function setBold(el, before, value, after) {
  const key = before + value + after;
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  el.replaceChildren(before, h("b", "", value), after);
}
