/**
 * Synthetic runs for the harness, the layout tests and the benchmarks: a
 * layered DAG of named tasks caught mid-run, with a few expanded nodes whose
 * children form their own small graphs (one of them nested one level
 * deeper), and a stream of status-only batches.
 *
 * Deterministic for a given seed; no DOM, so node and the browser share it.
 *
 * @module
 */

const FAMILIES = [
  "load", "fetch", "parse", "clean", "split", "embed", "score", "rank",
  "filter", "join", "summarise", "review", "merge", "report", "publish",
];

/**
 * A small deterministic PRNG (mulberry32).
 *
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @typedef {import("../src/reducer.js").State} State
 * @typedef {import("../src/reducer.js").NodeSummary} NodeSummary
 */

/**
 * @param {{nodes?: number, seed?: number, expanded?: number, progress?: number, name?: string, id?: string, reused?: number}} [options]
 *   `nodes`: about how many nodes (children included); `expanded`: how many
 *   top-level nodes are expanded; `progress`: the fraction of layers done;
 *   `reused`: the fraction of done nodes whose result was reused (`cached`, as in a rerun)
 * @returns {State}
 */
export function syntheticRun(options = {}) {
  const total = options.nodes ?? 1000;
  const random = rng(options.seed ?? 7);
  const expandedCount = options.expanded ?? Math.max(2, Math.min(12, Math.round(total / 400)));
  const progress = options.progress ?? 0.45;
  const childTotal = Math.round(total * 0.12);
  const perParent = Math.max(4, Math.round(childTotal / expandedCount));
  const top = Math.max(2, total - perParent * expandedCount - 4);
  // About 2.2 times as wide as tall once laid out (columns of 232, rows of 46 units).
  const layers = Math.max(2, Math.round(Math.sqrt(top * 0.45)));
  const width = Math.ceil(top / layers);

  /** @type {Record<string, NodeSummary>} */
  const nodes = {};
  /** @type {[string, string][]} */
  const edges = [];
  /** @type {string[][]} */
  const grid = [];
  const frontier = Math.floor(layers * progress);
  let clock = 0;

  for (let l = 0; l < layers; l++) {
    const family = FAMILIES[l % FAMILIES.length] + (l >= FAMILIES.length ? String(1 + Math.floor(l / FAMILIES.length)) : "");
    const count = l === layers - 1 ? Math.max(1, top - width * (layers - 1)) : width;
    /** @type {string[]} */
    const row = [];
    for (let j = 0; j < count; j++) {
      const id = `${family}_${String(j).padStart(3, "0")}`;
      row.push(id);
      nodes[id] = statusFor(l, frontier, random, () => (clock += 0.01 + random() * 0.05));
      if (l % 5 === 2) nodes[id].tags = ["llm"];
      if (l > 0) {
        const prev = grid[l - 1];
        const centre = Math.round(((j + 0.5) / count) * prev.length - 0.5);
        const fanIn = 1 + Math.floor(random() * 3);
        /** @type {Set<string>} */
        const deps = new Set();
        for (let k = 0; k < fanIn; k++) {
          const at = Math.min(prev.length - 1, Math.max(0, centre + Math.round((random() - 0.5) * 4)));
          deps.add(prev[at]);
        }
        if (l > 1 && random() < 0.08) {
          const back = grid[l - 2];
          deps.add(back[Math.min(back.length - 1, Math.floor(random() * back.length))]);
        }
        for (const d of deps) edges.push([d, id]);
      }
    }
    grid.push(row);
  }
  propagateFailures(nodes, edges);

  // Expanded parents: spread over the layers around the frontier and before it.
  for (let e = 0; e < expandedCount; e++) {
    const l = Math.max(1, Math.min(layers - 1, frontier - 1 - Math.floor((e * frontier) / expandedCount / 1.5)));
    const row = grid[l];
    const parent = row[Math.floor(((e + 0.5) / expandedCount) * row.length) % row.length];
    const active = l >= frontier - 1;
    nodes[parent] = {
      status: active ? (e % 3 === 2 ? "aggregating" : "expanded") : "done",
      attempt: 1,
      started: 1 + l,
      ...(active ? {} : { ended: 2 + l, preview: `{'${parent}': ${perParent} results}` }),
      ...(nodes[parent].tags ? { tags: nodes[parent].tags } : {}),
    };
    addChildren(nodes, edges, parent, perParent, active, random, e === 0 ? 1 : 0);
  }

  // A rerun's reused nodes, drawn from a random stream of their own (the graph stays the same).
  const reused = options.reused ?? 0;
  const parentRun = "pipeline-00c0ffee";
  if (reused > 0) {
    const pick = rng((options.seed ?? 7) + 101);
    for (const id in nodes) {
      if (nodes[id].status === "done" && pick() < reused) nodes[id].cached = { run: parentRun, node: id };
    }
  }

  /** @type {Record<string, number>} */
  const counts = {};
  for (const id in nodes) counts[nodes[id].status] = (counts[nodes[id].status] || 0) + 1;
  const id = options.id ?? "pipeline-7f3a01c2";
  return {
    run: {
      id,
      name: options.name ?? "pipeline",
      status: "running",
      counts,
      total: Object.keys(nodes).length,
      created: Date.now() / 1000 - 95,
      ...(reused > 0 ? { parent_run: parentRun, cache: { hits: Object.values(nodes).filter((n) => n.cached).length, misses: 0, uncacheable: 0 } } : {}),
    },
    nodes,
    edges,
  };
}

