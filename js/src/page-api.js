/**
 * The page's REST calls and its token.
 *
 * Every URL is relative to the page (`api/projects`, not `/api/projects`),
 * so the page works behind a reverse proxy under a path prefix. The token
 * comes from `?token=` in the page's URL (then removed from the address
 * bar, so it is not left in the history or copied with a link), else from
 * sessionStorage (this tab only), else the user types it in.
 *
 * @module
 */

const TOKEN_KEY = "taskbeam.token";

/** An answer other than 2xx: `status` and the server's `error` text. */
export class ApiError extends Error {
  /**
   * @param {number} status 0 when the server could not be reached
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * @typedef {object} GraphParam
 * @property {string} name
 * @property {boolean} required
 * @property {unknown} [default]
 */

/**
 * @typedef {object} GraphInfo
 * @property {string} name
 * @property {string} description
 * @property {GraphParam[]} params
 */

/**
 * @typedef {object} ProjectRun
 * @property {string} id
 * @property {string} status
 * @property {Record<string, number>} counts
 * @property {number} total
 * @property {number} created
 * @property {number} [ended]
 */

/**
 * @typedef {object} Project
 * @property {string} id
 * @property {string} graph
 * @property {Record<string, unknown>} params
 * @property {string} status
 * @property {number} created
 * @property {string} [run_id] the id of its latest run
 * @property {ProjectRun} [run]
 */

/**
 * Take the token from the URL into sessionStorage and out of the address bar.
 *
 * @param {Location} location
 * @param {History} history
 * @param {Storage | null} storage
 * @returns {string} the token ("" when none is known)
 */
export function adoptToken(location, history, storage) {
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given !== null) {
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    if (given) saveToken(storage, given);
    return given;
  }
  try {
    return storage?.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

/**
 * @param {Storage | null} storage
 * @param {string} token "" forgets it
 */
export function saveToken(storage, token) {
  try {
    if (token) storage?.setItem(TOKEN_KEY, token);
    else storage?.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode, quota): the token lives for this page only
  }
}

/**
 * A small REST client.
 *
 * @param {() => string} token read on every call
 * @param {typeof fetch} [fetcher]
 */
export function createApi(token, fetcher = (...args) => fetch(...args)) {
  /**
   * @param {string} path relative, e.g. `api/projects`
   * @param {{method?: string, body?: unknown}} [options]
   * @returns {Promise<any>}
   */
  async function call(path, options = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/json" };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    /** @type {RequestInit} */
    const init = { method: options.method ?? "GET", headers, cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetcher(path, init);
    } catch (error) {
      throw new ApiError(0, `the server cannot be reached (${error instanceof Error ? error.message : error})`);
    }
    const text = await response.text();
    /** @type {any} */
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error : `${response.status} ${response.statusText}`;
      throw new ApiError(response.status, message);
    }
    return data;
  }

  const project = (/** @type {string} */ id) => `api/projects/${encodeURIComponent(id)}`;
  return {
    call,
    /** @returns {Promise<{status: string, version: string}>} */
    health: () => call("api/health"),
    /** @returns {Promise<GraphInfo[]>} */
    graphs: async () => (await call("api/graphs")).graphs ?? [],
    /** @returns {Promise<Project[]>} */
    projects: async () => (await call("api/projects")).projects ?? [],
    /**
     * @param {string} graph
     * @param {Record<string, unknown>} params
     * @returns {Promise<Project>}
     */
    create: (graph, params) => call("api/projects", { method: "POST", body: { graph, params } }),
    /** @param {string} id @returns {Promise<Project>} */
    execute: (id) => call(`${project(id)}/execute`, { method: "POST" }),
    /**
     * Continue the project's interrupted, failed or cancelled run: its done nodes are not run again.
     *
     * @param {string} id @returns {Promise<Project>}
     */
    continueRun: (id) => call(`${project(id)}/continue`, { method: "POST" }),
    /**
     * A page of every run, stored ones included, newest first.
     *
     * @param {{name?: string, status?: string, cursor?: string, limit?: number}} query
     * @returns {Promise<{runs: import("./history.js").RunItem[], next: string | null, total: number}>}
     */
    runs: (query) => call(`api/runs${runsQuery(query)}`),
  };
}

/** @typedef {ReturnType<typeof createApi>} Api */

/**
 * The query string of `GET api/runs` (a `runs` request's fields; `type` and
 * empty fields left out).
 *
 * @param {{name?: string, status?: string, cursor?: string, limit?: number}} query
 * @returns {string} "" or `?name=…&limit=…`
 */
export function runsQuery(query) {
  const params = new URLSearchParams();
  for (const key of /** @type {const} */ (["name", "status", "cursor", "limit"])) {
    const value = query[key];
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * The params a graph's form starts with: each param's default, `null` for required ones.
 *
 * @param {GraphInfo | undefined} graph
 * @returns {string} JSON, pretty-printed
 */
export function defaultParams(graph) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const p of graph?.params ?? []) out[p.name] = "default" in p ? p.default : null;
  return Object.keys(out).length ? JSON.stringify(out, null, 2) : "{}";
}

/**
 * Parse the params typed in the form.
 *
 * @param {string} text
 * @returns {{params: Record<string, unknown>} | {error: string}}
 */
export function parseParams(text) {
  const trimmed = text.trim();
  if (!trimmed) return { params: {} };
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    return { error: `not JSON: ${error instanceof Error ? error.message : error}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: "params must be a JSON object, e.g. {\"n\": 10}" };
  }
  return { params: value };
}
