/**
 * The few icons of the toolbar, as inline SVG (no font or network needed).
 *
 * @module
 */

const PATHS = {
  pause: "M5 3h3v10H5zM10 3h3v10h-3z",
  play: "M5 3l8 5-8 5z",
  stop: "M4 4h8v8H4z",
  fit: "M2 2h5v2H4v3H2zM9 2h5v5h-2V4H9zM2 9h2v3h3v2H2zM12 9h2v5H9v-2h3z",
  search:
    "M6.5 1a5.5 5.5 0 0 1 4.38 8.83l3.65 3.64-1.06 1.06-3.64-3.65A5.5 5.5 0 1 1 6.5 1zm0 1.5a4 4 0 1 0 0 8 4 4 0 0 0 0-8z",
  collapse: "M3 3h10v2H3zM3 7h10v2H3zM3 11h10v2H3z",
  expand: "M2 3h12v2H2zM5 7h9v2H5zM5 11h9v2H5z",
  timeline: "M1 2h1v12H1zM3 3h6v2H3zM6 7h8v2H6zM4 11h5v2H4z",
  // A circular arrow, turning back: run again.
  rerun: "M11.1 2.63A6.2 6.2 0 1 1 2.92 4.44L4.48 5.53A4.3 4.3 0 1 0 10.15 4.28zM11.9 1.25L9.35 5.66L7.69 1.75z",
};

/** @typedef {keyof typeof PATHS} IconName */

/**
 * @param {IconName} name
 * @param {string} [className]
 * @returns {SVGSVGElement}
 */
export function icon(name, className) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  if (className) svg.setAttribute("class", className);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
