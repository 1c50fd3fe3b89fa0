/**
 * The harness page: a fake kernel and model driving the real bundle (the
 * anywidget default export of `widget.js`), with timings exposed on
 * `window.harness` for `shoot.py`.
 *
 * URL parameters: `n` (nodes, 1000), `theme` (light | dark), `gzip` (1 | 0),
 * `service` (1: service mode with a few runs), `height` (px, 480), `shape`
 * (`agent`: a small agent run whose fan-out is `n` wide; `chains`: `n`
 * independent chains of ten steps), `reused` (the fraction of done nodes
 * drawn as reused, as in a rerun; 0).
 *
 * @module
 */

import { FakeKernel, FakeModel } from "./kernel.js";

const params = new URLSearchParams(location.search);
const n = Number(params.get("n") ?? 1000);
const dark = params.get("theme") === "dark";
const service = params.get("service") === "1";
document.body.dataset.jpThemeLight = dark ? "false" : "true";
document.body.dataset.jpThemeName = dark ? "JupyterLab Dark" : "JupyterLab Light";

// The bundle as the package ships it (shoot.py serves it under /bundle/).
const BUNDLE = "/bundle/widget.js";
/** @type {any} */
const widget = (await import(BUNDLE)).default;

const model = new FakeModel({ run_id: service ? "" : "pipeline-7f3a01c2", mode: service ? "service" : "run", height: Number(params.get("height") ?? 480) });
const kernel = new FakeKernel(model, {
  nodes: n,
  compress: params.get("gzip") !== "0",
  runs: service ? 3 : 1,
  shape: params.get("shape") ?? undefined,
  reused: Number(params.get("reused") ?? 0),
});
if (service) model.attributes.run_id = "";
const snapshotBytes = await kernel.prepare();

const el = /** @type {HTMLElement} */ (document.getElementById("widget"));
const t0 = performance.now();
const modelCleanup = widget.initialize({ model });
const cleanup = widget.render({ model, el });
const root = /** @type {any} */ (el.querySelector(".taskbeam-view"));

/** Resolves with the time (ms) from render to the first frame that shows the snapshot. */
const firstPaint = new Promise((resolve) => {
  const check = () => {
    const paint = root.taskbeam.paints.find((/** @type {{seq: number | null}} */ p) => p.seq !== null);
    if (paint) resolve(paint.t - (performance.timeOrigin + t0));
    else requestAnimationFrame(check);
  };
  check();
});

/**
 * @param {number[]} values
 * @param {number} q
 */
function quantile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Stream `perSecond` batches a second of `changes` status changes each, for
 * `seconds`; measure frame times and latency.
 *
 * @param {number} perSecond
 * @param {number} changes
 * @param {number} seconds
 */
async function stream(perSecond, changes, seconds) {
  const count = Math.round(perSecond * seconds);
  const batches = await kernel.prepareStream(count, changes);
  const hook = root.taskbeam;
  const paintsBefore = hook.paints.length;
  const framesBefore = hook.frameTimes.length;
  const layoutsBefore = hook.layouts;
  /** @type {Map<number, number>} */
  const sent = new Map();
  /** @type {number[]} */
  const intervals = [];
  /** @type {number[]} */
  const longTasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longTasks.push(entry.duration);
  });
  try {
    observer.observe({ type: "longtask", buffered: false });
  } catch {
    // not supported: no long-task count
  }
  let running = true;
  let last = performance.now();
  const tick = () => {
    const now = performance.now();
    intervals.push(now - last);
    last = now;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  const start = performance.now();
  await new Promise((resolve) => {
    let k = 0;
    const next = () => {
      if (k >= batches.length) {
        resolve(undefined);
        return;
      }
      const b = batches[k++];
      sent.set(b.seq, performance.timeOrigin + performance.now());
      kernel.deliver(b.header, b.buffer);
      // Keep the schedule: the k-th batch goes at start + k / perSecond.
      setTimeout(next, Math.max(0, start + (k * 1000) / perSecond - performance.now()));
    };
    next();
  });
  const lastSeq = batches[batches.length - 1].seq;
  kernel.commitStream(lastSeq);
  // Wait until the last batch is painted.
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline && !hook.paints.some((/** @type {{seq: number}} */ p) => p.seq === lastSeq)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  running = false;
  observer.disconnect();
  const paints = hook.paints.slice(paintsBefore);
  const frames = hook.frameTimes.slice(framesBefore);
  /** @type {number[]} */
  const latency = [];
  for (const [seq, t] of sent) {
    const paint = paints.find((/** @type {{seq: number, t: number}} */ p) => p.seq !== null && p.seq >= seq);
    if (paint) latency.push(paint.t - t);
  }
  const steady = intervals.slice(2);
  return {
    batches: batches.length,
    changesPerBatch: changes,
    bytesPerBatch: Math.round(batches.reduce((a, b) => a + b.bytes, 0) / batches.length),
    compressed: batches.filter((b) => b.buffer).length,
    paints: paints.length,
    layoutsDuringStream: hook.layouts - layoutsBefore,
    frameWorkMs: { p50: quantile(frames, 0.5), p95: quantile(frames, 0.95), max: Math.max(...frames) },
    rafIntervalMs: { p50: quantile(steady, 0.5), p95: quantile(steady, 0.95), max: Math.max(...steady) },
    latencyMs: { p50: quantile(latency, 0.5), p95: quantile(latency, 0.95), max: Math.max(...latency) },
    longTasks: longTasks.length,
    longestTaskMs: longTasks.length ? Math.max(...longTasks) : 0,
    finalSeq: hook.seq,
    kernelSeq: kernel.seq,
  };
}

/** Whether every node's colour class matches the kernel's status. */
function agrees() {
  const classes = root.taskbeam.nodeClasses();
  const nodes = kernel.state.nodes;
  let wrong = 0;
  for (const id in nodes) if (classes[id] !== `tb-status-${nodes[id].status}`) wrong++;
  return { wrong, total: Object.keys(nodes).length, seq: root.taskbeam.seq, kernelSeq: kernel.seq };
}

/** Switch the page's theme the way JupyterLab does (variables, then the body attribute). */
function setTheme(/** @type {"light" | "dark"} */ theme) {
  document.body.dataset.jpThemeLight = theme === "dark" ? "false" : "true";
  document.body.dataset.jpThemeName = theme === "dark" ? "JupyterLab Dark" : "JupyterLab Light";
}

/** @type {any} */ (window).harness = {
  n,
  snapshotBytes,
  firstPaint,
  stream,
  agrees,
  setTheme,
  kernel,
  model,
  root,
  cleanup: () => {
    cleanup();
    modelCleanup?.();
  },
};
