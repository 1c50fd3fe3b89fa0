import { describe, expect, it } from "vitest";
import { controlSettled } from "../src/status.js";

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
