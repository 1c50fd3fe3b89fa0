/**
 * The details panel of the selected node.
 *
 * It shows what the state already knows at once (status, attempt, times,
 * preview, error), then what a `node_details` request brings (dependencies,
 * children, the longer result, captured output, the traceback). All text
 * goes in through `textContent`: results and output are arbitrary strings.
 *
 * @module
 */

import { errorNote, formatDuration } from "./format.js";
import { metricRows } from "./metrics.js";
import { cachedOf, reusedText } from "./rerun.js";
import { icon } from "./icons.js";
import { FINISHED, statusClass } from "./status.js";

/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * What a `node_details` answer holds (the summary plus more).
 *
 * @typedef {NodeSummary & {id?: string, deps?: string[], function?: string, result?: string, output?: string, output_from?: number, children?: string[]}} Details
 */

/**
 * @typedef {object} DetailsHandlers
 * @property {(id: string) => void} select show another node
 * @property {(id: string) => void} cancel cancel this node
 * @property {(id: string) => void} [rerun] rerun the run from this node ("Rerun from here")
 * @property {(runId: string) => void} [openRun] show another run (where a reused result was made)
 * @property {() => void} close
 */

/** At most this many dependency or child links; the rest are counted. */
const MAX_LINKS = 200;

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

export class DetailsPanel {
  /**
   * @param {HTMLElement} container the panel element (hidden until a node is shown)
   * @param {DetailsHandlers} handlers
   */
  constructor(container, handlers) {
    this.el = container;
    this.handlers = handlers;
    /** @type {string | null} */
    this.id = null;
    this.el.hidden = true;
  }

