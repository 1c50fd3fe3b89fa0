import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { classPill, compareBody } from "../src/compare-details.js";
import {
  CLASS_BASE,
  CLASS_INFO,
  CLASSES,
  classAt,
  classIndex,
  classOf,
  compareNote,
  compareOf,
  diffClass,
  headerNote,
  legendEntries,
  runCompare,
  sideFacts,
} from "../src/compare.js";
import { layout } from "../src/layout.js";
import { drawGraph } from "../src/render.js";
import { STATUSES } from "../src/status.js";
import { TextFitter } from "../src/text.js";

/** @typedef {import("../src/reducer.js").NodeSummary} NodeSummary */

/**
 * A comparison's state, as the kernel sends it (`tb.GraphView(tb.compare(a, b))`): a planner
 * whose second run made child `c` and not `a`, a check that failed in b, a reused child.
 */
function comparisonState() {
  /** @type {Record<string, NodeSummary>} */
  const nodes = {
    plan: { status: "done", preview: "'B,C'", compare: { class: "changed", kind: "changed", status_a: "done", status_b: "done" } },
    "plan/b": {
      status: "done",
      parent: "plan",
      preview: "'B'",
      cached: { run: "plans-0000000a", node: "plan/b" },
      compare: { class: "equal", kind: "equal", status_a: "done", status_b: "done", reused_b: true },
    },
    "plan/c": { status: "done", parent: "plan", preview: "'C'", compare: { class: "added", kind: "added", status_b: "done" } },
    "plan/a": { status: "done", parent: "plan", preview: "'A'", compare: { class: "removed", kind: "removed", status_a: "done" } },
    check: {
      status: "failed",
      error: { type: "ValueError", message: "negative: -1" },
      compare: { class: "status", kind: "failed", status_a: "done", status_b: "failed" },
    },
    final: { status: "skipped", compare: { class: "status", kind: "changed", status_a: "done", status_b: "skipped" } },
    opaque: { status: "done", compare: { class: "unknown", kind: "unknown", status_a: "done", status_b: "done" } },
  };
  return {
    run: {
      id: "compare:plans-0000000a:plans-0000000b",
      name: "plans",
      status: "failed",
      counts: { done: 5, failed: 1, skipped: 1 },
      total: 7,
      created: 1,
      stored: true,
      compare: {
        a: { id: "plans-0000000a", name: "plans", status: "done" },
        b: { id: "plans-0000000b", name: "plans", status: "failed" },
      },
    },
    nodes,
    /** @type {[string, string][]} */
    edges: [
      ["plan", "final"],
      ["check", "final"],
    ],
  };
}

