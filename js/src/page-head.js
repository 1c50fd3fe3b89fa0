/**
 * The head of the server page's content: what is selected and its view.
 * A project's head says its graph, params, age and time taken, with "Run
 * again" (once its run ended), "Rerun changed" (a new run that runs only
 * what changed, through the live view: the Socket.IO `rerun` event) and
 * "Continue" (a run that did not finish);
 * a run shown by its id says its name, status, project and times. With
 * nothing to show (nothing selected, an unknown project, a project not
 * started), a placeholder says why, and the live view goes.
 *
 * Runs on the main thread; the page lives as long as the document.
 *
 * @module
 */

import { h } from "./details.js";
import { formatDuration } from "./format.js";
import { ago, pill } from "./page-dom.js";
import { CONTINUABLE, RUN_ENDED } from "./status.js";

/** @typedef {import("./page-api.js").Project} Project */
/** @typedef {import("./page-dom.js").PageDom} PageDom */
/** @typedef {import("./page-live.js").LiveView} LiveView */

/**
 * @typedef {object} Selected
 * @property {string} selected the project selected ("" for none)
 * @property {Project | undefined} project that project, if it is listed
 * @property {boolean} loaded the project list has been fetched once
 */

/**
 * @param {PageDom} dom
 * @param {object} parts
 * @param {LiveView} parts.view
 * @param {(runId: string) => import("./history.js").RunItem | undefined} parts.findRun the run
 *   list's row for a run
 * @param {(id: string) => void} parts.select select a project
 * @param {(id: string) => void} parts.execute start a project's graph
 * @returns {{project: (shown: Selected) => void, run: (runId: string) => void}} draw the
 *   head of a project, or of a run by its id
 */
export function createHead(dom, { view, findRun, select, execute }) {
  const { projectHead, headTitle, headId, headMeta, againButton, rerunButton, continueButton, placeholder } = dom;

  /** @param {Selected} shown */
  function renderProject({ selected, project, loaded }) {
    if (!selected || !project) {
      projectHead.hidden = true;
      view.hide();
      placeholder.hidden = false;
      if (selected && !loaded) {
        placeholder.replaceChildren(h("div", "tbp-muted", "Loading…"));
        return;
      }
      placeholder.replaceChildren(
        h("div", "tbp-placeholder-title", selected ? `No project ${selected}` : "Nothing selected"),
        h(
          "p",
          "tbp-muted",
          selected
            ? "It may have belonged to an earlier run of the server. Pick another on the left."
            : "Start a run on the left, or pick a project to watch it live.",
        ),
      );
      return;
    }
    projectHead.hidden = false;
    headId.textContent = project.id;
    headTitle.replaceChildren(headId, pill(project.status));
    const params = JSON.stringify(project.params ?? {});
    const run = project.run;
    const ended = run?.ended !== undefined ? ` · took ${formatDuration(run.ended)}` : "";
    headMeta.replaceChildren(
      h("span", "", project.graph),
      h("code", "tbp-code", params.length > 160 ? `${params.slice(0, 157)}…` : params),
      h("span", "", `${ago(project.created)}${ended}`),
    );
    againButton.hidden = !project.run;
    againButton.disabled = !RUN_ENDED.has(project.status);
    // A run that did not finish (interrupted when the server stopped, failed, cancelled) goes on.
    continueButton.hidden = !project.run || !CONTINUABLE.has(project.status);
    rerunButton.hidden = !project.run;
    if (project.status === "created") {
      rerunButton.hidden = true;
      view.hide();
      placeholder.hidden = false;
      const start = h("button", "tbp-button tbp-primary", "Start it");
      start.type = "button";
      start.addEventListener("click", () => execute(project.id));
      placeholder.replaceChildren(
        h("div", "tbp-placeholder-title", "Not started yet"),
        h("p", "tbp-muted", "This project was created without starting its graph."),
        start,
      );
      return;
    }
    placeholder.hidden = true;
    view.show(project.id);
    // The live view knows best whether its run can be rerun now (ended, no rerun on its way).
    const why = view.shown()?.view.rerunBlock() ?? "No run to rerun yet";
    rerunButton.disabled = why !== "";
    rerunButton.title = why || "A new run that runs only what changed and reuses the rest of this run's results";
  }

  /** @param {string} runId */
  function renderRun(runId) {
    const shown = view.shown();
    const live = shown?.id === `run:${runId}` ? shown.store.client.state?.run : undefined;
    const listed = findRun(runId);
    const run = live ?? listed;
    projectHead.hidden = false;
    headId.textContent = run?.name ? `${run.name} · ${runId}` : runId;
    const status = run?.status ?? "";
    headTitle.replaceChildren(headId, ...(status ? [pill(status)] : []));
    const meta = [h("span", "", "run")];
    const projectId = listed?.project;
    if (projectId) {
      const link = h("button", "tbp-link", `project ${projectId}`);
      link.type = "button";
      link.addEventListener("click", () => select(projectId));
      meta.push(link);
    }
    if (run?.created) {
      const took = run.ended !== undefined ? ` · took ${formatDuration(run.ended)}` : "";
      meta.push(h("span", "", `${ago(run.created)}${took}`));
    }
    headMeta.replaceChildren(...meta);
    againButton.hidden = true;
    rerunButton.hidden = true;
    continueButton.hidden = true;
    placeholder.hidden = true;
    view.show(runId, true);
  }


  return { project: renderProject, run: renderRun };
}