  /**
   * Show `id` with what is known now; `details` is the request's answer, if
   * it has come, `error` the text of a failed request.
   *
   * @param {string} id
   * @param {NodeSummary | undefined} summary from the state
   * @param {Details | null} details
   * @param {{runEnded: boolean, error?: string, now?: number, output?: string, statusOf: (id: string) => string | undefined, labelOf?: (id: string) => string | undefined, units?: Record<string, string>, rerun?: string | null, canOpen?: (runId: string) => boolean}} context
 *   `now`: seconds since the run started (how long a running node has run); `output`: the
 *   node's output as followed live (instead of the answer's); `rerun`: "" offers "Rerun from
 *   here", a text offers it disabled (the text says why), null or none leaves it out;
 *   `canOpen`: whether `openRun` can show a run (a reused result's run is then a link)
   */
  show(id, summary, details, context) {
    const same = this.id === id;
    const scroll = same ? this.el.scrollTop : 0;
    // The output box tails: at its bottom (or new), it stays at the bottom as text comes.
    const old = same ? /** @type {HTMLElement | null} */ (this.el.querySelector(".tb-output")) : null;
    const outputScroll = old && old.scrollTop + old.clientHeight < old.scrollHeight - 4 ? old.scrollTop : -1;
    this.id = id;
    const node = { ...(details ?? {}), ...(summary ?? {}) };
    // The state is fresher for the summary fields; details adds the rest.
    if (details?.error && summary?.error) node.error = { ...details.error, ...summary.error };
    const el = this.el;
    el.replaceChildren();
    el.hidden = false;

    const status = node.status ?? (summary ? "pending" : "unknown");
    /** @type {HTMLElement[]} */
    const subs = [h("span", `tb-pill ${statusClass(status)}`, status)];
    if (node.tags?.length) subs.push(h("span", "tb-muted", node.tags.join(", ")));
    const head = this.head(id, node, subs);

    const body = h("div", "tb-details-body");
    if (!summary && !details) body.append(h("div", "tb-muted", "This node is not in the run."));
    const cached = cachedOf(node);
    if (cached) body.append(this.reused(cached, context.canOpen));

    const facts = h("dl", "tb-facts");
    /** @param {string} k @param {string} v */
    const fact = (k, v) => facts.append(h("dt", "", k), h("dd", "", v));
    if (cached) {
      // Not run here: when its result was taken is all this run knows of its time.
      if (node.ended !== undefined) fact("Taken", `${formatDuration(node.ended)} after start`);
    } else {
      if (node.attempt !== undefined) fact("Attempt", String(node.attempt));
      if (node.started !== undefined) fact("Started", `${formatDuration(node.started)} after start`);
      if (node.ended !== undefined) fact("Ended", `${formatDuration(node.ended)} after start`);
      if (node.started !== undefined && node.ended !== undefined) fact("Took", formatDuration(node.ended - node.started));
      else if (status === "running" && node.started !== undefined && context.now !== undefined) {
        fact("Running for", formatDuration(Math.max(0, context.now - node.started)));
      }
    }
    if (facts.childElementCount) body.append(section("Timing", facts));
    if (details?.function) body.append(section("Function", h("code", "tb-function", details.function)));
    const metered = metricRows(node, context.units);
    if (metered.length) {
      const list = h("dl", "tb-facts tb-metrics");
      for (const [k, v] of metered) list.append(h("dt", "", k), h("dd", "", v));
      body.append(section("Progress and metrics", list));
    }

    if (node.error) {
      const text = `${node.error.type}: ${node.error.message}`;
      const box = h("div");
      const note = errorNote(node.error);
      if (note.startsWith("timed out")) box.append(h("div", "tb-error-note", note[0].toUpperCase() + note.slice(1)));
      box.append(pre(text, true));
      if (node.error.traceback) {
        const tb = pre(node.error.traceback, true);
        tb.style.marginTop = "4px";
        box.append(tb);
      }
      body.append(section(status === "retrying" ? "Last error" : "Error", box));
    }

    const result = details?.result ?? node.preview;
    if (result !== undefined) body.append(section("Result", pre(result)));
    const output = context.output ?? details?.output;
    /** @type {HTMLElement | null} */
    let outputBox = null;
    if (output) {
      outputBox = pre(output);
      outputBox.classList.add("tb-output");
      body.append(section("Output", outputBox));
    }

    if (node.parent) body.append(section("Inside", this.links([node.parent], context.statusOf, context.labelOf)));
    if (details?.deps) {
      body.append(
        section(`Depends on (${details.deps.length})`, details.deps.length ? this.links(details.deps, context.statusOf, context.labelOf) : h("span", "tb-muted", "nothing")),
      );
    }
    if (details?.children?.length) {
      body.append(section(`Children (${details.children.length})`, this.links(details.children, context.statusOf, context.labelOf)));
    }
    if (!details && !context.error && summary) body.append(h("div", "tb-section tb-muted", "Loading details…"));
    if (context.error) body.append(h("div", "tb-section tb-muted", `Details unavailable: ${context.error}`));

    const actions = h("div", "tb-details-actions");
    if (typeof context.rerun === "string" && this.handlers.rerun) {
      const rerun = h("button", "tb-button tb-rerun-node");
      rerun.type = "button";
      rerun.append(icon("rerun"), h("span", "", "Rerun from here"));
      rerun.disabled = !summary || context.rerun !== "";
      rerun.title = !summary
        ? "This node is not in the run"
        : context.rerun ||
          "A new run that runs this node again, and what its new result changes; everything else is reused from this run";
      rerun.addEventListener("click", () => {
        rerun.disabled = true;
        this.handlers.rerun?.(id);
      });
      actions.append(rerun);
    }
    const cancel = h("button", "tb-button tb-danger tb-cancel-node", "Cancel node");
    cancel.disabled = !summary || FINISHED.has(status) || context.runEnded;
    cancel.title = cancel.disabled ? "This node has finished" : "Stops this node (and its children); what depends on it is skipped";
    cancel.addEventListener("click", () => {
      cancel.disabled = true;
      this.handlers.cancel(id);
    });
    actions.append(cancel);
    body.append(actions);

    el.append(head, body);
    el.scrollTop = scroll;
    if (outputBox) outputBox.scrollTop = outputScroll >= 0 ? outputScroll : outputBox.scrollHeight;
  }