describe("a comparison's classes", () => {
  it("are six, each with a label, a glyph and a meaning; each told apart by its glyph", () => {
    expect(CLASSES).toEqual(["equal", "changed", "status", "added", "removed", "unknown"]);
    const glyphs = CLASSES.map((c) => CLASS_INFO[c].glyph);
    expect(new Set(glyphs).size).toBe(6); // told apart by shape, not only by colour
    for (const c of CLASSES) {
      expect(CLASS_INFO[c].label).toBeTruthy();
      expect(CLASS_INFO[c].title.length).toBeGreaterThan(20);
    }
  });

  it("sit after the statuses in the colour table", () => {
    expect(CLASS_BASE).toBe(STATUSES.length);
    expect(classIndex({ compare: { class: "added", kind: "added" } })).toBe(STATUSES.length + 3);
    expect(classAt(STATUSES.length + 4)).toBe("removed");
    expect(classAt(statusIndexOf("done"))).toBeNull();
    expect(diffClass("changed")).toBe("tb-diff-changed");
    expect(diffClass("<script>")).toBe("tb-diff-unknown");
  });

  it("a malformed or missing `compare` is `unknown`, and nothing breaks", () => {
    for (const compare of [null, "x", 3, {}, { class: "weird" }, { class: 1 }]) {
      expect(classOf(/** @type {any} */ ({ status: "done", compare }))).toBe("unknown");
    }
    expect(compareOf({ compare: { class: "status", kind: "failed", status_a: "done", status_b: 7, reused_b: "yes" } })).toEqual({
      class: "status",
      kind: "failed",
      status_a: "done",
    });
    expect(runCompare({ compare: { a: { id: "x" } } })).toBeNull();
    expect(runCompare({ compare: "yes" })).toBeNull();
    expect(runCompare(undefined)).toBeNull();
    expect(runCompare(comparisonState().run)?.b.id).toBe("plans-0000000b");
  });

  it("a card's note names its class; a status that differs says from what to what", () => {
    const { nodes } = comparisonState();
    expect(compareNote(nodes.plan)).toBe("changed");
    expect(compareNote(nodes["plan/b"])).toBe("equal · reused");
    expect(compareNote(nodes["plan/c"])).toBe("added");
    expect(compareNote(nodes["plan/a"])).toBe("removed");
    expect(compareNote(nodes.check)).toBe("done → failed");
    expect(compareNote(nodes.final)).toBe("done → skipped");
    expect(compareNote(nodes.opaque)).toBe("unknown");
    expect(compareNote(/** @type {NodeSummary} */ ({ status: "done" }))).toBe("");
  });

  it("a box's header counts its children's differences", () => {
    expect(headerNote(["equal", "added", "removed", "removed", "changed"])).toBe("+1 −2 ≠1");
    expect(headerNote(["equal", "equal"])).toBe("all equal");
    expect(headerNote(["status", "unknown"])).toBe("!1 ?1");
    expect(headerNote([])).toBe("");
  });

  it("the legend counts each class and the nodes b reused", () => {
    const legend = legendEntries(comparisonState());
    expect(Object.fromEntries(legend.classes.map((e) => [e.cls, e.count]))).toEqual({
      equal: 1,
      changed: 1,
      status: 2,
      added: 1,
      removed: 1,
      unknown: 1,
    });
    expect(legend.reused).toBe(1);
    expect(legend.classes.map((e) => e.glyph)).toEqual(["=", "≠", "!", "+", "−", "?"]);
    expect(legendEntries(null).classes.every((e) => e.count === 0)).toBe(true);
  });

  it("each class has its colour in style.css, in both themes' reach", () => {
    const css = readFileSync(new URL("../src/style.css", import.meta.url), "utf8");
    for (const c of CLASSES) {
      expect(css).toMatch(new RegExp(`\\.tb-diff-${c} \\{ --tb-color: var\\(--tb-diff-${c}, #[0-9a-f]{6}\\); \\}`));
    }
  });
});

describe("one side of a node in the details", () => {
  it("executed, with how long it took and its result", () => {
    expect(sideFacts({ status: "done", started: 0.5, ended: 0.75, result: "[1, 2]" })).toEqual({
      status: "done",
      took: "0.25 s",
      made: "executed",
      error: "",
      result: "[1, 2]",
    });
  });

  it("reused: where from, and no duration it did not take", () => {
    const f = sideFacts({ status: "done", started: 1, ended: 1, preview: "'B'", cached: { run: "r-1", node: "n" } });
    expect(f?.made).toBe("reused from run r-1 (node n)");
    expect(f?.took).toBe("reused");
    expect(f?.result).toBe("'B'");
  });

  it("failed: the error and its traceback; skipped: why it did not run", () => {
    const f = sideFacts({ status: "failed", error: { type: "ValueError", message: "bad", traceback: "Traceback…" } });
    expect(f?.error).toBe("ValueError: bad");
    expect(f?.traceback).toBe("Traceback…");
    expect(f?.result).toBeUndefined();
    expect(sideFacts({ status: "skipped" })?.made).toMatch(/not run.*upstream/);
    expect(sideFacts(undefined)).toBeNull();
  });
});

// -- the canvas ---------------------------------------------------------------

/** @param {string} status */
function statusIndexOf(status) {
  return STATUSES.indexOf(/** @type {any} */ (status));
}

