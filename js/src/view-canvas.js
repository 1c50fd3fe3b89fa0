/**
 * The canvas's hands: clicks (select a node, collapse or expand a box),
 * keys (`Escape` closes the details, `/` searches; the rest is
 * `interaction.js`'s) and the tooltip of the node under the pointer.
 *
 * Runs on the main thread; the returned function unbinds the canvas.
 *
 * @module
 */

import { CLASS_INFO, compareNote, compareOf, diffClass } from "./compare.js";
import { h } from "./details.js";
import { bindCanvas } from "./interaction.js";
import { noteFor } from "./render.js";
import { statusClass } from "./status.js";

/** @typedef {import("./stage.js").Stage} Stage */
/** @typedef {import("./stage.js").Hit} Hit */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * @param {object} parts
 * @param {Stage} parts.stage
 * @param {HTMLElement} parts.tooltip the tooltip's element, over the canvas
 * @param {(id: string) => NodeSummary | undefined} parts.node the state's node
 * @param {() => number | null | undefined} parts.nodeClock see `Clock.nodeClock`
 * @param {(id: string | null) => void} parts.select
 * @param {() => void} parts.toggled a box was collapsed or expanded by hand
 * @param {() => void} parts.searchKey `/` was pressed
 * @returns {() => void} unbinds the canvas
 */
export function bindView({ stage, tooltip, node, nodeClock, select, toggled, searchKey }) {
  /**
   * @param {Hit | null} hit
   * @param {number} x
   * @param {number} y
   */
  function showTooltip(hit, x, y) {
    stage.setHover(hit ? hit.id : null);
    if (!hit) {
      tooltip.hidden = true;
      return;
    }
    const n = node(hit.id);
    const status = n?.status ?? "pending";
    const toggle = hit.part === "toggle" ? (stage.collapsed.has(hit.id) ? "click to expand" : "click to collapse") : "";
    const name = n?.label ? [h("b", "", n.label), h("span", "tb-tooltip-id", hit.id)] : [hit.id];
    const c = stage.compare ? compareOf(n) : null;
    if (c) {
      // A comparison: the node's class (its glyph and words), and how it differs.
      const info = CLASS_INFO[c.class];
      const note = toggle || compareNote(n);
      tooltip.replaceChildren(...name, h("span", `tb-pill tb-diff-pill ${diffClass(c.class)}`, `${info.glyph} ${info.label}`), note && note !== c.class ? `  ${note}` : "");
    } else {
      const note = toggle || noteFor(n, nodeClock());
      tooltip.replaceChildren(...name, h("span", `tb-pill ${statusClass(status)}`, status), note && note !== status ? `  ${note}` : "");
    }
    tooltip.hidden = false;
    const maxX = stage.surface.width - tooltip.offsetWidth - 8;
    tooltip.style.left = `${Math.max(4, Math.min(x + 14, maxX))}px`;
    tooltip.style.top = `${y + 18 + tooltip.offsetHeight > stage.surface.height ? y - tooltip.offsetHeight - 10 : y + 18}px`;
  }

  return bindCanvas(stage, {
    click(hit) {
      if (!hit) select(null);
      else if (hit.part === "toggle") {
        stage.toggle(hit.id);
        toggled();
      } else select(hit.id);
    },
    hover: showTooltip,
    key(which) {
      if (which === "escape") select(null);
      else searchKey();
    },
  });
}
