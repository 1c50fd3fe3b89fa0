/**
 * The view's notices: one row between the summary and the canvas (errors,
 * what a button did), so a notice never covers a node; the ✕ closes it.
 *
 * A notice goes after its time (8 s for an error, 4 s otherwise, unless
 * told). A control's "… requested" (`expect`) goes as soon as the run
 * shows it took effect (`settle`): paused, running again, ended.
 *
 * Runs on the main thread, from the view's handlers; after `cleanup` it
 * shows nothing more.
 *
 * @module
 */

import { h } from "./details.js";
import { controlSettled } from "./status.js";

/** @typedef {"pause" | "resume" | "cancel"} Control */

/**
 * @typedef {object} Notices
 * @property {HTMLDivElement} el the row
 * @property {(level: "error" | "info", text: string, ms?: number) => void} show
 * @property {() => void} hide close the notice (and forget the control waited for)
 * @property {() => void} hideStale hide the row, as for another run's notice
 * @property {(kind: Control) => void} expect the notice shown is this control's "requested"
 * @property {(status: string) => void} settle the run's status now: hide the control's notice if it took effect
 * @property {() => void} cleanup
 */

/** @returns {Notices} */
export function createNotices() {
  const el = h("div", "tb-statusline");
  el.hidden = true;
  el.setAttribute("role", "status");
  const text = h("span", "tb-statusline-text");
  const close = h("button", "tb-statusline-close", "✕");
  close.type = "button";
  close.title = "Dismiss";
  close.setAttribute("aria-label", "Dismiss notice");
  close.addEventListener("click", () => hide());
  el.append(text, close);

  let closed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @type {Control | null} the control whose "requested" is shown */
  let pending = null;

  /**
   * @param {"error" | "info"} level
   * @param {string} message
   */
  function show(level, message, ms = level === "error" ? 8000 : 4000) {
    if (closed) return;
    pending = null;
    text.textContent = message;
    el.title = message;
    el.classList.toggle("tb-error", level === "error");
    el.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(hide, ms);
  }
  function hide() {
    clearTimeout(timer);
    el.hidden = true;
    pending = null;
  }
  return {
    el,
    show,
    hide,
    hideStale: () => {
      el.hidden = true;
    },
    expect: (kind) => {
      pending = kind;
    },
    settle: (status) => {
      if (pending && controlSettled(pending, status)) hide();
    },
    cleanup: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
