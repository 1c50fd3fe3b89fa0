/**
 * The server page's skeleton: the header, the side bar's start form and
 * project list, the content's head and the view's host, the token dialog,
 * and the small pieces the page draws with (a status pill, a project's
 * progress, "… ago"). Nothing here listens or fetches: `startPage`
 * (`page.js`) wires it.
 *
 * @module
 */

import { h } from "./details.js";
import { ago as agoAt } from "./history.js";
import { FINISHED } from "./status.js";

/** @typedef {import("./page-api.js").Project} Project */

/**
 * Build the page's elements. The side bar gets its children from the
 * caller (the start form, the project list, the run list), in that order.
 */
export function buildPage() {
  const header = h("header", "tbp-header");
  const brand = h("div", "tbp-brand");
  brand.append(logo(), h("span", "tbp-brand-name", "taskbeam"));
  const version = h("span", "tbp-version", "");
  const live = h("div", "tbp-live");
  live.hidden = true;
  live.setAttribute("role", "status");
  const liveDot = h("span", "tbp-live-dot");
  const liveText = h("span", "tbp-live-text", "");
  live.append(liveDot, liveText);
  const tokenButton = h("button", "tbp-button tbp-quiet", "Change token");
  tokenButton.type = "button";
  header.append(brand, version, h("div", "tbp-spacer"), live, tokenButton);

  const banner = h("div", "tbp-banner");
  banner.hidden = true;
  banner.setAttribute("role", "alert");

  const side = h("aside", "tbp-side");
  const form = h("form", "tbp-card tbp-start");
  form.setAttribute("aria-label", "Start a run");
  const graphSelect = h("select", "tbp-input");
  graphSelect.name = "graph";
  graphSelect.id = "tbp-graph";
  const graphLabel = h("label", "tbp-label", "Graph");
  graphLabel.htmlFor = graphSelect.id;
  const graphDoc = h("p", "tbp-muted tbp-graph-doc", "");
  const paramsInput = h("textarea", "tbp-input tbp-params");
  paramsInput.name = "params";
  paramsInput.id = "tbp-params";
  paramsInput.rows = 5;
  paramsInput.spellcheck = false;
  const paramsLabel = h("label", "tbp-label", "Params (JSON)");
  paramsLabel.htmlFor = paramsInput.id;
  const startButton = h("button", "tbp-button tbp-primary", "Start run");
  startButton.type = "submit";
  const formError = h("p", "tbp-form-error");
  formError.hidden = true;
  formError.setAttribute("role", "alert");
  form.append(
    h("h2", "tbp-card-title", "Start a run"),
    graphLabel,
    graphSelect,
    graphDoc,
    paramsLabel,
    paramsInput,
    formError,
    startButton,
  );

  const listCard = h("section", "tbp-card tbp-projects");
  const listTitle = h("h2", "tbp-card-title", "Projects");
  const listCount = h("span", "tbp-count", "");
  listTitle.append(listCount);
  const list = h("ul", "tbp-list");
  list.setAttribute("aria-label", "Projects");
  const listEmpty = h("p", "tbp-muted tbp-list-empty", "No projects yet: start a run above.");
  listCard.append(listTitle, listEmpty, list);


  const content = h("main", "tbp-content");
  const projectHead = h("div", "tbp-project-head");
  projectHead.hidden = true;
  const headTitle = h("div", "tbp-head-title");
  const headId = h("h1", "tbp-head-id", "");
  headTitle.append(headId);
  const headMeta = h("div", "tbp-head-meta", "");
  const againButton = h("button", "tbp-button", "Run again");
  againButton.type = "button";
  againButton.title = "Start the project's graph again, with the same params";
  const rerunButton = h("button", "tbp-button tbp-rerun", "Rerun changed");
  rerunButton.type = "button";
  rerunButton.title = "A new run that runs only what changed and reuses the rest of this run's results";
  rerunButton.hidden = true;
  const continueButton = h("button", "tbp-button tbp-primary tbp-continue", "Continue");
  continueButton.type = "button";
  continueButton.title = "Continue the run from where it stopped: its done nodes are not run again";
  continueButton.hidden = true;
  const headError = h("p", "tbp-form-error tbp-head-error");
  headError.hidden = true;
  headError.setAttribute("role", "alert");
  const headText = h("div", "tbp-head-text");
  headText.append(headTitle, headMeta, headError);
  const headActions = h("div", "tbp-actions");
  headActions.append(continueButton, rerunButton, againButton);
  projectHead.append(headText, headActions);
  const viewHost = h("div", "tbp-view");
  viewHost.hidden = true;
  const placeholder = h("div", "tbp-placeholder");
  content.append(projectHead, viewHost, placeholder);

  const shell = h("div", "tbp-shell");
  shell.append(side, content);

  const dialog = h("div", "tbp-overlay");
  dialog.hidden = true;
  const tokenForm = h("form", "tbp-card tbp-token");
  tokenForm.setAttribute("aria-label", "Token");
  const tokenInput = h("input", "tbp-input");
  tokenInput.type = "password";
  tokenInput.name = "token";
  tokenInput.id = "tbp-token";
  tokenInput.autocomplete = "off";
  tokenInput.placeholder = "token";
  const tokenLabel = h("label", "tbp-label", "Token");
  tokenLabel.htmlFor = tokenInput.id;
  const tokenError = h("p", "tbp-form-error");
  tokenError.hidden = true;
  const tokenSubmit = h("button", "tbp-button tbp-primary", "Open");
  tokenSubmit.type = "submit";
  const tokenCancel = h("button", "tbp-button tbp-quiet", "Cancel");
  tokenCancel.type = "button";
  const tokenActions = h("div", "tbp-actions");
  tokenActions.append(tokenCancel, tokenSubmit);
  tokenForm.append(
    h("h2", "tbp-card-title", "This server needs its token"),
    h(
      "p",
      "tbp-muted",
      "taskbeam serve prints a link that carries it (…/?token=…), and tb.serve(…).link gives it in Python.",
    ),
    tokenLabel,
    tokenInput,
    tokenError,
    tokenActions,
  );
  dialog.append(tokenForm);

  return {
    header,
    version,
    live,
    liveText,
    tokenButton,
    banner,
    side,
    form,
    graphSelect,
    graphDoc,
    paramsInput,
    startButton,
    formError,
    listCard,
    listCount,
    list,
    listEmpty,
    projectHead,
    headTitle,
    headId,
    headMeta,
    againButton,
    rerunButton,
    continueButton,
    headError,
    viewHost,
    placeholder,
    shell,
    dialog,
    tokenForm,
    tokenInput,
    tokenError,
    tokenCancel,
  };
}

