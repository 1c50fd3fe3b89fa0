import { describe, expect, it } from "vitest";
import { displayName, errorNote, formatDuration, formatSeconds } from "../src/format.js";
import { noteFor } from "../src/render.js";
import { TextFitter } from "../src/text.js";

/** One unit of width per character at size 1 (any font). */
const fitter = () => new TextFitter((text, font) => text.length * Number(/(\d+)px/.exec(font)?.[1] ?? 0));

describe("labels", () => {
  it("a node's label is its name on the canvas; without one, its local id", () => {
    expect(displayName("plan/q1", { label: "What raises the tides?" }, "plan")).toBe("What raises the tides?");
    expect(displayName("plan/q1", {}, "plan")).toBe("q1");
    expect(displayName("plan/q1", { label: "" }, "plan")).toBe("q1");
    expect(displayName("fetch", undefined, undefined)).toBe("fetch");
  });

  it("a label that fits is drawn whole", () => {
    expect(fitter().fit("Summarise arXiv", 15 * 10, 10, "sans")).toBe("Summarise arXiv");
  });

  it("a label too long is cut with an ellipsis to the room there is", () => {
    const text = fitter().fit("Summarise arXiv", 8 * 10, 10, "sans");
    expect(text).toBe("Summari…");
    expect(text.length * 10).toBeLessThanOrEqual(80);
  });

  it("no room, no label", () => {
    expect(fitter().fit("Summarise arXiv", 0, 10, "sans")).toBe("");
    expect(fitter().fit("Summarise arXiv", 5, 10, "sans")).toBe("");
  });

  it("measures each text once, whatever the zoom", () => {
    let calls = 0;
    const t = new TextFitter((text) => {
      calls += 1;
      return text.length * 100;
    });
    expect(t.width("abc", 12, "sans")).toBe(36);
    expect(t.width("abc", 24, "sans")).toBe(72);
    expect(calls).toBe(1);
  });
});

describe("durations and notes", () => {
  it.each([
    [0.5, "0.5 s"],
    [30, "30 s"],
    [1.25, "1.25 s"],
    [120, "2 min"],
    [90, "1:30 min"],
    [-1, "–"],
  ])("formatSeconds(%s) is %s", (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });

  it("a running node shows how long it has been running", () => {
    expect(noteFor({ status: "running", attempt: 1, started: 2 }, 14.34)).toBe(formatDuration(12.34));
    expect(noteFor({ status: "running", attempt: 1, started: 2 }, 14.34)).toBe("12.3 s");
    expect(noteFor({ status: "running", attempt: 2, started: 100 }, 100.5)).toBe("try 2 · 0.50 s");
    expect(noteFor({ status: "running", attempt: 1, started: 5 }, 4)).toBe("0.00 s");
    expect(noteFor({ status: "running", attempt: 1 }, 4)).toBe("running");
    expect(noteFor({ status: "running", attempt: 1, started: 1 })).toBe("running");
  });

  it("a timed-out node says so, briefly", () => {
    const error = { type: "taskbeam._errors.NodeTimeout", message: "task 'enrich' timed out after 30 s" };
    expect(errorNote(error)).toBe("timed out after 30 s");
    expect(noteFor({ status: "failed", error })).toBe("timed out after 30 s");
    expect(errorNote({ type: "NodeTimeout", message: "task 'x' timed out after 0.5 s" })).toBe("timed out after 0.5 s");
    expect(errorNote({ type: "NodeTimeout", message: "task 'x' timed out after 1e+03 s" })).toBe("timed out after 16:40 min");
    expect(errorNote({ type: "NodeTimeout", message: "odd" })).toBe("timed out");
  });

  it("other failures show the exception's class without its module", () => {
    expect(errorNote({ type: "ValueError", message: "bad" })).toBe("ValueError");
    expect(errorNote({ type: "requests.exceptions.HTTPError", message: "429" })).toBe("HTTPError");
    expect(errorNote({})).toBe("failed");
  });
});
