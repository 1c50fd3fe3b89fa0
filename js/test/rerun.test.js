import { describe, expect, it } from "vitest";
import { noteFor } from "../src/render.js";
import {
  cachedOf,
  isReused,
  lineage,
  rerunAnswer,
  rerunBlock,
  rerunNotice,
  reusedText,
  shortRunId,
} from "../src/rerun.js";
import { createControls } from "../src/view-controls.js";

/** @param {Record<string, unknown>} fields */
const run = (fields) => /** @type {import("../src/reducer.js").RunInfo} */ ({
  id: "report-1a2b3c4d",
  name: "report",
  counts: {},
  total: 3,
  created: 1,
  status: "done",
  ...fields,
});

describe("when a run can be rerun", () => {
  it("once it has ended: done, failed or cancelled", () => {
    for (const status of ["done", "failed", "cancelled"]) expect(rerunBlock(run({ status }))).toBe("");
  });

  it("not while it runs or is paused, and the reason says why", () => {
    expect(rerunBlock(run({ status: "running" }))).toMatch(/has not ended.*done, failed or cancelled/);
    expect(rerunBlock(run({ status: "paused" }))).toMatch(/paused/);
    expect(rerunBlock(null)).toMatch(/No run/);
    expect(rerunBlock(undefined)).not.toBe("");
  });

  it("a stored run: with its graph, ended or interrupted; never one going on elsewhere", () => {
    expect(rerunBlock(run({ stored: true, continuable: true, status: "interrupted" }))).toBe("");
    expect(rerunBlock(run({ stored: true, continuable: true, status: "done" }))).toBe("");
    expect(rerunBlock(run({ stored: true, status: "done" }))).toMatch(/no graph.*graph=g/);
    expect(rerunBlock(run({ stored: true, continuable: true, status: "running" }))).toMatch(/another process/);
  });

  it("the server finds a stored project's graph itself", () => {
    expect(rerunBlock(run({ stored: true, status: "done" }), { storedNeedsGraph: false })).toBe("");
  });

  it("a view that cannot rerun says so whatever the run", () => {
    expect(rerunBlock(run({}), { refused: "open its project" })).toBe("open its project");
  });
});

describe("a reused node", () => {
  it("is one whose summary says where its result was made", () => {
    const node = { status: "done", cached: { run: "report-00000001", node: "load" } };
    expect(isReused(node)).toBe(true);
    expect(cachedOf(node)).toEqual({ run: "report-00000001", node: "load" });
    expect(reusedText({ run: "report-00000001", node: "load" })).toBe("Reused from run report-00000001 (node load)");
  });

  it("a malformed `cached` is no reuse, and nothing breaks", () => {
    for (const cached of [null, "yes", 1, {}, { run: "", node: "x" }, { run: "r", node: 2 }]) {
      expect(isReused(/** @type {any} */ ({ status: "done", cached }))).toBe(false);
    }
    expect(isReused({ status: "done" })).toBe(false);
    expect(isReused(undefined)).toBe(false);
  });

  it("its card's note is `reused`, not a duration it did not take", () => {
    expect(noteFor({ status: "done", started: 0.1, ended: 0.1, cached: { run: "r", node: "a" } })).toBe("reused");
    expect(noteFor({ status: "done", started: 0.1, ended: 0.35 })).toBe("0.25 s");
  });
});

describe("what the view says of a rerun", () => {
  it("a run id's short form is its hex part; other ids are cut", () => {
    expect(shortRunId("report-1a2b3c4d")).toBe("1a2b3c4d");
    expect(shortRunId("my-long-graph-name-DEADBEEF")).toBe("DEADBEEF");
    expect(shortRunId("short")).toBe("short");
    expect(shortRunId("a-run-id-of-some-length")).toBe("a-run-id-of…");
  });

  it("rerun of <short id> and the reuse count, with what ran in the tooltip", () => {
    const l = lineage(run({ parent_run: "report-99990000", cache: { hits: 12, misses: 2, uncacheable: 1 } }));
    expect(l).toMatchObject({ parent: "report-99990000", short: "99990000", reused: 12, reusedLabel: "12 reused" });
    expect(l?.title).toMatch(/^12 nodes reused, 2 ran, 1 uncacheable/);
    expect(l?.title).toMatch(/parent run or the cache/);
  });

  it("a cache hit without a parent run is counted; a run with neither says nothing", () => {
    expect(lineage(run({ cache: { hits: 1, misses: 0, uncacheable: 0 } }))).toMatchObject({
      parent: "",
      reusedLabel: "1 reused",
      title: expect.stringMatching(/^1 node reused.*from the cache,/),
    });
    expect(lineage(run({ cache: { hits: 0, misses: 3, uncacheable: 0 } }))).toBeNull();
    expect(lineage(run({}))).toBeNull();
    expect(lineage(null)).toBeNull();
  });

  it("a rerun that reused nothing still names its parent", () => {
    expect(lineage(run({ parent_run: "report-00000002", cache: { hits: 0, misses: 3 } }))).toMatchObject({
      short: "00000002",
      reusedLabel: "",
    });
  });

  it("the notice says what is rerun", () => {
    expect(rerunNotice(["clean"], "Clean rows")).toBe("Rerunning from Clean rows…");
    expect(rerunNotice(["clean"])).toBe("Rerunning from clean…");
    expect(rerunNotice(null)).toBe("Rerunning what changed…");
    expect(rerunNotice(["a", "b"])).toBe("Rerunning from 2 nodes…");
  });

  it("an answer names the new run; anything else names none", () => {
    expect(rerunAnswer({ type: "rerun", run_id: "r-2", parent_run: "r-1", id: 4 })).toEqual({ runId: "r-2", parentRun: "r-1" });
    expect(rerunAnswer({ type: "ok" })).toBeNull();
    expect(rerunAnswer({ type: "rerun", run_id: "" })).toBeNull();
    expect(rerunAnswer(null)).toBeNull();
  });
});

