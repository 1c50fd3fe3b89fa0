import { describe, expect, it } from "vitest";
import {
  MAX_REFRESH,
  PAGE,
  ago,
  createHistory,
  describeRun,
  failPage,
  filterHistory,
  receivePage,
  refreshRequest,
  runsRequest,
  startLoading,
} from "../src/history.js";

/** @param {string} id @param {Partial<import("../src/history.js").RunItem>} [fields] */
const run = (id, fields = {}) => ({ id, name: id.split("-")[0], status: "done", created: 1000, counts: {}, total: 0, ...fields });

describe("the run list's requests", () => {
  it("asks for the first page with no filters", () => {
    expect(runsRequest(createHistory(), false)).toEqual({ type: "runs", limit: PAGE });
  });

  it("sends the filters, and the cursor only for the next page", () => {
    let state = filterHistory(createHistory(), { name: "  rep ", status: "interrupted" });
    state = receivePage(state, state.query, { runs: [run("report-1")], next: "1000|report-1", total: 40 }, false);
    expect(runsRequest(state, false)).toEqual({ type: "runs", limit: PAGE, name: "rep", status: "interrupted" });
    expect(runsRequest(state, true)).toEqual({
      type: "runs",
      limit: PAGE,
      name: "rep",
      status: "interrupted",
      cursor: "1000|report-1",
    });
  });

  it("refreshes every row shown in one request, within the server's limit", () => {
    let state = createHistory();
    expect(refreshRequest(state).limit).toBe(PAGE);
    const many = Array.from({ length: 60 }, (_, i) => run(`r-${i}`));
    state = receivePage(state, 0, { runs: many, next: "x", total: 90 }, false);
    expect(refreshRequest(state)).toEqual({ type: "runs", limit: 60 });
    state = receivePage(state, 0, { runs: Array.from({ length: 700 }, (_, i) => run(`s-${i}`)), next: null }, false);
    expect(refreshRequest(state).limit).toBe(MAX_REFRESH);
  });
});

describe("the run list's pages", () => {
  it("replaces the rows with a first page and appends the next one without repeats", () => {
    let state = startLoading(createHistory());
    expect(state.loading).toBe(true);
    state = receivePage(state, 0, { runs: [run("c-3"), run("b-2")], next: "cur", total: 3 }, false);
    expect(state).toMatchObject({ next: "cur", total: 3, loading: false, error: "" });
    // A run stored meanwhile may shift a page: one already listed is not listed twice.
    state = receivePage(state, 0, { runs: [run("b-2"), run("a-1")], next: null, total: 3 }, true);
    expect(state.runs.map((r) => r.id)).toEqual(["c-3", "b-2", "a-1"]);
    expect(state.next).toBeNull();
  });

  it("drops answers to an older filter", () => {
    const first = createHistory();
    const typed = filterHistory(first, { name: "crawl" });
    expect(typed.query).toBe(first.query + 1);
    expect(receivePage(typed, first.query, { runs: [run("x-1")], next: null, total: 1 }, false)).toBe(typed);
    expect(failPage(typed, first.query, "late")).toBe(typed);
  });

  it("keeps the same state for the same filters, and starts over for new ones", () => {
    let state = receivePage(createHistory(), 0, { runs: [run("a-1")], next: "n", total: 9 }, false);
    expect(filterHistory(state, { name: "", status: "" })).toBe(state);
    state = filterHistory(state, { status: "failed" });
    expect(state).toMatchObject({ runs: [], next: null, total: null, status: "failed", name: "" });
  });

  it("ignores malformed rows and says why a page failed, keeping the rows", () => {
    let state = receivePage(
      createHistory(),
      0,
      { runs: [run("a-1"), null, { id: "" }, { id: 5, status: "done" }, "x"], next: 7, total: "many" },
      false,
    );
    expect(state.runs.map((r) => r.id)).toEqual(["a-1"]);
    expect(state.next).toBeNull();
    expect(state.total).toBeNull();
    state = failPage(startLoading(state), 0, "no answer to runs after 30 s");
    expect(state).toMatchObject({ loading: false, error: "no answer to runs after 30 s" });
    expect(state.runs).toHaveLength(1);
  });
});

describe("a row", () => {
  const now = 1_000_000;

  it("describes a finished run: name, age, duration, counts", () => {
    const row = describeRun(
      run("report-1", { created: now - 125, ended: 4.25, counts: { done: 5, failed: 1, pending: 0 }, total: 6, status: "failed" }),
      now,
    );
    expect(row).toMatchObject({
      name: "report",
      created: "2 min ago",
      duration: "4.3 s",
      finished: 6,
      counts: "6 / 6 · 1 failed",
      countsTitle: "done 5, failed 1",
      continuable: true,
    });
  });

  it("counts a running run's duration live and an interrupted one's as unknown", () => {
    expect(describeRun(run("a-1", { status: "running", created: now - 12 }), now).duration).toBe("12.0 s");
    const interrupted = describeRun(run("b-1", { status: "interrupted", created: now - 30, counts: { done: 3, running: 1 }, total: 8 }), now);
    expect(interrupted).toMatchObject({ duration: "–", counts: "3 / 8", continuable: true });
    expect(describeRun(run("c-1", { status: "done" }), now).continuable).toBe(false);
    expect(describeRun(run("c-1", { name: "" }), now).name).toBe("c-1");
  });

  it("says how long ago", () => {
    expect(ago(0, now)).toBe("");
    expect(ago(now - 5, now)).toBe("5 s ago");
    expect(ago(now - 3 * 3600, now)).toBe("3 h ago");
    expect(ago(now + 10, now)).toBe("0 s ago");
  });
});
