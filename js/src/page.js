/**
 * The web page of `taskbeam serve` (the bundle's entry, served at `/`).
 *
 * A header, a side bar (a form that starts a registered graph with JSON
 * params; the projects, refreshed every two seconds) and the live view of
 * the selected project: the same `createView` as the Jupyter widget, over
 * a Socket.IO channel (`page-channel.js`). One Socket.IO connection per
 * project shown; socket.io-client reconnects on its own and the channel
 * subscribes again, which brings a fresh snapshot.
 *
 * The selected project is in the address's hash (`#project=ID`), so a
 * reload or a shared link (without the token) opens it again.
 *
 * `startPage` keeps the page's state (the token, the projects, what is
 * selected) and wires the parts, each its own module: the skeleton
 * (`page-dom.js`), the token dialog (`page-token.js`), the start form
 * (`page-start.js`), the project list (`page-projects.js`), the run list
 * (`page-runs.js`) and the live view with its connection (`page-live.js`);
 * it draws the selected project's head itself.
 *
 * For browser tests, `window.taskbeamPage` (see `PageHook`) says what is
 * shown and how the connection is, and can drop the connection.
 *
 * @module
 */

import "./style.css";
import "./page.css";
import { ApiError, adoptToken, createApi, saveToken } from "./page-api.js";
import { buildPage, pill } from "./page-dom.js";
import { createHead } from "./page-head.js";
import { createLiveView } from "./page-live.js";
import { createProjectList } from "./page-projects.js";
import { createRunList } from "./page-runs.js";
import { createStartForm } from "./page-start.js";
import { createTokenDialog } from "./page-token.js";

/** @typedef {import("./page-api.js").Project} Project */
/** @typedef {import("./page-channel.js").SubscriptionState} SubscriptionState */
/** @typedef {import("./page-live.js").Shown} Shown */

/**
 * What browser tests read from `window.taskbeamPage`.
 *
 * @typedef {object} PageHook
 * @property {() => string} selected the project shown ("" for none)
 * @property {() => Project[]} projects the list as last fetched
 * @property {() => SubscriptionState | null} connection the shown project's subscription
 * @property {() => Record<string, number>} counts frames, compressed frames, dropped frames,
 *   subscriptions and connections of the shown project
 * @property {() => void} drop close the connection's transport, as a network failure would
 * @property {() => Promise<void>} refresh fetch the project list (and the run list) now
 * @property {() => string} selectedRun the run shown by its id ("" for none: a project or nothing)
 * @property {() => import("./history.js").HistoryState} runs the run list as last fetched
 */

const REFRESH_MS = 2000;

/**
 * @param {HTMLElement} root where the page goes (its content is replaced)
 */
