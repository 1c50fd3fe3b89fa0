import { describe, expect, it } from "vitest";
import { formatCount, formatDuration, formatRate, localName, RateMeter } from "../src/format.js";

describe("format", () => {
  it.each([
    [undefined, "–"],
    [0.421, "0.42 s"],
    [12.34, "12.3 s"],
    [245, "4:05"],
    [7389, "2:03:09"],
  ])("formatDuration(%s) is %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it("counts and rates", () => {
    expect(formatCount(12345)).toBe("12,345");
    expect(formatRate(0)).toBe("0");
    expect(formatRate(0.25)).toBe("0.25");
    expect(formatRate(3.44)).toBe("3.4");
    expect(formatRate(1200)).toBe("1,200");
  });

  it("shows a child by its own name", () => {
    expect(localName("plan/step_3", "plan")).toBe("step_3");
    expect(localName("a/b/c", "a/b")).toBe("c");
    expect(localName("top", undefined)).toBe("top");
  });
});

describe("RateMeter", () => {
  it("measures finished nodes per second over a window", () => {
    const meter = new RateMeter(10);
    meter.add(0, 0);
    meter.add(2, 10);
    meter.add(4, 20);
    expect(meter.rate(4)).toBe(5);
    // Later samples push old ones out of the window.
    meter.add(20, 20);
    meter.add(22, 40);
    expect(meter.rate(22)).toBeCloseTo(20 / 10, 5);
  });

  it("starts over when the count goes down (another run, or a resync)", () => {
    const meter = new RateMeter(10);
    meter.add(0, 50);
    meter.add(1, 60);
    meter.add(2, 5);
    expect(meter.rate(2)).toBe(0);
  });
});
