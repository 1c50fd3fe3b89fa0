/**
 * Label widths for the canvas.
 *
 * @module
 */

/**
 * Fits labels into widths. Measuring text is the slow part of drawing a
 * label, so widths are measured once per (font, text) at a reference size
 * and scaled: a zoom does not measure anything again.
 */
export class TextFitter {
  /**
   * @param {(text: string, font: string) => number} [measure] the width of
   *   `text` in the CSS `font` (by default a canvas's `measureText`)
   */
  constructor(measure) {
    /** @type {Map<string, number>} */
    this.widths = new Map();
    if (measure) {
      this.measure = measure;
    } else {
      const ctx = /** @type {CanvasRenderingContext2D} */ (document.createElement("canvas").getContext("2d"));
      this.measure = (/** @type {string} */ text, /** @type {string} */ font) => {
        ctx.font = font;
        return ctx.measureText(text).width;
      };
    }
  }

  /**
   * The width of `text` at `size` (any unit: the result is in the same).
   *
   * @param {string} text
   * @param {number} size
   * @param {string} family
   * @param {string} [weight]
   */
  width(text, size, family, weight = "400") {
    const key = weight + family + "\u0000" + text;
    let width = this.widths.get(key);
    if (width === undefined) {
      if (this.widths.size > 50_000) this.widths.clear();
      width = this.measure(text, `${weight} 100px ${family}`) / 100;
      this.widths.set(key, width);
    }
    return width * size;
  }

  /**
   * `text`, cut with an ellipsis to fit `room`.
   *
   * @param {string} text
   * @param {number} room
   * @param {number} size
   * @param {string} family
   * @param {string} [weight]
   * @returns {string}
   */
  fit(text, room, size, family, weight = "400") {
    if (room <= 0) return "";
    if (this.width(text, size, family, weight) <= room) return text;
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.width(text.slice(0, mid) + "…", size, family, weight) <= room) lo = mid;
      else hi = mid - 1;
    }
    return lo > 0 ? text.slice(0, lo) + "…" : "";
  }
}
