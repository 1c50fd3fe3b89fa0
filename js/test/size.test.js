import { describe, expect, it } from "vitest";
import {
  AUTO_MAX,
  AUTO_MIN,
  LEGIBLE_PX,
  LEGIBLE_WIDTH,
  MAX_HEIGHT,
  MIN_HEIGHT,
  autoCamera,
  autoScale,
  clampHeight,
  fitHeight,
  legibleScale,
  nodeWidthFor,
  startTy,
  NODE_WIDTH,
  NODE_WIDTH_MAX,
} from "../src/size.js";

describe("clampHeight", () => {
  it.each([
    [500, 500],
    [500.6, 501],
    [10, MIN_HEIGHT],
    [-40, MIN_HEIGHT],
    [1e9, MAX_HEIGHT],
    [Number.NaN, AUTO_MIN],
    [Number.POSITIVE_INFINITY, AUTO_MIN],
  ])("clampHeight(%s) is %s", (px, want) => {
    expect(clampHeight(px)).toBe(want);
  });
});

describe("legibleScale", () => {
  it("keeps a 168 × 34 card's label at 10 px on a card 100 px wide", () => {
    const s = legibleScale(168, 34);
    expect(s).toBeCloseTo(Math.max(LEGIBLE_PX / (34 * 0.66), LEGIBLE_WIDTH / 168), 9);
    expect(168 * s).toBeGreaterThanOrEqual(LEGIBLE_WIDTH - 1e-9);
    expect(34 * 0.66 * s).toBeGreaterThanOrEqual(LEGIBLE_PX - 1e-9);
  });
  it("is 0 for no node", () => {
    expect(legibleScale(0, 34)).toBe(0);
    expect(legibleScale(168, Number.NaN)).toBe(0);
  });
});

describe("autoScale", () => {
  it("fits the whole graph when that is legible", () => {
    expect(autoScale({ fit: 0.9, floor: 0.6, maxScale: 1.25 })).toBe(0.9);
  });
  it("stops at the floor for a graph too big to show whole", () => {
    expect(autoScale({ fit: 0.2, floor: 0.6, maxScale: 1.25 })).toBe(0.6);
  });
  it("never zooms in past the cap", () => {
    expect(autoScale({ fit: 4, floor: 0.6, maxScale: 1.25 })).toBe(1.25);
  });
});

describe("fitHeight", () => {
  const base = { stageWidth: 1000, chrome: 80, margin: 24, maxScale: 1.25, floor: 0.6 };
  it("a small graph gets the smallest height", () => {
    expect(fitHeight({ ...base, graphWidth: 200, graphHeight: 34 })).toBe(AUTO_MIN);
  });
  it("a tall graph stops at the largest", () => {
    expect(fitHeight({ ...base, graphWidth: 400, graphHeight: 5000 })).toBe(AUTO_MAX);
  });
  it("in between, the graph's height at its fit plus the rows around it", () => {
    // fit = (1000 - 48) / 952 = 1 → 80 + 400 + 48
    expect(fitHeight({ ...base, graphWidth: 952, graphHeight: 400 })).toBe(528);
  });
  it("a wide graph is measured at the legible floor, not at its tiny fit", () => {
    // fit = 952 / 9520 = 0.1 < floor 0.6 → 80 + 600 * 0.6 + 48 = 488
    expect(fitHeight({ ...base, graphWidth: 9520, graphHeight: 600 })).toBe(488);
  });
  it("no graph or no width: the smallest", () => {
    expect(fitHeight({ ...base, graphWidth: 0, graphHeight: 10 })).toBe(AUTO_MIN);
    expect(fitHeight({ ...base, stageWidth: 0, graphWidth: 10, graphHeight: 10 })).toBe(AUTO_MIN);
  });
});

describe("autoCamera", () => {
  it("centres a graph that fits", () => {
    expect(autoCamera({ s: 1, graphWidth: 100, graphHeight: 50, width: 300, height: 150, margin: 24 })).toEqual({
      s: 1,
      tx: 100,
      ty: 50,
    });
  });
  it("shows a graph's start (left, top) when it does not fit", () => {
    expect(autoCamera({ s: 0.5, graphWidth: 4000, graphHeight: 2000, width: 800, height: 400, margin: 24 })).toEqual({
      s: 0.5,
      tx: 24,
      ty: 24,
    });
  });
});

describe("nodeWidthFor", () => {
  it("keeps the standard width for short names", () => {
    expect(nodeWidthFor([40, 60, 80])).toBe(NODE_WIDTH);
    expect(nodeWidthFor([])).toBe(NODE_WIDTH);
  });
  it("widens cards for nine names in ten, plus room for a note", () => {
    const widths = [100, 120, 140, 150, 160, 170, 180, 190, 200, 400];
    expect(nodeWidthFor(widths)).toBe(NODE_WIDTH_MAX);
    expect(nodeWidthFor(widths.slice(0, 9))).toBe(200 + 64);
  });
  it("never past the widest card", () => {
    expect(nodeWidthFor([1000, 1000])).toBe(NODE_WIDTH_MAX);
  });
});

describe("startTy", () => {
  const base = { s: 1, height: 400, graphHeight: 2000, margin: 24 };
  it("centres the first columns' nodes when they fit", () => {
    // nodes 900…1100 → their middle (1000) at the canvas's middle (200)
    expect(startTy({ ...base, lo: 900, hi: 1100 })).toBe(-800);
  });
  it("shows them from their top when they do not", () => {
    expect(startTy({ ...base, lo: 300, hi: 1500 })).toBe(24 - 300);
  });
  it("never past the graph's top or bottom", () => {
    expect(startTy({ ...base, lo: 0, hi: 100 })).toBe(24);
    expect(startTy({ ...base, lo: 1900, hi: 2000 })).toBe(400 - 24 - 2000);
  });
  it("no nodes: the top", () => {
    expect(startTy({ ...base, lo: Infinity, hi: -Infinity })).toBe(24);
  });
});
