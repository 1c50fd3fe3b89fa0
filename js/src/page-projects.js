/**
 * The server page's project list: one item per project, newest first, each
 * with its status, a progress bar, its graph, its count and its age; the
 * selected one is `aria-current`. Items are kept across renders (by id),
 * so a refresh only moves and refills them.
 *
 * Runs on the main thread; the page lives as long as the document.
 *
 * @module
 */

import { h } from "./details.js";
import { formatCount } from "./format.js";
import { ago, pill, progress } from "./page-dom.js";

/** @typedef {import("./page-api.js").Project} Project */
/** @typedef {import("./page-dom.js").PageDom} PageDom */

/**
 * @typedef {object} ProjectList
 * @property {(projects: Project[], selected: string) => void} render the whole list
 * @property {(project: Project, selected: string) => void} fill one project's item, if it is listed
 * @property {(selected: string) => void} mark which project is selected
 */

/**
 * @param {PageDom} dom
 * @param {(id: string) => void} select a project's item was clicked
 * @returns {ProjectList}
 */
export function createProjectList(dom, select) {
  const { list, listCount, listEmpty } = dom;
  /** @type {Map<string, HTMLLIElement>} */
  const items = new Map();

  /**
   * @param {Project[]} projects
   * @param {string} selected
   */
  function render(projects, selected) {
    listCount.textContent = projects.length ? String(projects.length) : "";
    listEmpty.hidden = projects.length > 0;
    const newestFirst = [...projects].sort((a, b) => b.created - a.created);
    const keep = new Set(newestFirst.map((p) => p.id));
    for (const [id, item] of items) {
      if (!keep.has(id)) {
        item.remove();
        items.delete(id);
      }
    }
    newestFirst.forEach((project, i) => {
      let item = items.get(project.id);
      if (!item) {
        item = listItem(project.id);
        items.set(project.id, item);
      }
      fillItem(item, project, selected);
      if (list.children[i] !== item) list.insertBefore(item, list.children[i] ?? null);
    });
  }

  /** @param {string} id */
  function listItem(id) {
    const item = h("li", "tbp-item");
    const button = h("button", "tbp-project");
    button.type = "button";
    button.dataset.id = id;
    button.addEventListener("click", () => select(id));
    item.append(button);
    return item;
  }

  /**
   * @param {HTMLLIElement} item
   * @param {Project} project
   * @param {string} selected
   */
  function fillItem(item, project, selected) {
    const button = /** @type {HTMLButtonElement} */ (item.firstElementChild);
    button.dataset.status = project.status;
    button.setAttribute("aria-current", project.id === selected ? "true" : "false");
    const top = h("div", "tbp-project-top");
    top.append(h("span", "tbp-project-id", project.id), pill(project.status));
    const [done, total] = progress(project);
    const bar = h("div", "tbp-bar");
    const fill = h("div", "tbp-bar-fill");
    fill.style.width = total ? `${(100 * done) / total}%` : "0%";
    bar.append(fill);
    const meta = h("div", "tbp-project-meta");
    meta.append(
      h("span", "", project.graph || "graph"),
      h("span", "", total ? `${formatCount(done)} / ${formatCount(total)}` : ""),
      h("span", "", ago(project.created)),
    );
    button.replaceChildren(top, bar, meta);
    button.title = `${project.id}: ${project.status}`;
  }

  return {
    render,
    fill(project, selected) {
      const item = items.get(project.id);
      if (item) fillItem(item, project, selected);
    },
    mark(selected) {
      for (const [id, item] of items) {
        item.firstElementChild?.setAttribute("aria-current", id === selected ? "true" : "false");
      }
    },
  };
}
