/**
 * The questions panel's model: pure functions, no DOM.
 *
 * A node that asked a question is `waiting`; its summary carries its oldest
 * open question (`question`: id, prompt, choices, `form` when the answer
 * has a schema, a `preview` of its data) and, when it has more than one,
 * how many (`questions`). The `questions` request brings every open
 * question in full (data, schema, default, deadline). `panelEntries` joins
 * the two: one entry per open question the summaries vouch for, with what
 * the full questions add once they have come, oldest first.
 *
 * A schema becomes a form description (`formFor`): an object of strings,
 * numbers, integers, booleans, enums (a select) and arrays of those (a
 * list editor); anything else is a JSON text field. `initialState` fills
 * the form from the question's `data` (its starting value) or the schema's
 * defaults; `collect` reads the answer back, with hints on what looks
 * wrong. Hints are only hints: the answer is sent as it was typed (a
 * number that does not parse goes as the text), and the kernel, which
 * checks it against the schema, has the last word; its error is what the
 * panel shows.
 *
 * @module
 */

/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */

/**
 * A full question, as `Question.to_dict()` (docs/protocol.md).
 *
 * @typedef {object} Question
 * @property {string} id
 * @property {string} node_id
 * @property {string} [key]
 * @property {string} prompt Markdown
 * @property {unknown} [data]
 * @property {unknown[]} [choices]
 * @property {Record<string, any>} [schema]
 * @property {unknown} [default]
 * @property {number} [asked] Unix time
 * @property {number} [deadline] Unix time
 */

/**
 * What a waiting node's summary carries of its oldest question.
 *
 * @typedef {object} QuestionSummary
 * @property {string} id
 * @property {string} prompt
 * @property {unknown[]} [choices]
 * @property {boolean} [form]
 * @property {string} [preview]
 */

/**
 * One open question as the panel lists it.
 *
 * @typedef {object} Entry
 * @property {string} id the question's id
 * @property {string} nodeId
 * @property {string} name the node's label, or its id
 * @property {string} prompt
 * @property {"choices" | "form" | "text"} kind how it is answered
 * @property {unknown[]} [choices]
 * @property {Record<string, any>} [schema] known once the full question has come
 * @property {boolean} hasData
 * @property {unknown} [data]
 * @property {string} [preview] the summary's preview of the data
 * @property {boolean} hasDefault
 * @property {unknown} [default]
 * @property {number} [asked]
 * @property {number} [deadline]
 * @property {boolean} full whether the full question has come
 * @property {number} open how many questions its node has open
 */

/** The key prefix of the questions a run asks itself (budgets, docs/metrics.md). */
export const RUN_ASKS = "budget:";

/**
 * The panel's entries: every open question of a waiting node, and the
 * questions the run asks itself (a budget was passed: key `budget:…`, no
 * node waits for them), oldest first.
 *
 * @param {Readonly<Record<string, NodeSummary & {question?: QuestionSummary, questions?: number}>> | undefined} nodes
 * @param {ReadonlyArray<Question>} full the last `questions` answer (may be older than the nodes)
 * @returns {Entry[]}
 */
