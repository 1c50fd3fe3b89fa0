/**
 * A fake kernel and a fake anywidget model, in the page: the widget talks to
 * them exactly as it talks to Jupyter (custom messages, gzip frames as
 * binary buffers, request ids), so the harness drives the real bundle.
 *
 * Frames are prepared before they are timed (JSON, gzip), the way the real
 * broadcaster does its work in the kernel, so the page's clock measures the
 * view alone.
 *
 * @module
 */

import { applyPatch } from "../src/patch.js";
import { agentRun, chainsRun, rng, statusPatch, syntheticRun } from "./synthetic.js";

/** @typedef {import("../src/reducer.js").State} State */
/** @typedef {Record<string, any>} Message */

/** Messages at least this long are gzipped, when that saves 20 % (as the broadcaster does). */
const COMPRESS_MIN = 1024;

/**
 * @param {string} text
 * @returns {Promise<Uint8Array>}
 */
async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A message as it goes on the wire: itself, or a header and its gzip.
 *
 * @param {Message} message
 * @param {boolean} compress
 * @returns {Promise<{header: Message, buffer: Uint8Array | null, json: string}>}
 */
export async function encode(message, compress) {
  const json = JSON.stringify(message);
  if (compress && json.length >= COMPRESS_MIN) {
    const body = await gzip(json);
    if (body.length <= json.length * 0.8) {
      /** @type {Message} */
      const header = { type: message.type, encoding: "gzip" };
      if (message.room !== undefined) header.room = message.room;
      if (message.seq !== undefined) header.seq = message.seq;
      return { header, buffer: body, json };
    }
  }
  return { header: message, buffer: null, json };
}

/** A minimal stand-in for an anywidget model (Backbone-style events). */
export class FakeModel {
  /** @param {Record<string, any>} attributes */
  constructor(attributes) {
    this.attributes = { ...attributes };
    /** @type {Map<string, Set<(...args: any[]) => void>>} */
    this.listeners = new Map();
    /** @type {(message: Message) => void} */
    this.toKernel = () => {};
    this.sent = 0;
  }

  /** @param {string} name */
  get(name) {
    return this.attributes[name];
  }

  /**
   * @param {string} name
   * @param {unknown} value
   */
  set(name, value) {
    if (this.attributes[name] === value) return;
    this.attributes[name] = value;
    this.emit(`change:${name}`, this, value);
  }

  save_changes() {}

  /** @param {Message} content */
  send(content) {
    this.sent += 1;
    // Through JSON, as a real comm does, and later, never in the caller's stack.
    const copy = JSON.parse(JSON.stringify(content));
    setTimeout(() => this.toKernel(copy), 0);
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} callback
   */
  on(event, callback) {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(callback);
  }

  /**
   * @param {string} [event]
   * @param {(...args: any[]) => void} [callback]
   */
  off(event, callback) {
    if (!event) this.listeners.clear();
    else if (!callback) this.listeners.delete(event);
    else this.listeners.get(event)?.delete(callback);
  }

  /**
   * @param {string} event
   * @param {...any} args
   */
  emit(event, ...args) {
    for (const callback of [...(this.listeners.get(event) ?? [])]) callback(...args);
  }
}

/**
 * The kernel side: a run's state, a seq, answers to requests, and a
 * stream of batches.
 */
export class FakeKernel {
  /**
   * @param {FakeModel} model
   * @param {{nodes: number, compress?: boolean, seed?: number, runs?: number, shape?: string, reused?: number}} options
   */
  constructor(model, options) {
    this.model = model;
    this.compress = options.compress ?? true;
    this.random = rng((options.seed ?? 7) + 1);
    /** @type {Map<string, State>} */
    this.runs = new Map();
    const count = options.runs ?? 1;
    for (let r = 0; r < count; r++) {
      const id = r === 0 ? "pipeline-7f3a01c2" : `pipeline-${r}-${(0x9a3c + r * 977).toString(16)}`;
      this.runs.set(id, syntheticRun({ nodes: r === 0 ? options.nodes : Math.max(30, options.nodes >> (r + 1)), seed: options.seed ?? 7 + r, id, name: r === 0 ? "pipeline" : `pipeline #${r + 1}`, reused: options.reused }));
    }
    if (options.shape === "agent" || options.shape === "chains") {
      this.runs.clear();
      const run = options.shape === "agent" ? agentRun({ width: options.nodes }) : chainsRun({ count: options.nodes });
      this.runs.set(run.run.id, run);
      model.attributes.run_id = run.run.id;
    }
    this.room = String(model.get("run_id") || [...this.runs.keys()][0]);
    this.seq = 100;
    /** @type {{header: Message, buffer: Uint8Array | null} | null} */
    this.preparedSnapshot = null;
    /** @type {Message[]} */
    this.log = [];
    /** @type {State | null} */
    this.shadow = null;
    model.toKernel = (message) => this.receive(message);
    model.on("change:run_id", () => {
      this.room = String(model.get("run_id"));
      this.preparedSnapshot = null;
    });
  }

  get state() {
    return /** @type {State} */ (this.runs.get(this.room));
  }

  /** Build (and gzip) the snapshot now, so a resync answers at once. */
  async prepare() {
    const message = { type: "snapshot", room: this.room, seq: this.seq, state: this.state };
    const wire = await encode(message, this.compress);
    this.preparedSnapshot = { header: wire.header, buffer: wire.buffer };
    return wire.json.length;
  }