export function startPage(root) {
  let token = adoptToken(window.location, window.history, sessionStorageOrNull());
  const api = createApi(() => token);

  // -- state ------------------------------------------------------------------
  /** @type {Project[]} */
  let projects = [];
  let selected = projectFromHash();
  /** the run shown by its id (a run of the list that is not a project's latest); "" for none */
  let selectedRun = selected ? "" : runFromHash();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let liveTimer;
  let authorized = false;
  let loaded = false; // the list has been fetched once
  let refreshing = false;

  // -- the parts --------------------------------------------------------------
  const dom = buildPage();
  const { banner, version, tokenButton, headError, againButton, rerunButton, continueButton } = dom;
  tokenButton.addEventListener("click", () => askToken(""));
  // Every run the server knows, stored ones included (GET api/runs): page-runs.js.
  const runList = createRunList({
    fetch: (query) => api.runs(query),
    open: (run) => openRun(run),
    isCurrent: (run) => run.id === selectedRun || (!!selected && run.project === selected && isLatest(run)),
    pill,
    refused(error) {
      if (!(error instanceof ApiError && error.status === 401)) return false;
      handle(error); // asks for the token
      return true;
    },
  });
  dom.side.append(dom.form, dom.listCard, runList.el);
  root.replaceChildren(dom.header, banner, dom.shell, dom.dialog);

  const askToken = createTokenDialog(dom, {
    authorized: () => authorized,
    submit(typed) {
      token = typed;
      saveToken(sessionStorageOrNull(), token);
      view.hide();
      boot();
    },
  });
  const setGraphs = createStartForm(dom, {
    create: (graph, params) => api.create(graph, params),
    started(project) {
      upsert(project);
      select(project.id);
    },
    refused: (error) => handle(error),
  });
  const projectList = createProjectList(dom, (id) => select(id));
  const view = createLiveView(dom, {
    token: () => token,
    runChanged: () => liveChanged(),
    refused() {
      authorized = false;
      askToken("The token was refused.");
    },
    error: (text) => showBanner(text),
    openRun: (runId) => select(runId, true),
    // The run list has what the server can show (without a store: only each project's latest).
    canOpenRun: (runId) => runList.find(runId) !== undefined,
  });
  const head = createHead(dom, {
    view,
    findRun: (runId) => runList.find(runId),
    select: (id) => select(id),
    execute: (id) => execute(id),
  });

  /** @param {unknown} error */
  function handle(error) {
    if (error instanceof ApiError && error.status === 401) {
      authorized = false;
      view.hide();
      askToken(token ? "That token was refused." : "");
      return true;
    }
    showBanner(error instanceof Error ? error.message : String(error));
    return false;
  }

  /** @param {string} text "" hides it */
  function showBanner(text) {
    banner.textContent = text;
    banner.hidden = !text;
  }

  // -- the project list -------------------------------------------------------
  /**
   * The project with the live view's run fields when the view shows the same run: they
   * are newer than any REST answer.
   *
   * @param {Project} project
   * @returns {Project}
   */
  function withLive(project) {
    const shown = view.shown();
    const run = shown?.id === project.id ? shown.store.client.state?.run : undefined;
    if (!run || (project.run && project.run.id !== run.id)) return project;
    const { id, status, counts, total, created, ended } = run;
    const fields = { id, status, counts: { ...counts }, total, created };
    return { ...project, status, run: ended === undefined ? fields : { ...fields, ended } };
  }

  /** The live view's run changed: show it in the list and the header (10 times a second at most). */
  function liveChanged() {
    if (liveTimer !== undefined) return;
    liveTimer = setTimeout(() => {
      liveTimer = undefined;
      if (selectedRun) {
        renderHead();
        return;
      }
      const at = projects.findIndex((p) => p.id === view.shown()?.id);
      if (at < 0) return;
      projects[at] = withLive(projects[at]);
      projectList.fill(projects[at], selected);
      renderHead();
    }, 100);
  }

  /** @param {Project} project */
  function upsert(project) {
    project = withLive(project);
    const at = projects.findIndex((p) => p.id === project.id);
    if (at >= 0) projects[at] = project;
    else projects.push(project);
    renderList();
  }

  async function refresh() {
    if (refreshing || !authorized) return;
    refreshing = true;
    try {
      projects = (await api.projects()).map(withLive);
      loaded = true;
      showBanner("");
      renderList();
      runList.refresh();
    } catch (error) {
      handle(error);
    } finally {
      refreshing = false;
    }
  }

  function renderList() {
    projectList.render(projects, selected);
    renderHead();
  }

  // -- the selected project ---------------------------------------------------
  /**
   * Show a project (`id`), or with `run` true a run by its id.
   *
   * @param {string} id
   * @param {boolean} [run]
   */
  function select(id, run = false) {
    const [project, runId] = run ? ["", id] : [id, ""];
    if (selected !== project || selectedRun !== runId) {
      selected = project;
      selectedRun = runId;
      headError.hidden = true;
      const hash = project
        ? `#project=${encodeURIComponent(project)}`
        : runId
          ? `#run=${encodeURIComponent(runId)}`
          : "";
      if (window.location.hash !== hash) {
        window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search + hash);
      }
    }
    renderList();
    runList.render();
  }

  window.addEventListener("hashchange", () => {
    const run = runFromHash();
    if (run) select(run, true);
    else select(projectFromHash());
  });

  function renderHead() {
    projectList.mark(selected);
    if (selectedRun) head.run(selectedRun);
    else head.project({ selected, project: projects.find((p) => p.id === selected), loaded });
  }

  /** Continue the selected project's run (POST continue): the view follows it live. */
  async function continueProject() {
    const id = selected;
    if (!id) return;
    continueButton.disabled = true;
    headError.hidden = true;
    try {
      upsert(await api.continueRun(id));
    } catch (error) {
      if (!handle(error)) {
        headError.textContent = `Continue: ${error instanceof Error ? error.message : String(error)}`;
        headError.hidden = false;
      }
    } finally {
      continueButton.disabled = false;
    }
  }
  continueButton.addEventListener("click", () => continueProject());

  /**
   * "Rerun changed": the live view asks for it (the Socket.IO `rerun` event with the project's
   * id) and shows the answer in its notices; the server moves the view to the new run.
   */
  async function rerunProject() {
    const shown = view.shown();
    if (!selected || !shown || shown.id !== selected) return;
    rerunButton.disabled = true;
    headError.hidden = true;
    const next = await shown.view.rerun(null);
    if (next) await refresh(); // the list and the head name the new run
    renderHead();
  }
  rerunButton.addEventListener("click", () => rerunProject());

  // -- the run list ------------------------------------------------------------
  /**
   * A run of the list: its project's view when it is that project's latest run
   * (the controls work there), else the run by its id (stored ones frozen).
   *
   * @param {import("./history.js").RunItem} run
   */
  function openRun(run) {
    const project = run.project ? projects.find((p) => p.id === run.project) : undefined;
    if (project && (project.run_id ?? project.run?.id) === run.id) select(project.id);
    else select(run.id, true);
  }

  /** @param {import("./history.js").RunItem} run */
  function isLatest(run) {
    const project = projects.find((p) => p.id === run.project);
    return !!project && (project.run_id ?? project.run?.id) === run.id;
  }
  /** @param {string} id */
  async function execute(id) {
    againButton.disabled = true;
    try {
      upsert(await api.execute(id));
    } catch (error) {
      handle(error);
    }
  }
  againButton.addEventListener("click", () => selected && execute(selected));

  // -- start ------------------------------------------------------------------
  async function boot() {
    showBanner("");
    try {
      const [health, known] = await Promise.all([api.health().catch(() => null), api.graphs()]);
      if (health) version.textContent = `v${health.version}`;
      authorized = true;
      tokenButton.hidden = !token; // a server without authentication: nothing to change
      setGraphs(known);
      await refresh();
    } catch (error) {
      handle(error);
    }
  }

  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });

  /** @type {PageHook} */
  const hook = {
    selected: () => selected,
    projects: () => projects,
    connection: () => view.shown()?.channel.state() ?? null,
    counts: () => {
      const shown = view.shown();
      return shown ? { ...shown.channel.counts, connections: shown.connections } : {};
    },
    drop: () => view.shown()?.socket.io.engine?.close(),
    refresh,
    selectedRun: () => selectedRun,
    runs: () => runList.state(),
  };
  /** @type {any} */ (window).taskbeamPage = hook;
  boot();
}

/** @returns {string} the run in the address's hash (`#run=ID`), "" for none */
function runFromHash() {
  const match = /(?:^#|&)run=([^&]*)/.exec(window.location.hash);
  if (!match) return "";
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return "";
  }
}

/** @returns {string} */
function projectFromHash() {
  const match = /(?:^#|&)project=([^&]*)/.exec(window.location.hash);
  if (!match) return "";
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return "";
  }
}

/** @returns {Storage | null} */
function sessionStorageOrNull() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

const app = document.getElementById("app");
if (app) startPage(app);