export function panelEntries(nodes, full) {
  if (!nodes) return [];
  /** @type {Map<string, Question[]>} */
  const byNode = new Map();
  for (const q of full) {
    if (!q || typeof q.id !== "string" || typeof q.node_id !== "string") continue;
    const list = byNode.get(q.node_id);
    if (list) list.push(q);
    else byNode.set(q.node_id, [q]);
  }
  /** @type {Entry[]} */
  const out = [];
  for (const nodeId of Object.keys(nodes)) {
    const node = nodes[nodeId];
    const summary = node.question;
    if (node.status !== "waiting" || !summary || typeof summary.id !== "string") continue;
    const open = Math.max(1, typeof node.questions === "number" ? node.questions : 1);
    const name = node.label || nodeId;
    const known = byNode.get(nodeId) ?? [];
    const own = known.find((q) => q.id === summary.id);
    out.push(entry(nodeId, name, open, summary, own));
    // The node's other open questions: only as many as its summary counts (the full list may be older).
    let extra = open - 1;
    for (const q of known) {
      if (extra <= 0) break;
      if (q.id === summary.id) continue;
      out.push(entry(nodeId, name, open, null, q));
      extra--;
    }
  }
  for (const [nodeId, list] of byNode) {
    if (nodes[nodeId]?.status === "waiting") continue;
    for (const q of list) {
      if (typeof q.key !== "string" || !q.key.startsWith(RUN_ASKS)) continue;
      out.push(entry(nodeId, nodeId ? `budget of ${nodeId}` : "budget of the run", 1, null, q));
    }
  }
  const order = Object.keys(nodes);
  const rank = new Map(order.map((id, i) => [id, i]));
  return out.sort(
    (a, b) =>
      (a.asked ?? Infinity) - (b.asked ?? Infinity) ||
      (rank.get(a.nodeId) ?? 0) - (rank.get(b.nodeId) ?? 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/**
 * @param {string} nodeId
 * @param {string} name
 * @param {number} open
 * @param {QuestionSummary | null} summary
 * @param {Question | undefined} q
 * @returns {Entry}
 */
function entry(nodeId, name, open, summary, q) {
  const choices = q?.choices ?? summary?.choices;
  const schema = q?.schema;
  const form = !!schema || !!summary?.form;
  /** @type {Entry} */
  const e = {
    id: /** @type {string} */ (q?.id ?? summary?.id),
    nodeId,
    name,
    prompt: String(q?.prompt ?? summary?.prompt ?? ""),
    kind: Array.isArray(choices) && choices.length ? "choices" : form ? "form" : "text",
    hasData: !!q && "data" in q && q.data !== undefined,
    hasDefault: !!q && "default" in q,
    full: !!q,
    open,
  };
  if (Array.isArray(choices)) e.choices = choices;
  if (schema) e.schema = schema;
  if (e.hasData) e.data = q?.data;
  if (summary?.preview !== undefined) e.preview = summary.preview;
  if (e.hasDefault) e.default = q?.default;
  if (typeof q?.asked === "number") e.asked = q.asked;
  if (typeof q?.deadline === "number") e.deadline = q.deadline;
  return e;
}

/**
 * What a choice button says: a string as it is, any other value as JSON.
 *
 * @param {unknown} choice
 * @returns {string}
 */
export function choiceLabel(choice) {
  return typeof choice === "string" ? choice : JSON.stringify(choice);
}

/** At most this many characters of a question's data are shown. */
export const MAX_DATA_TEXT = 20_000;

/**
 * A question's data as indented JSON, cut to {@link MAX_DATA_TEXT} characters.
 *
 * @param {unknown} data
 * @returns {string}
 */
export function prettyData(data) {
  let text;
  try {
    text = JSON.stringify(data, null, 2) ?? String(data);
  } catch {
    text = String(data);
  }
  return text.length > MAX_DATA_TEXT ? text.slice(0, MAX_DATA_TEXT) + "\n…" : text;
}

// -- forms ---------------------------------------------------------------------

/**
 * A form field, as `formFor` describes a schema.
 *
 * @typedef {object} FieldBase
 * @property {string} [title]
 * @property {string} [description]
 * @property {Record<string, any>} schema the schema it was made from (bounds for the hints)
 *
 * @typedef {FieldBase & ({kind: "string", multiline: boolean}
 *   | {kind: "number" | "integer" | "boolean" | "json"}
 *   | {kind: "select", options: unknown[]}
 *   | {kind: "list", item: Field}
 *   | {kind: "object", fields: ObjectField[]})} Field
 *
 * @typedef {object} ObjectField
 * @property {string} name
 * @property {boolean} required
 * @property {Field} field
 */

/** Nesting deeper than this is edited as JSON. */
const MAX_DEPTH = 6;

/**
 * The form for `schema`: a field tree the panel draws.
 *
 * @param {unknown} schema a JSON Schema
 * @param {number} [depth]
 * @returns {Field}
 */
export function formFor(schema, depth = 0) {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema) || depth > MAX_DEPTH) {
    return { kind: "json", schema: {} };
  }
  const s = /** @type {Record<string, any>} */ (schema);
  /** @type {FieldBase} */
  const base = { schema: s };
  if (typeof s.title === "string") base.title = s.title;
  if (typeof s.description === "string") base.description = s.description;
  if (Array.isArray(s.enum) && s.enum.length) return { ...base, kind: "select", options: s.enum };
  if ("const" in s) return { ...base, kind: "select", options: [s.const] };
  if (s.anyOf || s.oneOf || s.allOf || s.$ref || s.not || s.if) return { ...base, kind: "json" };
  let type = s.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null");
  if (type === undefined && s.properties && typeof s.properties === "object") type = "object";
  switch (type) {
    case "string":
      return { ...base, kind: "string", multiline: typeof s.maxLength === "number" && s.maxLength > 200 };
    case "number":
    case "integer":
    case "boolean":
      return { ...base, kind: type };
    case "array": {
      const items = s.items;
      if (!items || typeof items !== "object" || Array.isArray(items) || s.prefixItems) return { ...base, kind: "json" };
      return { ...base, kind: "list", item: formFor(items, depth + 1) };
    }
    case "object": {
      const props = s.properties;
      if (!props || typeof props !== "object" || Array.isArray(props) || !Object.keys(props).length) {
        return { ...base, kind: "json" };
      }
      const required = new Set(Array.isArray(s.required) ? s.required : []);
      return {
        ...base,
        kind: "object",
        fields: Object.keys(props).map((name) => ({
          name,
          required: required.has(name),
          field: formFor(props[name], depth + 1),
        })),
      };
    }
    default:
      return { ...base, kind: "json" };
  }
}

/**
 * What the form holds while a person edits it: text for strings and numbers,
 * a boolean for a checkbox, the index of a select's option ("" for none), a
 * list of item states, an object of field states, JSON text.
 *
 * @typedef {string | boolean | FormState[] | {[name: string]: FormState}} FormState
 */

/**
 * The form's starting state: from `data` where it fits the field, else the schema's
 * `default`, else empty.
 *
 * @param {Field} field
 * @param {unknown} data
 * @param {boolean} [has] whether there is a value (`data` may be undefined)
 * @returns {FormState}
 */
export function initialState(field, data, has = data !== undefined) {
  if (!has && "default" in field.schema) return initialState(field, field.schema.default, true);
  switch (field.kind) {
    case "string":
      return typeof data === "string" ? data : has && data !== null && typeof data !== "object" ? String(data) : "";
    case "number":
    case "integer":
      return typeof data === "number" && Number.isFinite(data) ? String(data) : typeof data === "string" ? data : "";
    case "boolean":
      return data === true;
    case "select": {
      if (!has) return "";
      const want = stable(data);
      const at = field.options.findIndex((o) => stable(o) === want);
      return at >= 0 ? String(at) : "";
    }
    case "list":
      return Array.isArray(data) ? data.map((d) => initialState(field.item, d, true)) : [];
    case "object": {
      const obj = data !== null && typeof data === "object" && !Array.isArray(data) ? /** @type {Record<string, unknown>} */ (data) : {};
      /** @type {{[name: string]: FormState}} */
      const out = {};
      for (const f of field.fields) out[f.name] = initialState(f.field, obj[f.name], f.name in obj);
      return out;
    }
    default:
      return has ? prettyData(data) : "";
  }
}

/**
 * A new list item's state (the list editor's "Add").
 *
 * @param {Field} item
 * @returns {FormState}
 */
export function newItem(item) {
  return initialState(item, undefined, false);
}

/**
 * @typedef {object} Hint
 * @property {string} path where, as `subtopics/2` ("" for the whole answer)
 * @property {string} message
 */

/**
 * @typedef {object} Collected
 * @property {unknown} value the answer to send
 * @property {Hint[]} hints what looks wrong (the kernel decides)
 */

/**
 * Read the answer out of the form.
 *
 * @param {Field} field
 * @param {FormState} state
 * @returns {Collected}
 */
export function collect(field, state) {
  /** @type {Hint[]} */
  const hints = [];
  const got = read(field, state, "", hints);
  return { value: got.present ? got.value : null, hints };
}

/**
 * @param {Field} field
 * @param {FormState} state
 * @param {string} path
 * @param {Hint[]} hints
 * @returns {{present: boolean, value?: unknown}}
 */
function read(field, state, path, hints) {
  const s = field.schema;
  const hint = (/** @type {string} */ message) => hints.push({ path, message });
  switch (field.kind) {
    case "string": {
      const text = typeof state === "string" ? state : "";
      if (typeof s.minLength === "number" && text.length < s.minLength) {
        hint(s.minLength === 1 ? "must not be empty" : `at least ${s.minLength} characters`);
      }
      if (typeof s.maxLength === "number" && text.length > s.maxLength) hint(`at most ${s.maxLength} characters`);
      if (typeof s.pattern === "string" && !matches(s.pattern, text)) hint(`must match ${s.pattern}`);
      return { present: text !== "" || !path, value: text };
    }
    case "number":
    case "integer": {
      const text = (typeof state === "string" ? state : "").trim();
      if (!text) return { present: false };
      const n = Number(text);
      if (!Number.isFinite(n) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
        hint(field.kind === "integer" ? "not a whole number" : "not a number");
        return { present: true, value: text }; // sent as typed: the kernel says what is wrong
      }
      if (field.kind === "integer" && !Number.isInteger(n)) hint("not a whole number");
      bounds(s, n, hint);
      return { present: true, value: n };
    }
    case "boolean":
      return { present: true, value: state === true };
    case "select": {
      const at = typeof state === "string" && state !== "" ? Number(state) : -1;
      if (!(at >= 0 && at < field.options.length)) return { present: false };
      return { present: true, value: field.options[at] };
    }
    case "list": {
      const items = Array.isArray(state) ? state : [];
      const value = [];
      for (let k = 0; k < items.length; k++) {
        const got = read(field.item, items[k], join(path, String(k)), hints);
        if (got.present) value.push(got.value);
        else if (field.item.kind === "string") value.push("");
      }
      if (typeof s.minItems === "number" && value.length < s.minItems) hint(`at least ${s.minItems} ${s.minItems === 1 ? "item" : "items"}`);
      if (typeof s.maxItems === "number" && value.length > s.maxItems) hint(`at most ${s.maxItems} items`);
      if (s.uniqueItems === true && new Set(value.map(stable)).size !== value.length) hint("items must differ");
      return { present: true, value };
    }
    case "object": {
      const obj = state !== null && typeof state === "object" && !Array.isArray(state) ? state : {};
      /** @type {Record<string, unknown>} */
      const value = {};
      for (const f of field.fields) {
        const at = join(path, f.name);
        const got = read(f.field, obj[f.name] ?? newItem(f.field), at, hints);
        if (got.present) value[f.name] = got.value;
        else if (f.required) hints.push({ path: at, message: "required" });
      }
      return { present: true, value };
    }
    default: {
      const text = (typeof state === "string" ? state : "").trim();
      if (!text) return { present: false };
      try {
        return { present: true, value: JSON.parse(text) };
      } catch {
        hint("not valid JSON");
        return { present: true, value: text };
      }
    }
  }
}

/**
 * @param {Record<string, any>} s
 * @param {number} n
 * @param {(message: string) => void} hint
 */
function bounds(s, n, hint) {
  if (typeof s.minimum === "number" && n < s.minimum) hint(`at least ${s.minimum}`);
  if (typeof s.maximum === "number" && n > s.maximum) hint(`at most ${s.maximum}`);
  if (typeof s.exclusiveMinimum === "number" && n <= s.exclusiveMinimum) hint(`more than ${s.exclusiveMinimum}`);
  if (typeof s.exclusiveMaximum === "number" && n >= s.exclusiveMaximum) hint(`less than ${s.exclusiveMaximum}`);
}

/**
 * @param {string} pattern
 * @param {string} text
 */
function matches(pattern, text) {
  try {
    return new RegExp(pattern, "u").test(text);
  } catch {
    return true; // a pattern JavaScript cannot read: the kernel checks it
  }
}

/** @param {string} path @param {string} name */
function join(path, name) {
  return path ? `${path}/${name}` : name;
}

/**
 * JSON with sorted keys: equal values give equal text.
 *
 * @param {unknown} value
 * @returns {string}
 */
function stable(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "undefined";
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  const obj = /** @type {Record<string, unknown>} */ (value);
  return `{${Object.keys(obj)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stable(obj[k])}`)
    .join(",")}}`;
}

/**
 * The hints for one path (a field shows its own under it).
 *
 * @param {Hint[]} hints
 * @param {string} path
 * @returns {string}
 */
export function hintAt(hints, path) {
  return hints
    .filter((h) => h.path === path)
    .map((h) => h.message)
    .join("; ");
}

/**
 * A field's label: its schema's title, else its name with `_` as spaces.
 *
 * @param {string} name
 * @param {Field} field
 * @returns {string}
 */
export function fieldLabel(name, field) {
  return field.title || name.replace(/_/g, " ");
}

/**
 * When a question's timeout passes, said for a person: `in 4:05` (or `in 12 s`), or `now`.
 *
 * @param {number} deadline Unix time
 * @param {number} now Unix time
 * @returns {string}
 */
export function dueText(deadline, now) {
  const left = Math.round(deadline - now);
  if (left <= 0) return "now";
  if (left < 60) return `in ${left} s`;
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const sec = String(left % 60).padStart(2, "0");
  return h ? `in ${h}:${String(m).padStart(2, "0")}:${sec}` : `in ${m}:${sec}`;
}

/**
 * The open questions' ids, in a stable order: when this changes, the panel asks
 * for the full questions again.
 *
 * @param {Readonly<Record<string, NodeSummary & {question?: QuestionSummary, questions?: number}>> | undefined} nodes
 * @returns {string}
 */
export function openKey(nodes) {
  if (!nodes) return "";
  const parts = [];
  for (const id of Object.keys(nodes)) {
    const n = nodes[id];
    if (n.status === "waiting" && n.question) parts.push(`${n.question.id}*${n.questions ?? 1}`);
  }
  return parts.sort().join(",");
}