const COLOURS = [...STATUSES.map((s) => `status:${s}`), ...CLASSES.map((c) => `class:${c}`)];

/** A theme whose colours name what they are the colour of. */
function fakeTheme() {
  return /** @type {import("../src/colors.js").Theme} */ ({
    bg: "bg",
    fg: "fg",
    muted: "muted",
    edge: "edge",
    edgeStrong: "edgeStrong",
    accent: "accent",
    boxBg: "boxBg",
    boxHeader: "boxHeader",
    boxBorder: "boxBorder",
    font: "sans",
    status: COLOURS,
    onStatus: COLOURS.map((c) => `on:${c}`),
    tint: COLOURS.map((c) => `tint:${c}`),
    reusedTint: COLOURS.map((c) => `reusedTint:${c}`),
    reusedFill: COLOURS.map((c) => `reusedFill:${c}`),
    packed: new Uint32Array(COLOURS.length),
    bgPacked: 0,
    dark: false,
  });
}

/**
 * A 2D context that records, for every fill and stroke, the style and the
 * rectangles of the path (by their x, y), and every text drawn.
 */
function recordingContext() {
  /** @type {{op: "fill" | "stroke", style: string, dashed: boolean, shapes: string[]}[]} */
  const paints = [];
  /** @type {{text: string, style: string}[]} */
  const texts = [];
  /** @type {string[]} */
  let path = [];
  let dash = false;
  const ctx = {
    fillStyle: "",
    strokeStyle: "",
    lineWidth: 1,
    font: "",
    textAlign: "left",
    textBaseline: "alphabetic",
    globalAlpha: 1,
    setTransform() {},
    fillRect() {},
    drawImage() {},
    beginPath() {
      path = [];
    },
    closePath() {},
    moveTo() {},
    lineTo() {},
    bezierCurveTo() {},
    /** @param {number} x @param {number} y */
    rect(x, y) {
      path.push(`${Math.round(x)},${Math.round(y)}`);
    },
    /** @param {number} x @param {number} y */
    roundRect(x, y) {
      path.push(`${Math.round(x)},${Math.round(y)}`);
    },
    /** @param {number} x @param {number} y */
    arc(x, y) {
      path.push(`arc:${Math.round(x)},${Math.round(y)}`);
    },
    fill() {
      paints.push({ op: "fill", style: ctx.fillStyle, dashed: dash, shapes: path });
    },
    stroke() {
      paints.push({ op: "stroke", style: ctx.strokeStyle, dashed: dash, shapes: path });
    },
    /** @param {number[]} d */
    setLineDash(d) {
      dash = d.length > 0;
    },
    /** @param {string} text */
    fillText(text) {
      texts.push({ text, style: ctx.fillStyle });
    },
  };
  return { ctx: /** @type {CanvasRenderingContext2D} */ (/** @type {unknown} */ (ctx)), paints, texts };
}

/** Draws the comparison's state at a zoom where cards and labels show; returns what was drawn. */
function drawComparison() {
  const state = comparisonState();
  const l = /** @type {import("../src/layout.js").GraphLayout} */ (layout(state.nodes, state.edges, {}));
  const status = new Uint8Array(l.ids.length);
  const reused = new Uint8Array(l.ids.length);
  for (let i = 0; i < l.ids.length; i++) {
    status[i] = classIndex(state.nodes[l.ids[i]]);
    reused[i] = state.nodes[l.ids[i]].cached ? 1 : 0;
  }
  const rec = recordingContext();
  /** @type {string[]} */
  const drawn = [];
  drawGraph(rec.ctx, {
    layout: l,
    version: 1,
    status,
    reused,
    compare: true,
    nodes: state.nodes,
    camera: { s: 1, tx: 0, ty: 0 },
    theme: fakeTheme(),
    surface: { width: 4000, height: 4000, dpr: 1 },
    selected: -1,
    match: -1,
    hover: -1,
    layer: /** @type {any} */ ({ blit() {} }),
    text: new TextFitter((text, font) => text.length * Number(/([\d.]+)px/.exec(font)?.[1] ?? 0) * 0.5),
    drawn,
  });
  /** @param {string} id */
  const at = (id) => {
    const i = /** @type {number} */ (l.index.get(id));
    return `${Math.round(l.x[i])},${Math.round(l.y[i])}`;
  };
  return { ...rec, drawn, at, l };
}

