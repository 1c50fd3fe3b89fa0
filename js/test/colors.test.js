import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { css, luminance, mix, pack } from "../src/colors.js";
import { FINISHED, FINISHED_INDEX, RUN_ENDED, STATUSES, statusClass, statusIndex } from "../src/status.js";

describe("statuses", () => {
  it("lists the eleven node statuses in a node's order of life", () => {
    expect(STATUSES).toEqual([
      "pending",
      "ready",
      "running",
      "waiting",
      "retrying",
      "expanded",
      "aggregating",
      "done",
      "failed",
      "cancelled",
      "skipped",
    ]);
  });

  it("maps a status to its index and class; an unknown one counts as pending", () => {
    expect(statusIndex("done")).toBe(7);
    expect(statusClass("failed")).toBe("tb-status-failed");
    expect(statusIndex("mystery")).toBe(0);
    expect(statusClass(undefined)).toBe("tb-status-pending");
  });

  it("knows which statuses are final", () => {
    expect([...FINISHED].sort()).toEqual(["cancelled", "done", "failed", "skipped"]);
    expect(STATUSES.filter((_, i) => FINISHED_INDEX[i])).toEqual(["done", "failed", "cancelled", "skipped"]);
    expect([...RUN_ENDED].sort()).toEqual(["cancelled", "done", "failed"]);
  });
});

describe("colours", () => {
  it("mixes two colours", () => {
    expect(mix([255, 255, 255], [0, 0, 0], 0)).toEqual([255, 255, 255]);
    expect(mix([255, 255, 255], [0, 0, 0], 1)).toEqual([0, 0, 0]);
    expect(mix([255, 255, 255], [56, 142, 60], 0.14)).toEqual([227, 239, 228]);
  });

  it("writes CSS and ImageData words", () => {
    expect(css([1, 2, 3])).toBe("rgb(1, 2, 3)");
    const word = pack([0x11, 0x22, 0x33]);
    const bytes = new Uint8Array(Uint32Array.of(word).buffer);
    expect(Array.from(bytes)).toEqual([0x11, 0x22, 0x33, 0xff]); // little-endian RGBA, as ImageData holds it
  });

  it("tells light from dark", () => {
    expect(luminance([255, 255, 255])).toBeCloseTo(1);
    expect(luminance([0, 0, 0])).toBe(0);
    expect(luminance([17, 17, 17])).toBeLessThan(0.4);
  });
});

describe("the waiting status", () => {
  const css = readFileSync(new URL("../src/style.css", import.meta.url), "utf8");
  const page = readFileSync(new URL("../src/page.css", import.meta.url), "utf8");

  it("is teal: #0f9488 on light themes, #2dd4bf on dark ones, in the view and the page", () => {
    expect(css).toContain(".taskbeam-view .tb-status-waiting { --tb-color: var(--tb-status-waiting, #0f9488); }");
    expect(css).toMatch(
      /body\[data-jp-theme-light="false"\] \.taskbeam-view \.tb-status-waiting \{\s*--tb-color: var\(--tb-status-waiting, #2dd4bf\);/,
    );
    expect(page).toContain("--tb-status-waiting: #0f9488;");
    expect(page).toContain("--tb-status-waiting: #2dd4bf;");
  });

  it("has a legend item and a canvas colour like every status", () => {
    expect(STATUSES).toContain("waiting");
    expect(statusClass("waiting")).toBe("tb-status-waiting");
    expect(statusIndex("waiting")).toBe(3);
  });
});
