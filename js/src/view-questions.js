/**
 * The questions panel: a badge in the toolbar that counts the run's open
 * questions, and a panel beside the canvas that lists them and answers
 * them.
 *
 * What is open comes from the node summaries (a `waiting` node carries
 * its oldest question, see `questions.js`); when the set of open questions
 * changes, the panel asks for them in full (`questions`) for their data,
 * schema and deadline. One entry is open at a time (the oldest, until
 * another is clicked, or a waiting node is clicked on the canvas); it
 * shows the prompt (Markdown, built as DOM nodes: never HTML), the data
 * as JSON and the way to answer: a button per choice, a form for a
 * schema, a text box otherwise. Answering sends `answer`; an error answer
 * (the kernel checks the value) is shown under the entry, which stays
 * open as the question does. An answered entry goes when its node's
 * summary says so.
 *
 * Entries are kept across frames: a frame that changes nothing about an
 * entry leaves its DOM (and what is being typed into it) alone.
 *
 * A stored run's view shows its waiting nodes' questions with their
 * controls disabled and a note: only a live run takes answers.
 *
 * The panel and the details panel share the room beside the canvas: one
 * opening closes the other. The panel opens by itself when the first
 * question comes, unless it was closed by hand while questions were open.
 *
 * Runs on the main thread; `cleanup` stops its timers.
 *
 * @module
 */

import { h } from "./details.js";
import { markdownNodes } from "./markdown.js";
import {
  choiceLabel,
  collect,
  dueText,
  fieldLabel,
  formFor,
  hintAt,
  initialState,
  newItem,
  openKey,
  panelEntries,
  prettyData,
  RUN_ASKS,
} from "./questions.js";
import { errorText } from "./store.js";

/** @typedef {import("./questions.js").Entry} Entry */
/** @typedef {import("./questions.js").Field} Field */
/** @typedef {import("./questions.js").FormState} FormState */
/** @typedef {import("./questions.js").Question} Question */
/** @typedef {import("./questions.js").Hint} Hint */
/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").StoreChange} StoreChange */
/** @typedef {import("./reducer.js").NodeSummary} NodeSummary */
/** @typedef {import("./view-notices.js").Notices} Notices */

/**
 * @typedef {object} QuestionsPanel
 * @property {HTMLButtonElement} badge the toolbar's count, for the view to place
 * @property {HTMLElement} el the panel, for the view to place beside the canvas
 * @property {(change: StoreChange) => void} changed the store applied a change
 * @property {(nodeId: string) => boolean} openNode open the question of a waiting node; false if it has none
 * @property {() => void} close hide the panel
 * @property {() => boolean} isOpen
 * @property {() => number} contentHeight the panel's content height in pixels (0 when hidden)
 * @property {() => number} count open questions
 * @property {() => void} cleanup
 */

/** What a stored run's entry says in place of an answer. */
export const STORED_NOTE =
  "This view shows a stored run: answer where the run is running, or continue it (the question is asked again).";

/**
 * One entry's DOM and what is being typed into it.
 *
 * @typedef {object} Shown
 * @property {HTMLElement} el
 * @property {string} shape what the DOM was built from; another shape rebuilds it
 * @property {Entry} entry
 * @property {{field: Field, state: FormState} | null} form
 * @property {string} text the free text typed so far
 * @property {boolean} busy an answer is on its way
 * @property {string} error the last error answer
 * @property {boolean} answered
 * @property {HTMLElement | null} due
 */

/**
 * @param {object} parts
 * @param {Store} parts.store
 * @param {Notices} parts.notices
 * @param {(nodeId: string) => void} parts.focus show the node on the canvas (highlighted, in view)
 * @param {(nodeId: string) => void} parts.details open the node's details (the panel closes first)
 * @param {() => boolean} parts.detailsOpen whether the details panel is shown
 * @param {() => void} parts.resized the panel opened, closed or changed height
 * @returns {QuestionsPanel}
 */
