import { describe, expect, it } from "vitest";
import { frozenClock } from "../src/view.js";

/** @param {Record<string, any>} run @param {Record<string, any>} nodes */
const state = (run, nodes) => ({ run: { id: "r", name: "r", status: "interrupted", counts: {}, total: 0, created: 1, stored: true, ...run }, nodes, edges: [] });

describe("a stored run's clock", () => {
  it("stops at the run's end", () => {
    expect(frozenClock(/** @type {any} */ (state({ status: "failed", ended: 4.2 }, { a: { status: "done", started: 0, ended: 9 } })))).toBe(4.2);
  });

  it("stops at the last start or end of a node when the run was interrupted", () => {
    const s = state({}, { a: { status: "done", started: 0, ended: 0.3 }, b: { status: "running", started: 0.7 }, c: { status: "pending" } });
    expect(frozenClock(/** @type {any} */ (s))).toBe(0.7);
    expect(frozenClock(/** @type {any} */ (state({}, { c: { status: "pending" } })))).toBe(0);
  });
});