/**
 * @param {number} l
 * @param {number} frontier
 * @param {() => number} random
 * @param {() => number} tick
 * @returns {NodeSummary}
 */
function statusFor(l, frontier, random, tick) {
  const r = random();
  if (l < frontier) {
    const started = tick();
    const ended = started + 0.2 + random() * 2;
    if (l === frontier - 1 && r < 0.06) {
      return {
        status: "failed",
        attempt: 3,
        started,
        ended,
        error: { type: "TimeoutError", message: "no answer from the model after 30 s" },
      };
    }
    if (l === frontier - 2 && r < 0.03) return { status: "cancelled", attempt: 1, started, ended };
    return { status: "done", attempt: r < 0.05 ? 2 : 1, started, ended, preview: previewFor(r) };
  }
  if (l === frontier) {
    if (r < 0.45) return { status: "running", attempt: 1, started: tick() };
    if (r < 0.52) {
      return {
        status: "retrying",
        attempt: 2,
        started: tick(),
        error: { type: "RateLimitError", message: "429 Too Many Requests" },
      };
    }
    if (r < 0.75) return { status: "ready" };
    return { status: "done", attempt: 1, started: tick(), ended: tick(), preview: previewFor(r) };
  }
  if (l === frontier + 1 && r < 0.3) return { status: "ready" };
  return { status: "pending" };
}

/** @param {number} r */
function previewFor(r) {
  const options = ["[0.91, 0.13, 0.55]", "'ok'", "{'rows': 1204, 'bad': 3}", "'A short summary of the section…'", "42"];
  return options[Math.floor(r * 1000) % options.length];
}

/**
 * Mark what is downstream of a failed node as skipped, as the engine does,
 * but only a few layers deep, so the picture keeps all its colours.
 *
 * @param {Record<string, NodeSummary>} nodes
 * @param {[string, string][]} edges
 */
function propagateFailures(nodes, edges) {
  /** @type {Map<string, string[]>} */
  const out = new Map();
  for (const [a, b] of edges) {
    const list = out.get(a);
    if (list) list.push(b);
    else out.set(a, [b]);
  }
  let wave = Object.keys(nodes).filter((id) => nodes[id].status === "failed" || nodes[id].status === "cancelled");
  for (let depth = 0; depth < 3; depth++) {
    /** @type {string[]} */
    const next = [];
    for (const id of wave) {
      for (const down of out.get(id) ?? []) {
        if (nodes[down].status === "skipped") continue;
        nodes[down] = { status: "skipped", ...(nodes[down].tags ? { tags: nodes[down].tags } : {}) };
        next.push(down);
      }
    }
    wave = next;
  }
}