/**
 * The controls with a fake store and notices: what the rerun request does.
 *
 * @param {{answer: (m: Record<string, any>) => Promise<Record<string, any>>, follows?: boolean, status?: string}} options
 */
function controls({ answer, follows = false, status = "done" }) {
  /** @type {Record<string, any>[]} */
  const sent = [];
  /** @type {[string, string][]} */
  const shown = [];
  /** @type {string[]} */
  const switched = [];
  let changes = 0;
  /** @type {[Record<string, any> | null, string[] | null][]} */
  const answered = [];
  const store = /** @type {any} */ ({
    client: {
      state: {
        run: run({ status, id: "counted-00000001" }),
        nodes: { clean: { status: "done", label: "Clean rows" } },
        edges: [],
      },
    },
    request: (/** @type {Record<string, any>} */ m) => (sent.push(m), answer(m)),
    runId: () => "counted-00000001",
    switchRun: (/** @type {string} */ id) => switched.push(id),
  });
  const notices = /** @type {any} */ ({
    show: (/** @type {string} */ level, /** @type {string} */ text) => shown.push([level, text]),
    expect() {},
    settle() {},
  });
  const c = createControls({
    store,
    toolbar: /** @type {any} */ ({ continueButton: {} }),
    notices,
    continueRun: undefined,
    follows,
    changed: () => changes++,
    rerunning: (next, nodes) => answered.push([next, nodes]),
  });
  return { c, sent, shown, switched, answered, changes: () => changes };
}

describe("the rerun control", () => {
  it("sends the node, says what it reruns, and is off while the answer comes", async () => {
    const t = controls({ answer: async () => ({ type: "rerun", run_id: "counted-00000002", parent_run: "counted-00000001" }) });
    const going = t.c.rerun(["clean"]);
    expect(t.sent).toEqual([{ type: "rerun", nodes: ["clean"] }]);
    expect(t.c.rerunBlock()).toMatch(/asked for/);
    await expect(t.c.rerun(["clean"])).resolves.toBeNull(); // a double click asks once
    expect(t.sent).toHaveLength(1);
    expect(await going).toEqual({ runId: "counted-00000002", parentRun: "counted-00000001" });
    expect(t.c.rerunBlock()).toBe("");
    expect(t.shown.at(-1)).toEqual(["info", "Rerunning from Clean rows…"]);
    expect(t.answered).toEqual([[{ runId: "counted-00000002", parentRun: "counted-00000001" }, ["clean"]]]);
    expect(t.switched).toEqual([]); // the kernel moves a single run's view itself
    expect(t.changes()).toBeGreaterThanOrEqual(2);
  });

  it("`nodes: null` reruns what changed; a view that chooses its run follows the answer", async () => {
    const t = controls({ follows: true, answer: async () => ({ type: "rerun", run_id: "counted-00000003", parent_run: "counted-00000001" }) });
    await t.c.rerun(null);
    expect(t.sent).toEqual([{ type: "rerun", nodes: null }]);
    expect(t.shown.at(-1)).toEqual(["info", "Rerunning what changed…"]);
    expect(t.switched).toEqual(["counted-00000003"]);
  });

  it("an error answer shows as an error notice, and the control is on again", async () => {
    const t = controls({ answer: async () => Promise.reject(new Error("no node 'x' in run counted-00000001")) });
    expect(await t.c.rerun(["x"])).toBeNull();
    expect(t.shown.at(-1)).toEqual(["error", "rerun: no node 'x' in run counted-00000001"]);
    expect(t.c.rerunBlock()).toBe("");
    expect(t.answered).toEqual([]);
  });

  it("a run that has not ended is not asked: the notice says why", async () => {
    const t = controls({ status: "running", answer: async () => ({ type: "rerun", run_id: "x" }) });
    expect(await t.c.rerun(null)).toBeNull();
    expect(t.sent).toEqual([]);
    expect(t.shown.at(-1)?.[1]).toMatch(/^Rerun: The run has not ended/);
  });
});
