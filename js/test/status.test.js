import { describe, expect, it } from "vitest";
import { CONTINUABLE, RUN_STATUSES, controlSettled, runStatusClass } from "../src/status.js";
import { noteFor } from "../src/render.js";

describe("controlSettled", () => {
  it.each([
    ["pause", "running", false],
    ["pause", "paused", true],
    ["resume", "paused", false],
    ["resume", "running", true],
    ["cancel", "running", false],
    ["cancel", "paused", false],
    ["cancel", "cancelled", true],
    ["cancel", "failed", true],
    ["pause", "done", true],
  ])("%s while the run is %s: settled %s", (kind, status, want) => {
    expect(controlSettled(/** @type {"pause" | "resume" | "cancel"} */ (kind), status)).toBe(want);
  });
});

describe("run statuses", () => {
  it("lists a run's statuses, interrupted included, each with its class", () => {
    expect(RUN_STATUSES).toEqual(["running", "paused", "done", "failed", "cancelled", "interrupted"]);
    expect(runStatusClass("interrupted")).toBe("tb-status-interrupted");
    expect(runStatusClass("paused")).toBe("tb-status-paused");
    expect(runStatusClass("done")).toBe("tb-status-done");
    expect(runStatusClass("mystery")).toBe("tb-status-pending");
    expect(runStatusClass(undefined)).toBe("tb-status-pending");
  });

  it("continues runs that did not finish", () => {
    expect([...CONTINUABLE].sort()).toEqual(["cancelled", "failed", "interrupted"]);
  });

  it("says a running node of an interrupted stored run stopped", () => {
    expect(noteFor({ status: "running", started: 1 }, null)).toBe("stopped");
    expect(noteFor({ status: "running", started: 1, attempt: 2 }, null)).toBe("try 2 · stopped");
    expect(noteFor({ status: "running", started: 1 }, undefined)).toBe("running");
    expect(noteFor({ status: "running", started: 1 }, 3.5)).toBe("2.5 s");
  });
});

describe("a waiting node's note", () => {
  it("says it asks, and how many questions when more than one", () => {
    expect(noteFor({ status: "waiting" })).toBe("question");
    expect(noteFor({ status: "waiting", questions: 3 })).toBe("3 questions");
  });
});