/**
 * Children of an expanded node: plan → steps → combine, steps in two rows
 * of dependencies; `nest` > 0 expands the first step once more.
 *
 * @param {Record<string, NodeSummary>} nodes
 * @param {[string, string][]} edges
 * @param {string} parent
 * @param {number} count
 * @param {boolean} active
 * @param {() => number} random
 * @param {number} nest
 */
function addChildren(nodes, edges, parent, count, active, random, nest) {
  const steps = Math.max(2, count - 2);
  const plan = `${parent}/plan`;
  const combine = `${parent}/combine`;
  nodes[plan] = { status: "done", attempt: 1, started: 1, ended: 1.4, parent, preview: `${steps} steps` };
  const half = Math.ceil(steps / 2);
  /** @type {string[]} */
  const first = [];
  for (let i = 0; i < steps; i++) {
    const id = `${parent}/${i < half ? "search" : "read"}_${i < half ? i : i - half}`;
    const r = random();
    const status = !active ? "done" : r < 0.35 ? "done" : r < 0.6 ? "running" : r < 0.65 ? "retrying" : r < 0.8 ? "ready" : "pending";
    nodes[id] = {
      status,
      parent,
      ...(status === "pending" || status === "ready" ? {} : { attempt: status === "retrying" ? 2 : 1, started: 2 }),
      ...(status === "done" ? { ended: 3, preview: previewFor(r) } : {}),
      ...(status === "retrying" ? { error: { type: "HTTPError", message: "502 Bad Gateway" } } : {}),
    };
    if (i < half) {
      edges.push([plan, id]);
      first.push(id);
    } else {
      edges.push([first[(i - half) % first.length], id]);
      edges.push([id, combine]);
    }
  }
  if (steps < 2 * half) edges.push([first[first.length - 1], combine]);
  nodes[combine] = { status: active ? "pending" : "done", parent, ...(active ? {} : { attempt: 1, started: 3, ended: 3.5 }) };
  if (nest > 0 && first.length) {
    const inner = first[0];
    nodes[inner] = { ...nodes[inner], status: active ? "expanded" : "done", attempt: 1, started: 2 };
    addChildren(nodes, edges, inner, 5, active, random, nest - 1);
  }
}

/** The order nodes go through in the batch stream (wrapping round). */
const CYCLE = /** @type {Record<string, string>} */ ({
  pending: "ready",
  ready: "running",
  running: "done",
  retrying: "running",
  done: "pending",
  failed: "pending",
  skipped: "pending",
  cancelled: "pending",
});

/**
 * A status-only patch that moves `changes` nodes one step on (expanded
 * and aggregating nodes are left alone), and the run's new counts.
 *
 * @param {State} state read, not changed
 * @param {number} changes
 * @param {() => number} random
 * @param {number} now seconds since the run's start
 * @returns {Record<string, any>} a merge patch
 */
export function statusPatch(state, changes, random, now) {
  const ids = Object.keys(state.nodes);
  /** @type {Record<string, Record<string, any>>} */
  const patch = {};
  const counts = { ...state.run.counts };
  let made = 0;
  for (let tries = 0; made < changes && tries < changes * 4; tries++) {
    const id = ids[Math.floor(random() * ids.length)];
    if (patch[id]) continue;
    const node = state.nodes[id];
    const next = CYCLE[node.status];
    if (!next) continue;
    made++;
    /** @type {Record<string, any>} */
    const change = { status: next };
    if (next === "running") Object.assign(change, { attempt: 1, started: now });
    if (next === "done") Object.assign(change, { ended: now, preview: "'ok'" });
    if (next === "pending") Object.assign(change, { attempt: null, started: null, ended: null, preview: null, error: null });
    patch[id] = change;
    counts[node.status] = (counts[node.status] || 0) - 1;
    counts[next] = (counts[next] || 0) + 1;
  }
  return { run: { counts }, nodes: patch };
}

