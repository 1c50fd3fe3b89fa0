import { describe, expect, it } from "vitest";
import { ApiError, adoptToken, createApi, defaultParams, parseParams, runsQuery, saveToken } from "../src/page-api.js";

/** A Storage stand-in. */
function memoryStorage() {
  /** @type {Map<string, string>} */
  const data = new Map();
  return /** @type {Storage} */ (
    /** @type {unknown} */ ({
      getItem: (/** @type {string} */ k) => data.get(k) ?? null,
      setItem: (/** @type {string} */ k, /** @type {string} */ v) => data.set(k, v),
      removeItem: (/** @type {string} */ k) => data.delete(k),
    })
  );
}

/** @param {string} href */
function place(href) {
  const calls = /** @type {string[]} */ ([]);
  const location = /** @type {Location} */ (/** @type {unknown} */ ({ href }));
  const history = /** @type {History} */ (
    /** @type {unknown} */ ({ state: null, replaceState: (/** @type {any} */ _s, /** @type {string} */ _t, /** @type {string} */ url) => calls.push(url) })
  );
  return { location, history, calls };
}

describe("the token", () => {
  it("is taken from the URL into storage, and out of the address bar", () => {
    const storage = memoryStorage();
    const { location, history, calls } = place("http://127.0.0.1:8765/x/?a=1&token=s3cr%2Bt#project=p");
    expect(adoptToken(location, history, storage)).toBe("s3cr+t");
    expect(calls).toEqual(["/x/?a=1#project=p"]);
    expect(storage.getItem("taskbeam.token")).toBe("s3cr+t");
    const again = place("http://127.0.0.1:8765/x/");
    expect(adoptToken(again.location, again.history, storage)).toBe("s3cr+t");
    expect(again.calls).toEqual([]);
    saveToken(storage, "");
    expect(adoptToken(again.location, again.history, storage)).toBe("");
  });

  it("works without storage", () => {
    const { location, history } = place("http://h/?token=t");
    expect(adoptToken(location, history, null)).toBe("t");
  });
});

describe("createApi", () => {
  /**
   * @param {number} status
   * @param {unknown} body
   */
  function fetcher(status, body) {
    /** @type {{url: string, init: RequestInit}[]} */
    const calls = [];
    /** @type {typeof fetch} */
    const fn = async (url, init) => {
      calls.push({ url: String(url), init: init ?? {} });
      return new Response(typeof body === "string" ? body : JSON.stringify(body), { status });
    };
    return { fn, calls };
  }

  it("sends the token and relative URLs, and JSON bodies", async () => {
    const { fn, calls } = fetcher(201, { id: "g-1", status: "running" });
    const api = createApi(() => "T", fn);
    expect(await api.create("g", { n: 2 })).toEqual({ id: "g-1", status: "running" });
    expect(calls[0].url).toBe("api/projects");
    expect(calls[0].init.method).toBe("POST");
    expect(calls[0].init.body).toBe('{"graph":"g","params":{"n":2}}');
    expect(/** @type {Record<string, string>} */ (calls[0].init.headers).Authorization).toBe("Bearer T");
    await api.execute("a/b c");
    expect(calls[1].url).toBe("api/projects/a%2Fb%20c/execute");
  });

  it("continues a project and reads pages of runs", async () => {
    const { fn, calls } = fetcher(200, { runs: [], next: null, total: 0 });
    const api = createApi(() => "", fn);
    await api.continueRun("p-chain-1");
    expect(calls[0]).toMatchObject({ url: "api/projects/p-chain-1/continue", init: { method: "POST" } });
    expect(await api.runs({ name: "a b", status: "failed,interrupted", cursor: "1.5|r-1", limit: 25 })).toEqual({
      runs: [],
      next: null,
      total: 0,
    });
    expect(calls[1].url).toBe("api/runs?name=a+b&status=failed%2Cinterrupted&cursor=1.5%7Cr-1&limit=25");
  });

  it("sends no Authorization header without a token", async () => {
    const { fn, calls } = fetcher(200, { projects: [] });
    expect(await createApi(() => "", fn).projects()).toEqual([]);
    expect(/** @type {Record<string, string>} */ (calls[0].init.headers).Authorization).toBeUndefined();
  });

  it("turns error answers into ApiError with the server's message", async () => {
    const api = createApi(() => "T", fetcher(422, { error: "graph 'g': n must be positive" }).fn);
    const error = await api.create("g", {}).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.message).toBe("graph 'g': n must be positive");
    const html = await createApi(() => "", fetcher(502, "<html>").fn).projects().catch((e) => e);
    expect(html.status).toBe(502);
    const down = createApi(() => "", async () => {
      throw new TypeError("Failed to fetch");
    });
    expect((await down.graphs().catch((e) => e)).status).toBe(0);
  });
});

describe("params", () => {
  it("start from the defaults, null for required ones", () => {
    const graph = {
      name: "g",
      description: "",
      params: [
        { name: "topic", required: true },
        { name: "depth", required: false, default: 2 },
      ],
    };
    expect(JSON.parse(defaultParams(graph))).toEqual({ topic: null, depth: 2 });
    expect(defaultParams({ name: "g", description: "", params: [] })).toBe("{}");
    expect(defaultParams(undefined)).toBe("{}");
  });

  it("must be a JSON object", () => {
    expect(parseParams(' {"n": 3} ')).toEqual({ params: { n: 3 } });
    expect(parseParams("")).toEqual({ params: {} });
    expect(parseParams("[1]")).toHaveProperty("error");
    expect(parseParams("{n: 3}")).toHaveProperty("error");
  });
});

describe("runsQuery", () => {
  it("leaves out empty fields and anything that is not a filter", () => {
    expect(runsQuery({})).toBe("");
    expect(runsQuery({ name: "", status: "done", limit: 5 })).toBe("?status=done&limit=5");
    expect(runsQuery(/** @type {any} */ ({ type: "runs", limit: 1 }))).toBe("?limit=1");
  });
});