describe("the canvas draws a comparison by difference", () => {
  it("each card is filled and bordered in its class's colour, not its status's", () => {
    const { paints, at } = drawComparison();
    /** @param {string} id @param {string} style */
    const painted = (id, style) => paints.some((p) => p.style === style && p.shapes.includes(at(id)));
    expect(painted("check", "tint:class:status")).toBe(true);
    expect(painted("check", "tint:status:failed")).toBe(false);
    expect(painted("plan/c", "tint:class:added")).toBe(true);
    expect(painted("plan/a", "tint:class:removed")).toBe(true);
    expect(painted("opaque", "tint:class:unknown")).toBe(true);
    // b reused plan/b: its reuse mark stays, a paler tint and a dashed border.
    expect(painted("plan/b", "reusedTint:class:equal")).toBe(true);
    expect(paints.some((p) => p.op === "stroke" && p.dashed && p.shapes.includes(at("plan/b")))).toBe(true);
    expect(paints.some((p) => p.op === "stroke" && p.dashed && p.shapes.includes(at("plan/c")))).toBe(false);
  });

  it("colour is not the only cue: glyph badges, notes, a struck-through removed name", () => {
    const { texts, drawn } = drawComparison();
    const glyphs = texts.filter((t) => t.style.startsWith("on:class:")).map((t) => `${t.text}${t.style}`);
    expect(glyphs.sort()).toEqual(
      [
        "≠on:class:changed", // plan's box
        "!on:class:status", // check
        "!on:class:status", // final
        "+on:class:added",
        "−on:class:removed",
        "?on:class:unknown",
      ].sort(),
    );
    expect(drawn).toContain("done → failed");
    expect(drawn).toContain("added");
    expect(drawn).toContain("equal · reused");
    expect(drawn).toContain("+1 −1"); // plan's header: its children's differences
    expect(drawn.filter((t) => t.startsWith("strike:"))).toEqual(["strike:a"]);
  });
});

// -- the details panel ----------------------------------------------------------

/**
 * A document whose elements record what is built; any write of `innerHTML`
 * throws, so a test fails if markup is ever parsed.
 */
function fakeDocument() {
  /** @param {string} tag */
  const element = (tag) => {
    /** @type {any} */
    const el = {
      tag,
      children: /** @type {any[]} */ ([]),
      attrs: /** @type {Record<string, string>} */ ({}),
      dataset: /** @type {Record<string, string>} */ ({}),
      text: "",
      className: "",
      title: "",
      listeners: /** @type {Record<string, () => void>} */ ({}),
      classList: {
        /** @param {string[]} names */
        add(...names) {
          el.className = [el.className, ...names].filter(Boolean).join(" ");
        },
      },
      append(/** @type {any[]} */ ...nodes) {
        for (const n of nodes) el.children.push(typeof n === "string" ? { tag: "#text", text: n, children: [] } : n);
      },
      setAttribute(/** @type {string} */ k, /** @type {string} */ v) {
        el.attrs[k] = v;
      },
      addEventListener(/** @type {string} */ type, /** @type {() => void} */ fn) {
        el.listeners[type] = fn;
      },
      set textContent(/** @type {string} */ v) {
        el.text = v;
      },
      get textContent() {
        return el.text + el.children.map((/** @type {any} */ c) => c.textContent ?? c.text).join("");
      },
      set innerHTML(/** @type {string} */ _v) {
        throw new Error("innerHTML written");
      },
    };
    return el;
  };
  return /** @type {Document} */ (/** @type {unknown} */ ({ createElement: element }));
}