export function createQuestions({ store, notices, focus, details, detailsOpen, resized }) {
  const badge = h("button", "tb-button tb-q-badge tb-status-waiting");
  badge.type = "button";
  badge.hidden = true;
  const badgeCount = h("span", "tb-q-badge-count", "0");
  const badgeText = h("span", "tb-button-text", "questions");
  badge.append(h("span", "tb-q-badge-mark", "?"), badgeCount, badgeText);
  badge.addEventListener("click", () => (open ? hide(true) : show()));

  const el = h("aside", "tb-questions");
  el.setAttribute("aria-label", "Open questions");
  el.hidden = true;
  const head = h("div", "tb-q-head");
  const title = h("span", "tb-q-heading", "Questions");
  const close = h("button", "tb-button tb-icon-only tb-q-close", "✕");
  close.type = "button";
  close.title = "Close the questions";
  close.setAttribute("aria-label", "Close the questions");
  close.addEventListener("click", () => hide(true));
  head.append(title, close);
  const list = h("div", "tb-q-list");
  const empty = h("div", "tb-q-empty", "No open questions.");
  const fetchError = h("div", "tb-q-error");
  fetchError.hidden = true;
  el.append(head, fetchError, list, empty);
  // Keys typed in the panel are the panel's (the canvas's shortcuts listen on the canvas only).
  el.addEventListener("keydown", (e) => e.stopPropagation());

  /** waiting nodes, kept from the changes (a frame names the nodes it changed) */
  const waiting = new Set();
  /** @type {Question[]} the last `questions` answer */
  let full = [];
  let lastKey = "";
  let token = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let fetchTimer;
  /** @type {Map<string, Shown>} */
  const shown = new Map();
  /** @type {Entry[]} */
  let entries = [];
  /** the open entry's question id ("" : the oldest) */
  let current = "";
  let open = false;
  /** closed by hand while questions were open: do not open by itself again until none are */
  let dismissed = false;

  const ticker = setInterval(() => {
    if (!open) return;
    for (const s of shown.values()) if (s.due && s.entry.deadline !== undefined) s.due.textContent = dueLine(s.entry);
  }, 1000);

  /** @param {StoreChange} change */
  function changed(change) {
    const nodes = store.client.state?.nodes;
    if (change.reset || !nodes) {
      waiting.clear();
      full = [];
      lastKey = "";
      current = "";
      dismissed = false;
      for (const s of shown.values()) s.el.remove();
      shown.clear();
    }
    if (nodes) {
      if (change.nodes === null) {
        waiting.clear();
        for (const id in nodes) if (nodes[id].status === "waiting") waiting.add(id);
      } else {
        for (const id of change.nodes) {
          if (nodes[id]?.status === "waiting") waiting.add(id);
          else waiting.delete(id);
        }
      }
    }
    // The run's own questions (budgets) make no node wait: their events, or a
    // new state whose run says it has some, are what says to read them again.
    // (A request while a cell runs shows the kernel idle in JupyterLab: none is
    // sent that is not needed.)
    const runAsks = Number(store.client.state?.run.questions ?? 0) > 0;
    let asked = change.nodes === null && !!nodes && !stored() && runAsks;
    for (const event of change.events) {
      const e = /** @type {Record<string, any>} */ (event);
      if (e.kind === "question" || e.kind === "answered") asked = true;
      if (e.kind === "question" && !open) notices.show("info", `${e.node_id ? nameOf(String(e.node_id)) : "The run"} asks: ${oneLine(e.prompt)}`);
    }
    const mine = waitingNodes();
    const key = openKey(mine);
    if (key !== lastKey) {
      lastKey = key;
      if (key) fetchSoon();
      else full = full.filter((q) => typeof q.key === "string" && q.key.startsWith(RUN_ASKS));
    }
    if (asked) fetchSoon();
    refresh();
  }

  /** @returns {Record<string, NodeSummary>} */
  function waitingNodes() {
    const nodes = store.client.state?.nodes;
    /** @type {Record<string, NodeSummary>} */
    const out = {};
    if (nodes) for (const id of waiting) if (nodes[id]) out[id] = nodes[id];
    return out;
  }

  /** A stored run's questions are shown, not answered: the run is not running here. */
  function stored() {
    return store.client.state?.run.stored === true;
  }

  /** @param {string} id */
  function nameOf(id) {
    return store.client.state?.nodes[id]?.label || id;
  }

  function fetchSoon() {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(fetchFull, 30);
  }

  function fetchFull() {
    const mine = ++token;
    store.request({ type: "questions" }).then(
      (answer) => {
        if (mine !== token) return;
        full = Array.isArray(answer.questions) ? answer.questions : [];
        fetchError.hidden = true;
        refresh();
      },
      (error) => {
        if (mine !== token) return;
        fetchError.textContent = `Could not read the questions: ${errorText(error)}`;
        fetchError.hidden = false;
      },
    );
  }

  /** Bring the list up to date with the entries, keeping what does not change. */
  function refresh() {
    entries = panelEntries(waitingNodes(), full);
    const n = entries.length;
    badge.hidden = n === 0;
    badgeCount.textContent = String(n);
    badgeText.textContent = n === 1 ? "question" : "questions";
    badge.title = `${n} open ${n === 1 ? "question" : "questions"}: click to ${open ? "hide" : "show"} them`;
    badge.setAttribute("aria-label", `${n} open ${n === 1 ? "question" : "questions"}`);
    title.textContent = n ? `Questions (${n})` : "Questions";
    empty.hidden = n > 0;
    if (n === 0) dismissed = false;
    else if (!open && !dismissed && !detailsOpen()) show();

    const ids = new Set(entries.map((e) => e.id));
    for (const [id, s] of shown) {
      if (!ids.has(id)) {
        s.el.remove();
        shown.delete(id);
      }
    }
    if (!ids.has(current)) current = entries[0]?.id ?? "";
    let before = /** @type {ChildNode | null} */ (list.firstChild);
    for (const entry of entries) {
      let s = shown.get(entry.id);
      const shape = shapeOf(entry);
      if (!s) {
        s = build(entry, null);
        shown.set(entry.id, s);
      } else if (s.shape !== shape) {
        const old = s;
        s = build(entry, old);
        if (before === old.el) before = old.el.nextSibling;
        old.el.remove();
        shown.set(entry.id, s);
      } else s.entry = entry;
      s.el.classList.toggle("tb-q-open", entry.id === current);
      s.el.setAttribute("aria-expanded", String(entry.id === current));
      // Move only what is out of place: moving a focused input would blur it.
      if (s.el !== before) list.insertBefore(s.el, before);
      before = s.el.nextSibling;
    }
    if (open) resized();
  }

  /** @param {Entry} e */
  function shapeOf(e) {
    return JSON.stringify([e.full, e.kind, e.name, e.open, e.prompt, e.preview ?? null, e.schema ? 1 : 0]);
  }

  /**
   * The DOM of one entry; `old` is the entry it replaces (what was typed is kept).
   *
   * @param {Entry} entry
   * @param {Shown | null} old
   * @returns {Shown}
   */
  function build(entry, old) {
    const el = h("section", "tb-q-entry");
    el.dataset.questionId = entry.id;
    el.dataset.nodeId = entry.nodeId;
    el.dataset.kind = entry.kind;
    /** @type {Shown} */
    const s = {
      el,
      shape: shapeOf(entry),
      entry,
      form: null,
      text: old?.text ?? "",
      busy: false,
      error: old?.error ?? "",
      answered: old?.answered ?? false,
      due: null,
    };

    const top = h("button", "tb-q-title");
    top.type = "button";
    top.title = "Open this question and show its node";
    const name = h("span", "tb-q-node", entry.name);
    const more = entry.open > 1 ? h("span", "tb-q-more", `${entry.open} open`) : null;
    top.append(h("span", "tb-q-mark", "?"), name);
    if (more) top.append(more);
    top.addEventListener("click", () => {
      current = entry.id;
      refresh();
      focus(entry.nodeId);
    });

    const body = h("div", "tb-q-body");
    const prompt = h("div", "tb-q-prompt");
    prompt.append(...markdownNodes(entry.prompt));
    body.append(prompt);

    if (entry.hasData || entry.preview !== undefined) {
      const box = h("details", "tb-q-data");
      box.open = entry.kind !== "form";
      box.append(h("summary", "", "Data"), h("pre", "", entry.hasData ? prettyData(entry.data) : (entry.preview ?? "")));
      body.append(box);
    }

    const answer = h("div", "tb-q-answer");
    const status = h("div", "tb-q-status");
    status.setAttribute("role", "status");
    const error = h("div", "tb-q-error");
    error.setAttribute("role", "alert");
    /** @type {(HTMLButtonElement | HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement)[]} */
    const controls = [];

    if (entry.kind === "choices") {
      const row = h("div", "tb-q-choices");
      (entry.choices ?? []).forEach((choice, k) => {
        const b = h("button", "tb-button tb-q-choice", choiceLabel(choice));
        b.type = "button";
        b.dataset.choice = String(k);
        if (entry.hasDefault && choiceLabel(entry.default) === choiceLabel(choice)) {
          b.title = "The answer if nobody answers in time";
          b.classList.add("tb-q-default");
        }
        b.addEventListener("click", () => send(s, choice));
        controls.push(b);
        row.append(b);
      });
      answer.append(row);
    } else if (entry.kind === "form") {
      if (!entry.schema) answer.append(h("div", "tb-q-loading", stored() ? "" : "Loading the form…"));
      else {
        const field = formFor(entry.schema);
        const state = old?.form ? old.form.state : initialState(field, entry.data, entry.hasData);
        s.form = { field, state };
        /** @type {Map<string, HTMLElement>} */
        const hintEls = new Map();
        const form = h("form", "tb-q-form");
        form.noValidate = true;
        const update = () => {
          if (!s.form) return;
          const { hints } = collect(s.form.field, s.form.state);
          for (const [path, span] of hintEls) span.textContent = hintAt(hints, path);
        };
        form.append(
          fieldEl(
            field,
            () => /** @type {{field: Field, state: FormState}} */ (s.form).state,
            (v) => {
              /** @type {{field: Field, state: FormState}} */ (s.form).state = v;
            },
            "",
            { hintEls, update, controls, label: "" },
          ),
        );
        const submit = h("button", "tb-button tb-primary tb-q-submit", "Submit");
        submit.type = "submit";
        controls.push(submit);
        form.append(submit);
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          if (!s.form) return;
          send(s, collect(s.form.field, s.form.state).value);
        });
        answer.append(form);
        update();
      }
    } else {
      const area = h("textarea", "tb-q-text");
      area.rows = 3;
      area.placeholder = "Your answer (Ctrl+Enter sends)";
      area.setAttribute("aria-label", "Your answer");
      area.value = s.text;
      area.addEventListener("input", () => (s.text = area.value));
      const submit = h("button", "tb-button tb-primary tb-q-submit", "Send");
      submit.type = "button";
      submit.addEventListener("click", () => send(s, area.value));
      area.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          send(s, area.value);
        }
      });
      controls.push(area, submit);
      answer.append(area, submit);
    }
    body.append(answer, error, status);

    const foot = h("div", "tb-q-foot");
    if (entry.deadline !== undefined) {
      s.due = h("span", "tb-q-due", dueLine(entry));
      foot.append(s.due);
    }
    if (entry.nodeId) {
      // (The run's own budget question has no node.)
      const link = h("button", "tb-q-link tb-q-details", "Node details");
      link.type = "button";
      link.addEventListener("click", () => details(entry.nodeId));
      foot.append(link);
    }
    body.append(foot);
    el.append(top, body);

    /** Show the entry's state: busy, answered, its error. */
    const paint = () => {
      const frozen = stored();
      for (const c of controls) c.disabled = s.busy || s.answered || frozen;
      error.textContent = s.error;
      error.hidden = !s.error;
      status.textContent = frozen
        ? STORED_NOTE
        : s.busy
          ? "Sending…"
          : s.answered
            ? "Answered: the run goes on."
            : "";
      status.hidden = !status.textContent;
      el.classList.toggle("tb-q-answered", s.answered);
    };
    paints.set(s, paint);
    paint();
    return s;
  }

  /** @type {WeakMap<Shown, () => void>} */
  const paints = new WeakMap();

  /**
   * Send an answer; an error answer stays under the entry, which stays open.
   *
   * @param {Shown} s
   * @param {unknown} value
   */
  function send(s, value) {
    if (s.busy || s.answered || stored()) return;
    s.busy = true;
    s.error = "";
    paints.get(s)?.();
    const id = s.entry.id;
    store.request({ type: "answer", question_id: id, value }).then(
      () => {
        s.busy = false;
        s.answered = true;
        paints.get(s)?.();
      },
      (error) => {
        s.busy = false;
        s.error = errorText(error);
        paints.get(s)?.();
        if (open) resized();
        s.el.querySelector(".tb-q-error")?.scrollIntoView?.({ block: "nearest" });
      },
    );
  }

  /** @param {Entry} entry */
  function dueLine(entry) {
    const when = dueText(/** @type {number} */ (entry.deadline), Date.now() / 1000);
    return entry.hasDefault ? `Times out ${when}: then ${choiceLabel(entry.default)}` : `Times out ${when}`;
  }

  function show() {
    if (open) return;
    open = true;
    el.hidden = false;
    badge.classList.add("tb-active");
    badge.setAttribute("aria-pressed", "true");
    resized();
  }

  /** @param {boolean} byHand */
  function hide(byHand) {
    if (byHand && entries.length) dismissed = true;
    if (!open) return;
    open = false;
    el.hidden = true;
    badge.classList.remove("tb-active");
    badge.setAttribute("aria-pressed", "false");
    resized();
  }

  return {
    badge,
    el,
    changed,
    openNode(nodeId) {
      const entry = entries.find((e) => e.nodeId === nodeId);
      if (!entry) return false;
      current = entry.id;
      show();
      refresh();
      shown.get(entry.id)?.el.scrollIntoView?.({ block: "nearest" });
      return true;
    },
    close: () => hide(false),
    isOpen: () => open,
    contentHeight: () => (open ? head.offsetHeight + list.scrollHeight + (fetchError.hidden ? 0 : fetchError.offsetHeight) + 8 : 0),
    count: () => entries.length,
    cleanup: () => {
      clearTimeout(fetchTimer);
      clearInterval(ticker);
      token++;
    },
  };
}