  /**
   * Deliver a message to the view as a comm would (a fresh copy, buffers as DataViews).
   *
   * @param {Message} header
   * @param {Uint8Array | null} buffer
   */
  deliver(header, buffer) {
    const copy = JSON.parse(JSON.stringify(header));
    const buffers = buffer ? [new DataView(buffer.slice().buffer)] : [];
    this.model.emit("msg:custom", copy, buffers);
  }

  /** @param {Message} message */
  async send(message) {
    const wire = await encode(message, this.compress);
    this.deliver(wire.header, wire.buffer);
  }

  /** @param {Message} request */
  async receive(request) {
    this.log.push(request);
    const id = request.id;
    const state = this.state;
    switch (request.type) {
      case "resync": {
        this.deliver({ type: "ok", id }, null);
        const prepared = this.preparedSnapshot;
        this.preparedSnapshot = null;
        if (prepared) this.deliver(prepared.header, prepared.buffer);
        else await this.send({ type: "snapshot", room: this.room, seq: this.seq, state });
        return;
      }
      case "node_details": {
        const node = state.nodes[request.node_id];
        if (!node) {
          await this.send({ type: "error", error: `no node '${request.node_id}' in run ${this.room}`, id });
          return;
        }
        await this.send({ type: "node_details", node_id: request.node_id, details: this.details(request.node_id), id });
        return;
      }
      case "pause":
      case "resume":
      case "cancel": {
        this.deliver({ type: "ok", id }, null);
        const status = request.type === "pause" ? "paused" : request.type === "resume" ? "running" : "cancelled";
        await this.batch({ run: { status } }, request.type === "cancel" ? [{ kind: "run", status }] : []);
        return;
      }
      case "cancel_node": {
        this.deliver({ type: "ok", id }, null);
        const node = state.nodes[request.node_id];
        if (node) {
          const counts = { ...state.run.counts };
          counts[node.status] -= 1;
          counts.cancelled = (counts.cancelled ?? 0) + 1;
          await this.batch({ run: { counts }, nodes: { [request.node_id]: { status: "cancelled", ended: 99 } } });
        }
        return;
      }
      case "runs":
        this.deliver(
          { type: "runs", runs: [...this.runs.values()].map((s) => ({ id: s.run.id, name: s.run.name, status: s.run.status })), id },
          null,
        );
        return;
      default:
        this.deliver({ type: "error", error: `unknown request '${request.type}'`, id }, null);
    }
  }

  /**
   * Apply a patch to the kernel's state and send it as the next batch.
   *
   * @param {Record<string, any>} patch
   * @param {object[]} [events]
   */
  async batch(patch, events = []) {
    const message = { type: "batch", room: this.room, seq: this.seq + 1, base_seq: this.seq, patch, events };
    applyPatch(this.state, JSON.parse(JSON.stringify(patch)));
    this.seq += 1;
    await this.send(message);
  }

  /** @param {string} nodeId */
  details(nodeId) {
    const state = this.state;
    const node = state.nodes[nodeId];
    const deps = state.edges.filter((e) => e[1] === nodeId).map((e) => e[0]);
    const children = Object.keys(state.nodes).filter((k) => state.nodes[k].parent === nodeId);
    /** @type {Record<string, any>} */
    const out = { ...node, id: nodeId, deps };
    if (children.length) out.children = children;
    if (node.status === "done") out.result = `${node.preview ?? "None"}  # full repr of ${nodeId}'s result`;
    if (node.error) {
      out.error = {
        ...node.error,
        traceback: [
          "Traceback (most recent call last):",
          '  File "pipeline.py", line 42, in score',
          "    reply = await client.complete(prompt, timeout=30)",
          '  File "llm.py", line 118, in complete',
          "    raise " + node.error.type + "(" + JSON.stringify(node.error.message) + ")",
          `${node.error.type}: ${node.error.message}`,
        ].join("\n"),
      };
    }
    if (node.started !== undefined) out.output = `[${nodeId}] fetching 12 documents\n[${nodeId}] 12/12 parsed, 3 kept\n`;
    return out;
  }

  /**
   * Batches prepared ahead: `count` status-only patches of `changes` nodes,
   * each applied to a copy of the state, encoded and gzipped.
   *
   * @param {number} count
   * @param {number} changes
   * @returns {Promise<{seq: number, header: Message, buffer: Uint8Array | null, bytes: number}[]>}
   */
  async prepareStream(count, changes) {
    const shadow = /** @type {State} */ (JSON.parse(JSON.stringify(this.state)));
    let seq = this.seq;
    const out = [];
    for (let k = 0; k < count; k++) {
      const patch = statusPatch(shadow, changes, this.random, 100 + k * 0.05);
      const message = { type: "batch", room: this.room, seq: seq + 1, base_seq: seq, patch, events: [] };
      applyPatch(shadow, JSON.parse(JSON.stringify(patch)));
      seq += 1;
      const wire = await encode(message, this.compress);
      out.push({ seq: seq, header: wire.header, buffer: wire.buffer, bytes: wire.buffer ? wire.buffer.length : wire.json.length });
    }
    this.shadow = shadow;
    return out;
  }

  /**
   * After a prepared stream was delivered: the kernel's state is the
   * stream's last.
   *
   * @param {number} seq the last batch's seq
   */
  commitStream(seq) {
    if (this.shadow) this.runs.set(this.room, this.shadow);
    this.seq = seq;
  }
}