/**
 * @param {any} el
 * @param {(el: any) => boolean} test
 * @returns {any[]}
 */
function findAll(el, test) {
  const out = test(el) ? [el] : [];
  for (const c of el.children ?? []) out.push(...findAll(c, test));
  return out;
}

describe("the details panel of a node in a comparison", () => {
  /** @type {any} */
  let saved;
  beforeEach(() => {
    saved = globalThis.document;
    globalThis.document = fakeDocument();
  });
  afterEach(() => {
    globalThis.document = saved;
  });

  const state = comparisonState();
  const compare = /** @type {import("../src/compare.js").RunCompare} */ (state.run.compare);
  const context = {
    compare,
    classOf: (/** @type {string} */ id) => (state.nodes[id] ? classOf(state.nodes[id]) : undefined),
  };

  it("shows both runs' previews side by side, as text even when they print like HTML", () => {
    const markup = "'<img src=x onerror=alert(1)>'";
    const details = {
      status: "done",
      a: { status: "done", started: 0.1, ended: 0.3, result: markup, children: ["plan/a", "plan/b"] },
      b: { status: "done", started: 0.1, ended: 0.2, result: "'<b>B,C</b>'", children: ["plan/b", "plan/c"] },
    };
    const body = compareBody(state.nodes.plan, details, context, () => {});
    const results = findAll(body, (e) => String(e.className).includes("tb-compare-result"));
    expect(results.map((e) => [e.className.includes("tb-compare-a") ? "a" : "b", e.text])).toEqual([
      ["a", markup],
      ["b", "'<b>B,C</b>'"],
    ]);
    const heads = findAll(body, (e) => e.className === "tb-compare-head").map((e) => e.text);
    expect(heads).toEqual(["a · 0000000a", "b · 0000000b"]);
    const text = body.textContent;
    expect(text).toContain("0.20 s");
    expect(text).toContain("executed");
    // The children of either run, each wearing its class's glyph.
    expect(text).toContain("Children (3, in either run)");
    const links = findAll(body, (e) => e.tag === "button").map((e) => [e.dataset.class, e.textContent]);
    expect(links).toEqual([
      ["equal", "plan/b"],
      ["added", "+plan/c"],
      ["removed", "−plan/a"],
    ]);
  });

  it("a node only one run has says so in the other's column", () => {
    const removed = compareBody(state.nodes["plan/a"], { status: "done", a: { status: "done", result: "'A'" } }, context, () => {});
    const missing = findAll(removed, (e) => String(e.className).includes("tb-compare-missing"));
    expect(missing.map((e) => e.text)).toEqual(["not in run b"]);
    const added = compareBody(state.nodes["plan/c"], { status: "done", b: { status: "done", result: "'C'" } }, context, () => {});
    expect(findAll(added, (e) => String(e.className).includes("tb-compare-missing")).map((e) => e.text)).toEqual(["not in run a"]);
  });

  it("a failed side shows its error and traceback; reused and executed are told apart", () => {
    const details = {
      status: "failed",
      a: { status: "done", result: "1", cached: { run: "plans-00000009", node: "check" } },
      b: { status: "failed", error: { type: "ValueError", message: "<b>negative</b>", traceback: "Traceback (most recent call last)" } },
    };
    const body = compareBody(state.nodes.check, details, context, () => {});
    const text = body.textContent;
    expect(text).toContain("ValueError: <b>negative</b>");
    expect(text).toContain("Traceback (most recent call last)");
    expect(text).toContain("reused from run plans-00000009 (node check)");
    expect(text).toContain("executed");
    const pill = classPill(state.nodes.check);
    expect(pill.dataset.class).toBe("status");
    expect(pill.textContent).toBe("!status differs");
  });

  it("before the answer comes: both statuses from the summary, and a loading line", () => {
    const body = compareBody(state.nodes.final, null, context, () => {});
    expect(body.textContent).toContain("done");
    expect(body.textContent).toContain("skipped");
    expect(body.textContent).toContain("Loading details…");
  });
});
