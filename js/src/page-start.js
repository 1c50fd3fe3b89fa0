/**
 * The server page's start form: a registered graph, its params as JSON
 * (prefilled with the graph's defaults), and "Start run". A params error
 * or a refused start shows under the form; a refused token goes to the
 * caller.
 *
 * Runs on the main thread; the page lives as long as the document, so its
 * listeners are never removed.
 *
 * @module
 */

import { h } from "./details.js";
import { ApiError, defaultParams, parseParams } from "./page-api.js";

/** @typedef {import("./page-api.js").Project} Project */
/** @typedef {import("./page-api.js").GraphInfo} GraphInfo */
/** @typedef {import("./page-dom.js").PageDom} PageDom */

/**
 * @param {PageDom} dom
 * @param {object} handlers
 * @param {(graph: string, params: Record<string, unknown>) => Promise<Project>} handlers.create start a run
 * @param {(project: Project) => void} handlers.started the run's project, to show
 * @param {(error: unknown) => void} handlers.refused the server refused the token
 * @returns {(graphs: GraphInfo[]) => void} shows the server's graphs in the form
 */
export function createStartForm(dom, { create, started, refused }) {
  const { form, graphSelect, graphDoc, paramsInput, startButton, formError } = dom;
  /** @type {GraphInfo[]} */
  let graphs = [];

  /** @param {GraphInfo[]} known */
  function setGraphs(known) {
    graphs = known;
    const previous = graphSelect.value;
    graphSelect.replaceChildren(
      ...graphs.map((g) => {
        const option = h("option", "", g.name);
        option.value = g.name;
        return option;
      }),
    );
    const none = graphs.length === 0;
    graphSelect.disabled = paramsInput.disabled = startButton.disabled = none;
    if (none) {
      graphDoc.textContent = "No graphs are registered on this server.";
      paramsInput.value = "";
      return;
    }
    graphSelect.value = graphs.some((g) => g.name === previous) ? previous : graphs[0].name;
    onGraphChange();
  }

  function onGraphChange() {
    const graph = graphs.find((g) => g.name === graphSelect.value);
    graphDoc.textContent = graph?.description || "";
    graphDoc.hidden = !graph?.description;
    paramsInput.value = defaultParams(graph);
    formError.hidden = true;
  }
  graphSelect.addEventListener("change", onGraphChange);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parseParams(paramsInput.value);
    if ("error" in parsed) {
      formError.textContent = parsed.error;
      formError.hidden = false;
      return;
    }
    formError.hidden = true;
    startButton.disabled = true;
    try {
      started(await create(graphSelect.value, parsed.params));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        formError.textContent = error instanceof Error ? error.message : String(error);
        formError.hidden = false;
      } else refused(error);
    } finally {
      startButton.disabled = graphs.length === 0;
    }
  });
  return setGraphs;
}
