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
 * For browser tests, `window.taskbeamPage` (see `PageHook`) says what is
 * shown and how the connection is, and can drop the connection.
 *
 * @module
 */

import "./style.css";
import "./page.css";
import { io } from "socket.io-client";
import { h } from "./details.js";
import { formatCount, formatDuration } from "./format.js";
import { ago as agoAt } from "./history.js";
import { ApiError, adoptToken, createApi, defaultParams, parseParams, saveToken } from "./page-api.js";
import { socketChannel } from "./page-channel.js";
import { createRunList } from "./page-runs.js";
import { CONTINUABLE, FINISHED, RUN_ENDED } from "./status.js";
import { createStore } from "./store.js";
import { createView } from "./view.js";

/** @typedef {import("./page-api.js").Project} Project */
/** @typedef {import("./page-api.js").GraphInfo} GraphInfo */
/** @typedef {import("./page-channel.js").SocketChannel} SocketChannel */
/** @typedef {import("./page-channel.js").SubscriptionState} SubscriptionState */
/** @typedef {import("socket.io-client").Socket} Socket */

/**
 * The project (or run) shown: its connection, channel, store and view.
 *
 * @typedef {object} Shown
 * @property {string} id the project's id, or `run:` and a run's id
 * @property {Socket} socket
 * @property {SocketChannel} channel
 * @property {import("./store.js").Store} store
 * @property {() => void} cleanup removes the view
 * @property {number} connections how many times the socket has connected
 */

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

  // -- layout -----------------------------------------------------------------
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
  tokenButton.addEventListener("click", () => askToken(""));
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
  side.append(form, listCard, runList.el);

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
  headActions.append(continueButton, againButton);
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

  root.replaceChildren(header, banner, shell, dialog);

  // -- state ------------------------------------------------------------------
  /** @type {GraphInfo[]} */
  let graphs = [];
  /** @type {Project[]} */
  let projects = [];
  let selected = projectFromHash();
  /** the run shown by its id (a run of the list that is not a project's latest); "" for none */
  let selectedRun = selected ? "" : runFromHash();
  /** @type {Shown | null} */
  let shown = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let liveTimer;
  let authorized = false;
  let loaded = false; // the list has been fetched once
  let refreshing = false;
  /** @type {Map<string, HTMLLIElement>} */
  const items = new Map();

  // -- token ------------------------------------------------------------------
  /** @param {string} why shown above the field ("" for none) */
  function askToken(why) {
    tokenError.textContent = why;
    tokenError.hidden = !why;
    tokenInput.value = "";
    tokenCancel.hidden = !authorized; // nothing to go back to without a working token
    dialog.hidden = false;
    tokenInput.focus();
  }

  const closeToken = () => {
    if (authorized) dialog.hidden = true;
  };
  tokenCancel.addEventListener("click", closeToken);
  dialog.addEventListener("keydown", (event) => event.key === "Escape" && closeToken());

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    token = tokenInput.value.trim();
    saveToken(sessionStorageOrNull(), token);
    dialog.hidden = true;
    hideView();
    boot();
  });

  /** @param {unknown} error */
  function handle(error) {
    if (error instanceof ApiError && error.status === 401) {
      authorized = false;
      hideView();
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

  // -- graphs and the start form ------------------------------------------------
  function renderGraphs() {
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
      const project = await api.create(graphSelect.value, parsed.params);
      upsert(project);
      select(project.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        formError.textContent = error instanceof Error ? error.message : String(error);
        formError.hidden = false;
      } else handle(error);
    } finally {
      startButton.disabled = graphs.length === 0;
    }
  });

  // -- the project list -------------------------------------------------------
  /**
   * The project with the live view's run fields when the view shows the same run: they
   * are newer than any REST answer.
   *
   * @param {Project} project
   * @returns {Project}
   */
  function withLive(project) {
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
      const at = projects.findIndex((p) => p.id === shown?.id);
      if (at < 0) return;
      projects[at] = withLive(projects[at]);
      const item = items.get(projects[at].id);
      if (item) fillItem(item, projects[at]);
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
      fillItem(item, project);
      if (list.children[i] !== item) list.insertBefore(item, list.children[i] ?? null);
    });
    renderHead();
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
   */
  function fillItem(item, project) {
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
    const project = projects.find((p) => p.id === selected);
    for (const [id, item] of items) {
      item.firstElementChild?.setAttribute("aria-current", id === selected ? "true" : "false");
    }
    if (selectedRun) {
      renderRunHead(selectedRun);
      return;
    }
    if (!selected || !project) {
      projectHead.hidden = true;
      hideView();
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
    if (project.status === "created") {
      hideView();
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
    showView(project.id);
  }

  /**
   * The head of a run shown by its id: its name, status, project and times.
   *
   * @param {string} runId
   */
  function renderRunHead(runId) {
    const live = shown?.id === `run:${runId}` ? shown.store.client.state?.run : undefined;
    const listed = runList.find(runId);
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
    continueButton.hidden = true;
    placeholder.hidden = true;
    showView(runId, true);
  }

  /** Continue the selected project's run (POST resume): the view follows it live. */
  async function continueProject() {
    const id = selected;
    if (!id) return;
    continueButton.disabled = true;
    headError.hidden = true;
    try {
      upsert(await api.resume(id));
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

  // -- the live view ----------------------------------------------------------
  /**
   * @param {string} id a project's id, or with `byRun` a run's
   * @param {boolean} [byRun]
   */
  function showView(id, byRun = false) {
    const key = byRun ? `run:${id}` : id;
    if (shown?.id === key) return;
    hideView();
    const path = new URL("socket.io", window.location.href).pathname;
    const socket = io({
      path,
      auth: (cb) => cb({ token }),
      forceNew: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
    });
    const channel = socketChannel(socket, id, { by: byRun ? "run" : "project" });
    const store = createStore(channel);
    // A project's run is continued from the page's head (POST resume), not from the view.
    const cleanup = createView(viewHost, channel, { store, height: 480, continueRun: null });
    const offStore = store.subscribe((change) => change.run && liveChanged());
    /** @type {Shown} */
    const state = { id: key, socket, channel, store, cleanup: () => (offStore(), cleanup()), connections: 0 };
    shown = state;
    viewHost.hidden = false;
    socket.on("connect", () => {
      state.connections += 1;
      showLive();
    });
    socket.on("disconnect", () => showLive());
    socket.on("connect_error", (/** @type {Error} */ error) => {
      // Refused by the server (the token): socket.io-client does not retry that.
      if (!socket.active) {
        if (/token/i.test(error.message)) {
          authorized = false;
          hideView();
          askToken("The token was refused.");
        } else showBanner(`Live updates: ${error.message}`);
      }
      showLive();
    });
    channel.onState(() => showLive());
    showLive();
  }

  function hideView() {
    if (!shown) return;
    const { socket, channel, store, cleanup } = shown;
    shown = null;
    cleanup();
    store.dispose();
    channel.close();
    socket.disconnect();
    viewHost.hidden = true;
    showLive();
  }

  function showLive() {
    if (!shown) {
      live.hidden = true;
      return;
    }
    const state = shown.channel.state();
    const socket = shown.socket;
    /** @type {[string, string]} */
    let [kind, text] = ["wait", "Connecting…"];
    if (state.phase === "subscribed" && socket.connected) [kind, text] = ["ok", "Live"];
    else if (state.phase === "error") [kind, text] = ["error", state.error ?? "Error"];
    else if (!socket.connected && shown.connections > 0) [kind, text] = ["wait", "Reconnecting…"];
    live.hidden = false;
    live.dataset.state = kind;
    liveText.textContent = text;
    live.title = text;
  }

  // -- start ------------------------------------------------------------------
  async function boot() {
    showBanner("");
    try {
      const [health, known] = await Promise.all([api.health().catch(() => null), api.graphs()]);
      if (health) version.textContent = `v${health.version}`;
      authorized = true;
      tokenButton.hidden = !token; // a server without authentication: nothing to change
      graphs = known;
      renderGraphs();
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
    connection: () => shown?.channel.state() ?? null,
    counts: () => (shown ? { ...shown.channel.counts, connections: shown.connections } : {}),
    drop: () => shown?.socket.io.engine?.close(),
    refresh,
    selectedRun: () => selectedRun,
    runs: () => runList.state(),
  };
  /** @type {any} */ (window).taskbeamPage = hook;
  boot();
}

/**
 * A run's status as a coloured pill (`data-status` picks the colour in page.css).
 *
 * @param {string} status
 */
function pill(status) {
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
function progress(project) {
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
function ago(unix) {
  return agoAt(unix, Date.now() / 1000);
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

const app = document.getElementById("app");
if (app) startPage(app);
