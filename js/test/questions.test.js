import { describe, expect, it } from "vitest";
import {
  choiceLabel,
  collect,
  dueText,
  formFor,
  hintAt,
  initialState,
  newItem,
  openKey,
  panelEntries,
  prettyData,
} from "../src/questions.js";

const PLAN = {
  type: "object",
  properties: {
    subtopics: { type: "array", items: { type: "string" }, minItems: 1 },
    depth: { type: "integer", minimum: 1, maximum: 5 },
    ratio: { type: "number" },
    final: { type: "boolean" },
    tone: { enum: ["formal", "casual"] },
  },
  required: ["subtopics", "tone"],
};

describe("panel entries", () => {
  /** @type {Record<string, any>} */
  const nodes = {
    a: { status: "done" },
    plan: { status: "waiting", label: "Plan it", question: { id: "q-1", prompt: "Approve?", choices: ["yes", "no"] } },
    edit: { status: "waiting", questions: 2, question: { id: "q-2", prompt: "Rewrite", form: true, preview: "{...}" } },
    stale: { status: "running", question: { id: "q-9", prompt: "old" } },
  };

  it("lists every waiting node's question from the summaries alone", () => {
    const entries = panelEntries(nodes, []);
    expect(entries.map((e) => [e.id, e.nodeId, e.name, e.kind, e.full, e.open])).toEqual([
      ["q-1", "plan", "Plan it", "choices", false, 1],
      ["q-2", "edit", "edit", "form", false, 2],
    ]);
    expect(entries[1].preview).toBe("{...}");
    expect(entries[1].schema).toBeUndefined();
  });

  it("adds what the full questions bring, oldest first, no more than the summaries count", () => {
    const full = [
      { id: "q-2", node_id: "edit", prompt: "Rewrite", schema: PLAN, data: { subtopics: ["x"] }, asked: 10 },
      { id: "q-3", node_id: "edit", prompt: "And this?", asked: 12, deadline: 100, default: "fine" },
      { id: "q-4", node_id: "edit", prompt: "answered already", asked: 13 },
      { id: "q-1", node_id: "plan", prompt: "Approve?", choices: ["yes", "no"], asked: 11 },
      { id: "q-9", node_id: "stale", prompt: "old", asked: 1 },
    ];
    const entries = panelEntries(nodes, full);
    expect(entries.map((e) => e.id)).toEqual(["q-2", "q-1", "q-3"]);
    const [edit, , more] = entries;
    expect(edit).toMatchObject({ kind: "form", full: true, hasData: true, data: { subtopics: ["x"] }, schema: PLAN });
    expect(more).toMatchObject({ kind: "text", hasDefault: true, default: "fine", deadline: 100, nodeId: "edit" });
  });

  it("lists the run's own budget questions, which make no node wait", () => {
    const full = [
      { id: "q-b", node_id: "", key: "budget::cost:1", prompt: "budget exceeded", choices: ["continue", "raise", "stop"], asked: 5 },
      { id: "q-s", node_id: "a", key: "budget:a:cost:1", prompt: "budget exceeded in a", choices: ["continue"], asked: 20 },
      { id: "q-9", node_id: "stale", key: "stale:0", prompt: "old", asked: 1 },
    ];
    const entries = panelEntries(nodes, full);
    expect(entries.map((e) => [e.id, e.name, e.kind])).toEqual([
      ["q-b", "budget of the run", "choices"],
      ["q-s", "budget of a", "choices"],
      ["q-1", "Plan it", "choices"],
      ["q-2", "edit", "form"],
    ]);
  });

  it("keys the open questions so the panel knows when to ask again", () => {
    expect(openKey(nodes)).toBe("q-1*1,q-2*2");
    expect(openKey({ ...nodes, plan: { status: "running" } })).toBe("q-2*2");
    expect(openKey(undefined)).toBe("");
  });

  it("labels choices and shows data", () => {
    expect(["yes", 1, true, null, 1.5].map(choiceLabel)).toEqual(["yes", "1", "true", "null", "1.5"]);
    expect(prettyData({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(prettyData("x".repeat(30_000)).endsWith("\n…")).toBe(true);
  });

  it("says when a question times out", () => {
    expect(dueText(100, 100)).toBe("now");
    expect(dueText(112, 100)).toBe("in 12 s");
    expect(dueText(345, 100)).toBe("in 4:05");
    expect(dueText(100 + 3723, 100)).toBe("in 1:02:03");
  });
});

describe("forms", () => {
  it("describes an object of strings, numbers, booleans, enums and lists", () => {
    const form = formFor(PLAN);
    expect(form.kind).toBe("object");
    if (form.kind !== "object") return;
    expect(form.fields.map((f) => [f.name, f.required, f.field.kind])).toEqual([
      ["subtopics", true, "list"],
      ["depth", false, "integer"],
      ["ratio", false, "number"],
      ["final", false, "boolean"],
      ["tone", true, "select"],
    ]);
    const list = form.fields[0].field;
    expect(list.kind === "list" && list.item.kind).toBe("string");
  });

  it("edits what it cannot draw as JSON", () => {
    expect(formFor({ anyOf: [{ type: "string" }, { type: "integer" }] }).kind).toBe("json");
    expect(formFor({ type: "object" }).kind).toBe("json");
    expect(formFor(null).kind).toBe("json");
    expect(formFor({ type: ["string", "null"] }).kind).toBe("string");
    expect(formFor({ const: 3 })).toMatchObject({ kind: "select", options: [3] });
    expect(formFor({ properties: { a: { type: "string" } } }).kind).toBe("object");
  });

  it("starts from the question's data, else the schema's defaults", () => {
    const form = formFor(PLAN);
    expect(initialState(form, { subtopics: ["intro", "method"], depth: 2, tone: "casual", final: true })).toEqual({
      subtopics: ["intro", "method"],
      depth: "2",
      ratio: "",
      final: true,
      tone: "1",
    });
    const defaults = formFor({ type: "object", properties: { n: { type: "integer", default: 3 }, s: { type: "string" } } });
    expect(initialState(defaults, undefined)).toEqual({ n: "3", s: "" });
    expect(initialState(formFor({ type: "array", items: { type: "number" } }), [1, 2.5])).toEqual(["1", "2.5"]);
    expect(initialState(formFor({ anyOf: [] }), { a: 1 })).toBe('{\n  "a": 1\n}');
    expect(newItem(formFor({ type: "boolean" }))).toBe(false);
  });

  it("collects the answer from what was typed", () => {
    const form = formFor(PLAN);
    const state = initialState(form, { subtopics: ["intro"], tone: "formal" });
    /** @type {any} */ (state).subtopics.push("all");
    /** @type {any} */ (state).depth = " 4 ";
    /** @type {any} */ (state).final = true;
    expect(collect(form, state)).toEqual({
      value: { subtopics: ["intro", "all"], depth: 4, final: true, tone: "formal" },
      hints: [],
    });
  });

  it("hints at what looks wrong and sends it as typed: the kernel decides", () => {
    const form = formFor(PLAN);
    const state = initialState(form, { subtopics: [] });
    /** @type {any} */ (state).depth = "many";
    /** @type {any} */ (state).ratio = "1.5";
    const got = collect(form, state);
    expect(got.value).toEqual({ subtopics: [], depth: "many", ratio: 1.5, final: false });
    expect(got.hints).toEqual([
      { path: "subtopics", message: "at least 1 item" },
      { path: "depth", message: "not a whole number" },
      { path: "tone", message: "required" },
    ]);
    expect(hintAt(got.hints, "depth")).toBe("not a whole number");
    const bounded = collect(formFor({ type: "integer", minimum: 1, maximum: 5 }), "7");
    expect(bounded).toEqual({ value: 7, hints: [{ path: "", message: "at most 5" }] });
    expect(collect(formFor({ type: "integer" }), "2.5").hints).toEqual([{ path: "", message: "not a whole number" }]);
  });

  it("reads strings, selects, JSON and empty answers", () => {
    expect(collect(formFor({ type: "string", minLength: 1 }), "")).toEqual({
      value: "",
      hints: [{ path: "", message: "must not be empty" }],
    });
    expect(collect(formFor({ type: "string", pattern: "^a" }), "b").hints).toEqual([{ path: "", message: "must match ^a" }]);
    expect(collect(formFor({ enum: [1, "x", null] }), "2").value).toBe(null);
    expect(collect(formFor({ enum: [1, "x", null] }), "1").value).toBe("x");
    expect(collect(formFor({ enum: [1] }), "").value).toBe(null);
    expect(collect(formFor({ anyOf: [] }), '{"a": 1}').value).toEqual({ a: 1 });
    expect(collect(formFor({ anyOf: [] }), "{oops")).toEqual({ value: "{oops", hints: [{ path: "", message: "not valid JSON" }] });
    const list = formFor({ type: "array", items: { type: "integer" }, uniqueItems: true });
    expect(collect(list, ["1", "", "1"])).toEqual({ value: [1, 1], hints: [{ path: "", message: "items must differ" }] });
  });
});