/**
 * @typedef {object} FieldContext
 * @property {Map<string, HTMLElement>} hintEls a hint's element per path
 * @property {() => void} update the form changed: hints again
 * @property {(HTMLButtonElement | HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement)[]} controls
 *   disabled while an answer is on its way
 * @property {string} label the field's label ("" for the whole answer)
 */

let uid = 0;

/**
 * The control for one field of a form.
 *
 * @param {Field} field
 * @param {() => FormState} get
 * @param {(value: FormState) => void} set
 * @param {string} path
 * @param {FieldContext} ctx
 * @returns {HTMLElement}
 */
function fieldEl(field, get, set, path, ctx) {
  const wrap = h("div", `tb-q-field tb-q-field-${field.kind}`);
  wrap.dataset.path = path;
  const id = `tb-q-f${++uid}`;
  const hint = h("div", "tb-q-hint");
  ctx.hintEls.set(path, hint);
  const changed = () => ctx.update();
  /** @param {HTMLElement} control */
  const labelled = (control) => {
    if (ctx.label) {
      const label = h("label", "tb-q-label", ctx.label);
      label.htmlFor = id;
      wrap.append(label);
    }
    control.id = id;
    wrap.append(control);
  };
  const state = get();
  switch (field.kind) {
    case "string": {
      const input = field.multiline ? h("textarea", "tb-q-input") : h("input", "tb-q-input");
      if (input instanceof HTMLInputElement) input.type = "text";
      input.value = typeof state === "string" ? state : "";
      input.addEventListener("input", () => (set(input.value), changed()));
      ctx.controls.push(input);
      labelled(input);
      break;
    }
    case "number":
    case "integer": {
      const input = h("input", "tb-q-input tb-q-number");
      input.type = "text";
      input.inputMode = field.kind === "integer" ? "numeric" : "decimal";
      input.value = typeof state === "string" ? state : "";
      input.addEventListener("input", () => (set(input.value), changed()));
      ctx.controls.push(input);
      labelled(input);
      break;
    }
    case "boolean": {
      const input = h("input", "tb-q-check");
      input.type = "checkbox";
      input.checked = state === true;
      input.addEventListener("change", () => (set(input.checked), changed()));
      ctx.controls.push(input);
      const label = h("label", "tb-q-label tb-q-check-label");
      label.append(input, ctx.label || "yes");
      input.id = id;
      wrap.append(label);
      break;
    }
    case "select": {
      const select = h("select", "tb-q-input tb-q-select");
      select.append(h("option", "", "— choose —"));
      /** @type {HTMLOptionElement} */ (select.firstChild).value = "";
      field.options.forEach((o, k) => {
        const option = h("option", "", choiceLabel(o));
        option.value = String(k);
        select.append(option);
      });
      select.value = typeof state === "string" ? state : "";
      select.addEventListener("change", () => (set(select.value), changed()));
      ctx.controls.push(select);
      labelled(select);
      break;
    }
    case "list": {
      if (ctx.label) wrap.append(h("div", "tb-q-label", ctx.label));
      const rows = h("div", "tb-q-rows");
      const add = h("button", "tb-button tb-q-add", "+ Add");
      add.type = "button";
      const items = () => /** @type {FormState[]} */ (Array.isArray(get()) ? get() : []);
      const draw = () => {
        rows.replaceChildren();
        items().forEach((_, k) => {
          const row = h("div", "tb-q-row");
          const itemPath = path ? `${path}/${k}` : String(k);
          const control = fieldEl(
            field.item,
            () => items()[k],
            (v) => {
              items()[k] = v;
            },
            itemPath,
            { ...ctx, label: "" },
          );
          control.setAttribute("aria-label", `item ${k + 1}`);
          const remove = h("button", "tb-button tb-icon-only tb-q-remove", "✕");
          remove.type = "button";
          remove.title = "Remove this item";
          remove.setAttribute("aria-label", `Remove item ${k + 1}`);
          remove.addEventListener("click", () => {
            items().splice(k, 1);
            draw();
            changed();
          });
          ctx.controls.push(remove);
          row.append(control, remove);
          rows.append(row);
        });
      };
      add.addEventListener("click", () => {
        if (!Array.isArray(get())) set([]);
        items().push(newItem(field.item));
        draw();
        changed();
        /** @type {HTMLElement | null} */ (rows.lastElementChild?.querySelector("input, select, textarea") ?? null)?.focus();
      });
      ctx.controls.push(add);
      draw();
      wrap.append(rows, add);
      break;
    }
    case "object": {
      if (ctx.label) wrap.append(h("div", "tb-q-label tb-q-group", ctx.label));
      const obj = /** @type {{[name: string]: FormState}} */ (
        state !== null && typeof state === "object" && !Array.isArray(state) ? state : {}
      );
      if (obj !== state) set(obj);
      for (const f of field.fields) {
        if (!(f.name in obj)) obj[f.name] = newItem(f.field);
        const label = fieldLabel(f.name, f.field) + (f.required ? " *" : "");
        wrap.append(
          fieldEl(
            f.field,
            () => obj[f.name],
            (v) => {
              obj[f.name] = v;
            },
            path ? `${path}/${f.name}` : f.name,
            { ...ctx, label },
          ),
        );
      }
      break;
    }
    default: {
      const area = h("textarea", "tb-q-input tb-q-json");
      area.rows = 4;
      area.spellcheck = false;
      area.placeholder = "JSON";
      area.value = typeof state === "string" ? state : "";
      area.addEventListener("input", () => (set(area.value), changed()));
      ctx.controls.push(area);
      labelled(area);
    }
  }
  if (field.description) wrap.append(h("div", "tb-q-description", field.description));
  wrap.append(hint);
  return wrap;
}

/**
 * @param {unknown} text
 * @returns {string}
 */
function oneLine(text) {
  const s = String(text ?? "").replace(/\s+/g, " ").trim();
  return s.length > 120 ? s.slice(0, 119) + "…" : s;
}
