/**
 * The view's colours: read from CSS once the view is in the page, and again
 * when JupyterLab switches theme (`data-jp-theme-light` or
 * `data-jp-theme-name` on `document.body`) or the system colour scheme
 * changes.
 *
 * Runs on the main thread; `cleanup` stops watching.
 *
 * @module
 */

import { readTheme } from "./colors.js";

/** @typedef {import("./colors.js").Theme} Theme */

/**
 * @typedef {object} ThemeWatch
 * @property {Theme} theme the colours as first read (the stage starts with them)
 * @property {() => void} connected the view may just have come into the page: read the
 *   colours if they were read while it was not
 * @property {() => void} cleanup
 */

/**
 * @param {HTMLElement} root the view's root: its CSS variables
 * @param {ReadonlyArray<Element>} items the legend's items, in `STATUSES` order: each status's colour
 * @param {(theme: Theme) => void} onTheme the colours were read again
 * @returns {ThemeWatch}
 */
export function watchTheme(root, items, onTheme) {
  let closed = false;
  let wasConnected = root.isConnected;
  const theme = readTheme(root, items);

  function refresh() {
    if (closed) return;
    wasConnected = root.isConnected;
    onTheme(readTheme(root, items));
  }
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const onChange = () => {
    refresh();
    // JupyterLab may finish swapping its stylesheet after the attribute flips.
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  };
  const observer = new MutationObserver(onChange);
  if (document.body) {
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }
  const media = window.matchMedia?.("(prefers-color-scheme: dark)");
  media?.addEventListener?.("change", onChange);

  return {
    theme,
    connected: () => {
      if (!wasConnected && root.isConnected) refresh();
    },
    cleanup: () => {
      closed = true;
      observer.disconnect();
      media?.removeEventListener?.("change", onChange);
      clearTimeout(timer);
    },
  };
}
