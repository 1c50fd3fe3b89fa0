/**
 * Mouse, wheel and keyboard on the canvas.
 *
 * Wheel zooms around the pointer, a drag pans, a press and release that
 * moved less than a few pixels is a click (so a pan never selects), a
 * double click fits (or opens a collapsed node). What a click or a hover
 * means is the view's business: this module only reports what is under
 * the pointer.
 *
 * @module
 */

/** @typedef {import("./stage.js").Stage} Stage */
/** @typedef {import("./stage.js").Hit} Hit */

/**
 * @typedef {object} CanvasHandlers
 * @property {(hit: Hit | null) => void} click
 * @property {(hit: Hit | null, x: number, y: number) => void} hover `x`, `y`: canvas pixels
 * @property {(key: "escape" | "search") => void} key
 */

/** Pixels a press may move and still be a click. */
const CLICK_SLOP = 4;
const WHEEL_SPEED = 0.0018;

/**
 * @param {Stage} stage
 * @param {CanvasHandlers} handlers
 * @returns {() => void} removes the listeners
 */
export function bindCanvas(stage, handlers) {
  const canvas = stage.canvas;
  /** @type {{x: number, y: number, tx: number, ty: number, moved: boolean, id: number} | null} */
  let drag = null;
  let closed = false;
  /** @param {MouseEvent} e */
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  /**
   * @param {number} x
   * @param {number} y
   */
  const hover = (x, y) => {
    const hit = stage.hitTest(x, y);
    canvas.classList.toggle("tb-pointer", !!hit);
    handlers.hover(hit, x, y);
  };

  /** @param {WheelEvent} e */
  const wheel = (e) => {
    e.preventDefault();
    const p = local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    stage.zoom(Math.exp(-e.deltaY * unit * WHEEL_SPEED), p.x, p.y);
    handlers.hover(null, p.x, p.y);
  };
  /** @param {PointerEvent} e */
  const down = (e) => {
    if (e.button !== 0) return;
    const p = local(e);
    drag = { x: p.x, y: p.y, tx: stage.camera.tx, ty: stage.camera.ty, moved: false, id: e.pointerId };
    canvas.setPointerCapture?.(e.pointerId);
  };
  /** @param {PointerEvent} e */
  const move = (e) => {
    const p = local(e);
    if (drag && drag.id === e.pointerId) {
      if (!drag.moved && Math.hypot(p.x - drag.x, p.y - drag.y) > CLICK_SLOP) {
        drag.moved = true;
        canvas.classList.add("tb-dragging");
        handlers.hover(null, p.x, p.y);
      }
      if (drag.moved) {
        stage.dragTo(drag.tx + p.x - drag.x, drag.ty + p.y - drag.y);
      }
      return;
    }
    hover(p.x, p.y);
  };
  /** @param {PointerEvent} e */
  const up = (e) => {
    if (!drag || drag.id !== e.pointerId) return;
    const click = !drag.moved;
    drag = null;
    canvas.classList.remove("tb-dragging");
    if (!click) return;
    const p = local(e);
    handlers.click(stage.hitTest(p.x, p.y));
    // What is under the pointer may have changed (a box collapsed): look again after the layout.
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        if (!closed && !drag && canvas.matches(":hover")) hover(p.x, p.y);
      }),
    );
  };
  const cancel = () => {
    drag = null;
    canvas.classList.remove("tb-dragging");
  };
  const leave = () => handlers.hover(null, 0, 0);
  /** @param {MouseEvent} e */
  const dblclick = (e) => {
    const p = local(e);
    const hit = stage.hitTest(p.x, p.y);
    if (!hit) stage.fit();
    else if (hit.part === "node" && stage.collapsed.has(hit.id)) stage.toggle(hit.id);
  };
  /** @param {KeyboardEvent} e */
  const key = (e) => {
    const cx = stage.surface.width / 2;
    const cy = stage.surface.height / 2;
    const step = 60;
    if (e.key === "f" || e.key === "0") stage.fit();
    else if (e.key === "+" || e.key === "=") stage.zoom(1.25, cx, cy);
    else if (e.key === "-") stage.zoom(0.8, cx, cy);
    else if (e.key === "ArrowLeft") stage.pan(step, 0);
    else if (e.key === "ArrowRight") stage.pan(-step, 0);
    else if (e.key === "ArrowUp") stage.pan(0, step);
    else if (e.key === "ArrowDown") stage.pan(0, -step);
    else if (e.key === "Escape") handlers.key("escape");
    else if (e.key === "/") handlers.key("search");
    else return;
    e.preventDefault();
  };

  /** @type {[string, (e: any) => void][]} */
  const listeners = [
    ["wheel", wheel],
    ["pointerdown", down],
    ["pointermove", move],
    ["pointerup", up],
    ["pointercancel", cancel],
    ["pointerleave", leave],
    ["dblclick", dblclick],
    ["keydown", key],
  ];
  // Not passive: the wheel zooms the canvas instead of scrolling the page.
  for (const [type, fn] of listeners) canvas.addEventListener(type, fn, { passive: false });
  return () => {
    closed = true;
    for (const [type, fn] of listeners) canvas.removeEventListener(type, fn);
  };
}