/** @typedef {ReturnType<typeof buildPage>} PageDom */

/**
 * A run's status as a coloured pill (`data-status` picks the colour in page.css).
 *
 * @param {string} status
 */
export function pill(status) {
  const el = h("span", "tbp-pill", status);
  el.dataset.status = status;
  return el;
}

/**
 * Finished nodes and all nodes of the project's run.
 *
 * @param {Project} project
 * @returns {[number, number]}
 */
export function progress(project) {
  const run = project.run;
  if (!run) return [0, 0];
  let done = 0;
  for (const [status, n] of Object.entries(run.counts ?? {})) if (FINISHED.has(status)) done += n;
  return [done, run.total ?? 0];
}

/**
 * `12 s ago`, `5 min ago`, `3 h ago`, or the date.
 *
 * @param {number} unix seconds
 * @returns {string}
 */
export function ago(unix) {
  return agoAt(unix, Date.now() / 1000);
}

/** The mark: three nodes and a beam through them. */
function logo() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "tbp-logo");
  const parts = [
    ["path", { d: "M3 17L12 7l9 10", fill: "none", "stroke-width": "2.2", "stroke-linecap": "round" }],
    ["circle", { cx: "3.5", cy: "17", r: "2.5" }],
    ["circle", { cx: "12", cy: "7", r: "2.5" }],
    ["circle", { cx: "20.5", cy: "17", r: "2.5" }],
  ];
  for (const [tag, attrs] of /** @type {[string, Record<string, string>][]} */ (parts)) {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    svg.append(el);
  }
  return svg;
}

