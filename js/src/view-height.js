/**
 * The view's height: fixed (set by the program, or dragged with the handle
 * at the bottom edge) or fitting the graph (`size.js`, at the width of the
 * whole body, so opening the details panel does not change it). History
 * mode's run list is as high as its rows when nothing is fixed.
 *
 * A double click on the handle goes back to fitting; `onResize` hears of
 * every height the user chose (0: fit). A new width of the canvas resizes
 * the stage and fits the height again.
 *
 * Runs on the main thread; `cleanup` stops the observer and the handle.
 *
 * @module
 */

import { h } from "./details.js";
import { AUTO_MIN, clampHeight } from "./size.js";

/**
 * @typedef {object} Height
 * @property {HTMLDivElement} handle the resize handle, for the view to place
 * @property {() => void} fit take the height that shows the graph, unless it is fixed
 * @property {(px: number) => void} set fix the height (clamped), 0: fit the graph
 * @property {() => void} apply take the height the page shown needs (after a page switch)
 * @property {(stageEl: HTMLElement, resized: () => void) => void} observe follow the canvas's
 *   size: `resized` on each change (the stage resizes), then the height fits a new width
 * @property {() => void} cleanup
 */

/**
 * @param {object} parts
 * @param {HTMLElement} parts.root the view's root, whose height this sets
 * @param {HTMLElement} parts.body the row of the canvas and the details panel
 * @param {(chrome: number, width: number) => number} parts.contentHeight the height that shows
 *   the graph, with `chrome` pixels of rows around the canvas, at this width (`Stage.contentHeight`)
 * @param {() => "list" | "run"} parts.page the page shown
 * @param {number | undefined} parts.height the height asked for (0 or none: fit)
 * @param {((height: number) => void) | undefined} parts.onResize the user chose a height
 * @returns {Height}
 */
export function createHeight({ root, body, contentHeight, page, height, onResize }) {
  let closed = false;
  /** the height the user or the program set; 0: fit the graph */
  let fixed = height ? clampHeight(height) : 0;
  root.style.height = `${fixed || AUTO_MIN}px`;
  root.dataset.height = fixed ? "fixed" : "fit";

  const handle = h("div", "tb-resize");
  handle.title = "Drag to resize the view; double click to fit the graph";
  handle.setAttribute("role", "separator");
  handle.setAttribute("aria-orientation", "horizontal");
  handle.setAttribute("aria-label", "Resize the view");

  function fit() {
    if (fixed || closed || !root.isConnected || page() === "list") return;
    const rect = body.getBoundingClientRect();
    const chrome = root.getBoundingClientRect().height - rect.height;
    const want = contentHeight(chrome, Math.floor(rect.width));
    if (Math.abs(want - root.getBoundingClientRect().height) >= 2) root.style.height = `${want}px`;
  }

  function apply() {
    if (fixed) root.style.height = `${fixed}px`;
    // Fitting: as high as its rows, up to LIST_HEIGHT (style.css), then it scrolls.
    else if (page() === "list") root.style.height = "auto";
    else fit();
  }

  /** @param {number} px */
  function set(px) {
    fixed = px ? clampHeight(px) : 0;
    root.dataset.height = fixed ? "fixed" : "fit";
    apply();
  }

  /** @type {{y: number, height: number, id: number} | null} */
  let dragging = null;
  /** @param {PointerEvent} e */
  const onDown = (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    dragging = { y: e.clientY, height: root.getBoundingClientRect().height, id: e.pointerId };
    handle.setPointerCapture?.(e.pointerId);
    root.classList.add("tb-resizing");
  };
  /** @param {PointerEvent} e */
  const onMove = (e) => {
    if (!dragging || e.pointerId !== dragging.id) return;
    const px = clampHeight(dragging.height + e.clientY - dragging.y);
    fixed = px;
    root.dataset.height = "fixed";
    root.style.height = `${px}px`;
  };
  /** @param {PointerEvent} e */
  const onUp = (e) => {
    if (!dragging || e.pointerId !== dragging.id) return;
    const moved = e.clientY !== dragging.y;
    dragging = null;
    root.classList.remove("tb-resizing");
    if (moved) onResize?.(fixed);
  };
  const onDouble = () => {
    set(0);
    onResize?.(0);
  };
  handle.addEventListener("pointerdown", onDown);
  handle.addEventListener("pointermove", onMove);
  handle.addEventListener("pointerup", onUp);
  handle.addEventListener("pointercancel", onUp);
  handle.addEventListener("dblclick", onDouble);

  /** @type {ResizeObserver | null} */
  let resizer = null;
  return {
    handle,
    fit,
    set,
    apply,
    observe(stageEl, resized) {
      let lastWidth = 0;
      resizer = new ResizeObserver(() => {
        resized();
        // A new width changes the height that fits the graph.
        const width = Math.floor(body.getBoundingClientRect().width);
        if (width !== lastWidth) {
          lastWidth = width;
          fit();
        }
      });
      resizer.observe(stageEl);
    },
    cleanup: () => {
      closed = true;
      resizer?.disconnect();
      handle.removeEventListener("pointerdown", onDown);
      handle.removeEventListener("pointermove", onMove);
      handle.removeEventListener("pointerup", onUp);
      handle.removeEventListener("pointercancel", onUp);
      handle.removeEventListener("dblclick", onDouble);
    },
  };
}