/**
 * A small agent-shaped run: a planner fans out to `width` researchers, each
 * expanded into a few questions and a synthesis, then a writer and a report.
 *
 * @param {{width?: number, id?: string}} [options]
 * @returns {State}
 */
export function agentRun(options = {}) {
  const width = options.width ?? 9;
  /** @type {Record<string, NodeSummary>} */
  const nodes = {};
  /** @type {[string, string][]} */
  const edges = [];
  const done = (/** @type {number} */ t, /** @type {string} */ preview) => ({ status: "done", attempt: 1, started: t, ended: t + 0.5, preview });
  nodes.topic = done(0, "'solid-state batteries'");
  nodes.agent = { status: "expanded", attempt: 1, started: 0.5 };
  nodes.report = { status: "pending" };
  edges.push(["topic", "agent"], ["agent", "report"]);
  nodes["agent/plan"] = { ...done(0.6, `${width} questions`), parent: "agent" };
  nodes["agent/write"] = { status: "pending", parent: "agent" };
  for (let i = 0; i < width; i++) {
    const r = `agent/research_${i}`;
    const active = i >= width - 3;
    nodes[r] = { status: active ? "expanded" : "done", attempt: 1, started: 1, parent: "agent", ...(active ? {} : { ended: 3 }) };
    edges.push(["agent/plan", r], [r, "agent/write"]);
    for (let q = 1; q <= 3; q++) {
      const status = !active ? "done" : q === 1 ? "done" : q === 2 ? "running" : i === width - 1 ? "retrying" : "ready";
      nodes[`${r}/q${q}`] = {
        status,
        parent: r,
        ...(status === "ready" ? {} : { attempt: status === "retrying" ? 2 : 1, started: 1.2 }),
        ...(status === "done" ? { ended: 1.9, preview: "'…'" } : {}),
        ...(status === "retrying" ? { error: { type: "RateLimitError", message: "429" } } : {}),
      };
      edges.push([`${r}/q${q}`, `${r}/synthesise`]);
    }
    nodes[`${r}/synthesise`] = active ? { status: "pending", parent: r } : { ...done(2.5, "'summary'"), parent: r };
  }
  /** @type {Record<string, number>} */
  const counts = {};
  for (const id in nodes) counts[nodes[id].status] = (counts[nodes[id].status] || 0) + 1;
  const id = options.id ?? "research-4b1e9d";
  return {
    run: { id, name: "research", status: "running", counts, total: Object.keys(nodes).length, created: Date.now() / 1000 - 12 },
    nodes,
    edges,
  };
}

/**
 * `count` independent chains of `length` steps (the shape of a fast run of
 * many parallel pipelines), some done, some running, the rest pending.
 *
 * @param {{count?: number, length?: number, id?: string}} [options]
 * @returns {State}
 */
export function chainsRun(options = {}) {
  const count = options.count ?? 160;
  const length = options.length ?? 10;
  /** @type {Record<string, NodeSummary>} */
  const nodes = {};
  /** @type {[string, string][]} */
  const edges = [];
  for (let i = 0; i < count; i++) {
    const reached = (i * 7) % (length + 1);
    for (let l = 0; l < length; l++) {
      const id = `l${l}_${i}`;
      nodes[id] =
        l < reached
          ? { status: "done", attempt: 1, started: l, ended: l + 0.02, preview: String(i) }
          : l === reached
            ? { status: "running", attempt: 1, started: l }
            : { status: "pending" };
      if (l > 0) edges.push([`l${l - 1}_${i}`, id]);
    }
  }
  /** @type {Record<string, number>} */
  const counts = {};
  for (const id in nodes) counts[nodes[id].status] = (counts[nodes[id].status] || 0) + 1;
  const id = options.id ?? "fast-2c81aa";
  return {
    run: { id, name: "fast", status: "running", counts, total: Object.keys(nodes).length, created: Date.now() / 1000 - 4 },
    nodes,
    edges,
  };
}
