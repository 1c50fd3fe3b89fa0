import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createStore } from "../src/store.js";

/**
 * An in-memory channel: records what the store sends, lets the test play
 * the kernel.
 *
 * @param {{runId?: string, mode?: "run" | "service" | "history"}} [options]
 */
function fakeChannel({ runId = "r", mode = "run" } = {}) {
  /** @type {Set<(m: any, b: any[]) => void>} */
  const listeners = new Set();
  /** @type {Set<(id: string) => void>} */
  const runListeners = new Set();
  /** @type {Record<string, any>[]} */
  const sent = [];
  const channel = {
    mode,
    sent,
    runId,
    /** @param {Record<string, any>} m */
    send(m) {
      sent.push(m);
    },
    /** @param {(m: any, b: any[]) => void} cb */
    onMessage(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    getRunId: () => channel.runId,
    /** @param {string} id */
    setRunId(id) {
      channel.runId = id;
      for (const cb of runListeners) cb(id);
    },
    /** @param {(id: string) => void} cb */
    onRunIdChange(cb) {
      runListeners.add(cb);
      return () => runListeners.delete(cb);
    },
    /** @param {Record<string, any>} m @param {any[]} [b] */
    deliver(m, b = []) {
      for (const cb of listeners) cb(m, b);
    },
    listeners,
  };
  return channel;
}

const snap = (seq = 1, room = "r") => ({
  type: "snapshot",
  room,
  seq,
  state: { run: { id: room, name: "n", status: "running", counts: { pending: 1 }, total: 1, created: 0 }, nodes: { a: { status: "pending" } }, edges: [] },
});

afterEach(() => {
  vi.useRealTimers();
});

describe("createStore", () => {
  it("asks for a snapshot when it starts with none, once", () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    store.ensureState();
    store.ensureState();
    expect(channel.sent).toEqual([{ type: "resync", id: 1 }]);
    channel.deliver({ type: "ok", id: 1 });
    channel.deliver(snap(5));
    expect(store.client.seq).toBe(5);
    store.ensureState();
    expect(channel.sent).toHaveLength(1);
  });

  it("sends one resync for a run of gaps, and another once the snapshot came", () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    channel.deliver(snap(5));
    /** @type {any[]} */
    const changes = [];
    store.subscribe((c) => changes.push(c));
    channel.deliver({ type: "batch", room: "r", seq: 8, base_seq: 7, patch: {} });
    channel.deliver({ type: "batch", room: "r", seq: 9, base_seq: 8, patch: {} });
    channel.deliver({ type: "heartbeat", room: "r", seq: 9 });
    expect(channel.sent.map((m) => m.type)).toEqual(["resync"]);
    expect(changes).toEqual([]);
    channel.deliver({ type: "ok", id: channel.sent[0].id });
    channel.deliver(snap(9));
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ structural: true, seq: 9 });
    channel.deliver({ type: "heartbeat", room: "r", seq: 10 });
    expect(channel.sent.map((m) => m.type)).toEqual(["resync", "resync"]);
  });

  it("resyncs again when the first one went unanswered for too long", () => {
    vi.useFakeTimers();
    let t = 0;
    const channel = fakeChannel();
    const store = createStore(channel, { now: () => t, resyncTimeout: 1000 });
    store.ensureState();
    t = 500;
    store.ensureState();
    expect(channel.sent).toHaveLength(1);
    t = 1500;
    store.ensureState();
    expect(channel.sent).toHaveLength(2);
  });

  it("answers requests by id and turns an error answer into a rejection", async () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    const details = store.request({ type: "node_details", node_id: "a" });
    const bad = store.request({ type: "pause" });
    expect(channel.sent).toEqual([
      { type: "node_details", node_id: "a", id: 1 },
      { type: "pause", id: 2 },
    ]);
    channel.deliver({ type: "error", error: "run ended", id: 2 });
    channel.deliver({ type: "node_details", node_id: "a", details: { id: "a", status: "pending" }, id: 1 });
    await expect(details).resolves.toMatchObject({ details: { id: "a" } });
    await expect(bad).rejects.toThrow("run ended");
  });

  it("reads a compressed answer and keeps messages in order", async () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    /** @type {number[]} */
    const seqs = [];
    store.subscribe((c) => seqs.push(/** @type {number} */ (c.seq)));
    const whole = snap(3);
    const gz = gzipSync(Buffer.from(JSON.stringify(whole)));
    channel.deliver({ type: "snapshot", room: "r", seq: 3, encoding: "gzip" }, [new DataView(gz.buffer, gz.byteOffset, gz.byteLength)]);
    channel.deliver({ type: "batch", room: "r", seq: 4, base_seq: 3, patch: { nodes: { a: { status: "ready" } } } });
    await vi.waitFor(() => expect(seqs).toEqual([3, 4]));
    expect(store.client.state?.nodes.a.status).toBe("ready");
  });

  it("ignores frames of another room and starts over on a run switch", () => {
    const channel = fakeChannel({ mode: "service" });
    const store = createStore(channel);
    channel.deliver(snap(5));
    channel.deliver(snap(9, "other"));
    expect(store.client.seq).toBe(5);
    expect(store.counts.ignored).toBe(1);
    /** @type {any[]} */
    const changes = [];
    store.subscribe((c) => changes.push(c));
    store.switchRun("other");
    expect(channel.runId).toBe("other");
    expect(store.client.seq).toBeNull();
    expect(changes).toEqual([expect.objectContaining({ reset: true, structural: true })]);
    expect(channel.sent.map((m) => m.type)).toEqual(["resync"]);
    channel.deliver(snap(6)); // a late frame of the old run
    expect(store.client.seq).toBeNull();
    channel.deliver(snap(9, "other"));
    expect(store.client.seq).toBe(9);
  });

  it("follows a run switch made by the kernel", () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    channel.deliver(snap(5));
    channel.setRunId("s");
    expect(store.runId()).toBe("s");
    expect(store.client.state).toBeNull();
    expect(channel.sent.map((m) => m.type)).toEqual(["resync"]);
  });

  it("reports an error message that answers nothing, and never throws", () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    /** @type {any[]} */
    const notices = [];
    store.onNotice((n) => notices.push(n));
    channel.deliver({ type: "error", error: "unknown request 'x'" });
    expect(notices).toEqual([{ level: "error", text: "unknown request 'x'" }]);
  });

  it("a message that cannot be decoded costs a resync", async () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    channel.deliver(snap(5));
    channel.deliver({ type: "batch", room: "r", seq: 6, encoding: "gzip" }, [new Uint8Array([1, 2, 3])]);
    await vi.waitFor(() => expect(store.counts.decodeErrors).toBe(1));
    expect(channel.sent.map((m) => m.type)).toEqual(["resync"]);
  });

  it("dispose removes its listeners and rejects what is pending", async () => {
    const channel = fakeChannel();
    const store = createStore(channel);
    const p = store.request({ type: "runs" });
    store.dispose();
    expect(channel.listeners.size).toBe(0);
    await expect(p).rejects.toThrow(/closed/);
  });
});

describe("history mode", () => {
  it("asks for nothing and takes no frames while the list is shown", async () => {
    const channel = fakeChannel({ runId: "", mode: "history" });
    const store = createStore(channel);
    expect(store.mode).toBe("history");
    store.ensureState();
    expect(channel.sent).toEqual([]);
    channel.deliver(snap(1, "late"));
    expect(store.client.state).toBeNull();
    expect(store.counts.ignored).toBe(1);

    // A run chosen: a resync, then its frames; back to the list: the state goes, no resync.
    store.switchRun("r");
    expect(channel.sent.map((m) => m.type)).toEqual(["resync"]);
    channel.deliver({ type: "ok", id: channel.sent[0].id });
    channel.deliver(snap(1, "r"));
    expect(store.client.state?.run.id).toBe("r");
    store.switchRun("");
    expect(store.client.state).toBeNull();
    expect(channel.sent).toHaveLength(1);
    channel.deliver(snap(2, "r"));
    expect(store.client.state).toBeNull();
    store.dispose();
  });
});