  /**
   * Show `id` with a body made elsewhere (a comparison's, see compare-details.js),
   * under the same head: the node's name, `subs` under it, the close button.
   *
   * @param {string} id
   * @param {NodeSummary | undefined} summary
   * @param {HTMLElement[]} subs
   * @param {HTMLElement} body
   */
  showBody(id, summary, subs, body) {
    const scroll = this.id === id ? this.el.scrollTop : 0;
    this.id = id;
    this.el.replaceChildren(this.head(id, summary ?? {}, subs), body);
    this.el.hidden = false;
    this.el.scrollTop = scroll;
  }

  /**
   * The panel's head: the label (and id) or the id, `subs` under it, the close button.
   *
   * @param {string} id
   * @param {{label?: string}} node
   * @param {HTMLElement[]} subs
   * @returns {HTMLElement}
   */
  head(id, node, subs) {
    const head = h("div", "tb-details-head");
    const title = h("div", "tb-details-title");
    if (node.label) {
      title.append(h("div", "tb-details-label", node.label));
      title.append(h("div", "tb-details-id tb-details-id-small", id));
    } else {
      title.append(h("div", "tb-details-id", id));
    }
    const sub = h("div", "tb-details-sub");
    sub.append(...subs);
    title.append(sub);
    const close = h("button", "tb-button tb-icon-only", "✕");
    close.title = "Close";
    close.setAttribute("aria-label", "Close details");
    close.addEventListener("click", () => this.handlers.close());
    head.append(title, close);
    return head;
  }

  /**
   * "Reused from run R (node N)": the run a link when it can be shown.
   *
   * @param {import("./rerun.js").Cached} cached
   * @param {((runId: string) => boolean) | undefined} canOpen
   */
  reused(cached, canOpen) {
    const line = h("div", "tb-section tb-reused");
    line.title = `${reusedText(cached)}: this node's result was taken from there, not made again in this run`;
    line.append(icon("rerun", "tb-reused-mark"));
    if (this.handlers.openRun && canOpen?.(cached.run)) {
      const link = h("button", "tb-link tb-reused-run", cached.run);
      link.type = "button";
      link.title = `Show run ${cached.run}`;
      link.addEventListener("click", () => this.handlers.openRun?.(cached.run));
      line.append(h("span", "", "Reused from run "), link, h("span", "", ` (node ${cached.node})`));
    } else {
      line.append(h("span", "", reusedText(cached)));
    }
    return line;
  }

  hide() {
    this.id = null;
    this.el.hidden = true;
    this.el.replaceChildren();
  }

  /**
   * @param {string[]} ids
   * @param {(id: string) => string | undefined} statusOf
   * @param {(id: string) => string | undefined} [labelOf] a linked node's label, shown instead of its id
   */
  links(ids, statusOf, labelOf) {
    const box = h("div", "tb-links");
    for (const id of ids.slice(0, MAX_LINKS)) {
      const label = labelOf?.(id);
      const link = h("button", `tb-link ${statusClass(statusOf(id))}${label ? " tb-link-label" : ""}`, label || id);
      link.title = `${label ? `${label}: ` : ""}${id} (${statusOf(id) ?? "unknown"})`;
      link.addEventListener("click", () => this.handlers.select(id));
      box.append(link);
    }
    if (ids.length > MAX_LINKS) box.append(h("span", "tb-muted", `… and ${ids.length - MAX_LINKS} more`));
    return box;
  }
}

/**
 * @param {string} title
 * @param {HTMLElement} content
 */
function section(title, content) {
  const el = h("div", "tb-section");
  el.append(h("div", "tb-section-title", title), content);
  return el;
}

/**
 * @param {string} text
 * @param {boolean} [error]
 */
function pre(text, error = false) {
  return h("pre", error ? "tb-pre tb-error-text" : "tb-pre", text);
}
