import { describe, expect, it } from "vitest";
import {
  cardMetric,
  formatMetric,
  formatNumber,
  metricRows,
  overBudget,
  progressFraction,
  progressText,
  runMetricsText,
} from "../src/metrics.js";
import { formatDuration } from "../src/format.js";
import { noteFor } from "../src/render.js";

describe("progress", () => {
  it("fractions are clamped, and null without a total", () => {
    expect(progressFraction({ done: 3, total: 10 })).toBe(0.3);
    expect(progressFraction({ done: 30, total: 10 })).toBe(1);
    expect(progressFraction({ done: -1, total: 10 })).toBe(0);
    expect(progressFraction({ done: 3 })).toBeNull();
    expect(progressFraction({ done: 3, total: 0 })).toBeNull();
    expect(progressFraction(undefined)).toBeNull();
  });

  it("texts", () => {
    expect(progressText({ done: 3, total: 10 })).toBe("3/10");
    expect(progressText({ done: 5000, total: 20000 })).toBe("25 %");
    expect(progressText({ done: 7 })).toBe("7");
    expect(progressText(undefined)).toBe("");
  });

  it("a running card shows its progress beside its time", () => {
    expect(noteFor({ status: "running", attempt: 1, started: 2, progress: { done: 3, total: 10 } }, 4)).toBe(`3/10 · ${formatDuration(2)}`);
    expect(noteFor({ status: "running", attempt: 2, progress: { done: 1, total: 4 } })).toBe("try 2 · 1/4");
  });
});

describe("metrics", () => {
  it.each([
    [0, "0"],
    [1234, "1,234"],
    [0.30000000000000004, "0.3"],
    [0.012345, "0.0123"],
    [123.456, "123.5"],
    [2500000, "2.5M"],
    [3e9, "3G"],
    [1e300, "1.00e+300"],
    [-5, "-5"],
  ])("formatNumber(%s) is %s", (value, text) => {
    expect(formatNumber(value)).toBe(text);
  });

  it("a done card shows its cost, else its output tokens", () => {
    expect(cardMetric({ cost: 0.25, tokens_out: 10 })).toBe("cost 0.25");
    expect(cardMetric({ tokens_out: 10 })).toBe("tokens_out 10");
    expect(cardMetric({ other: 1 })).toBe("");
    expect(noteFor({ status: "done", started: 1, ended: 2, metrics: { cost: 1.5 } })).toBe(`${formatDuration(1)} · cost 1.5`);
    expect(noteFor({ status: "done", metrics: { cost: 1.5 } })).toBe("cost 1.5");
  });

  it("details rows, names as given (markup is text)", () => {
    const rows = metricRows(
      { progress: { done: 2, total: 8, note: "<b>x</b>" }, metrics: { "<img>": 3, tokens_in: 1200 } },
      { tokens_in: "tokens" },
    );
    expect(rows).toEqual([
      ["Progress", "2/8 (25 %) · <b>x</b>"],
      ["<img>", "3"],
      ["tokens_in", "1,200 tokens"],
    ]);
    expect(metricRows({})).toEqual([]);
  });

  it("the run's roll-ups, budgeted ones first", () => {
    const run = { metrics: { tokens_in: 1200, cost: 5.2, x: 1, y: 2 }, units: { tokens_in: "tokens" }, budgets: { cost: 5 } };
    expect(runMetricsText(run)).toBe("cost 5.2 / 5 · tokens_in 1,200 tokens · x 1");
    expect(overBudget(run)).toBe(true);
    expect(overBudget({ metrics: { cost: 4 }, budgets: { cost: 5 } })).toBe(false);
    expect(runMetricsText({})).toBe("");
    expect(formatMetric("cost", 2, "USD")).toBe("cost 2 USD");
  });
});
