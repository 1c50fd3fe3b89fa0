import { gzipSync } from "node:zlib";
import { describe, expect, it, vi } from "vitest";
import { socketChannel } from "../src/page-channel.js";
import { createStore } from "../src/store.js";

/**
 * A socket.io-client stand-in: records emits (with their ack callbacks),
 * lets the test play the server (connect, disconnect, events, answers).
 */
function fakeSocket(connected = false) {
  /** @type {Map<string, Set<(...args: any[]) => void>>} */
  const handlers = new Map();
  /** @type {{event: string, data: any, ack?: (answer: any) => void}[]} */
  const emitted = [];
  const socket = {
    connected,
    emitted,
    /** @param {string} event @param {any[]} args */
    emit(event, ...args) {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
      emitted.push({ event, data: args[0], ack });
    },
    /** @param {string} event @param {(...args: any[]) => void} fn */
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event)?.add(fn);
    },
    /** @param {string} event @param {(...args: any[]) => void} fn */
    off(event, fn) {
      handlers.get(event)?.delete(fn);
    },
    /** @param {string} event @param {any[]} args */
    fire(event, ...args) {
      if (event === "connect") socket.connected = true;
      if (event === "disconnect") socket.connected = false;
      for (const fn of [...(handlers.get(event) ?? [])]) fn(...args);
    },
    /** the last emit of `event` */
    /** @param {string} event */
    last(event) {
      const found = emitted.filter((e) => e.event === event);
      return found[found.length - 1];
    },
    listenerCount: () => [...handlers.values()].reduce((n, s) => n + s.size, 0),
  };
  return socket;
}

/**
 * @param {string} [room]
 * @param {number} [seq]
 * @param {Record<string, {status: string}>} [nodes]
 */
const snapshot = (room = "r1", seq = 1, nodes = { a: { status: "running" } }) => ({
  type: "snapshot",
  room,
  seq,
  state: {
    run: { id: room, name: "g", status: "running", counts: { running: 1 }, total: 1, created: 0 },
    nodes,
    edges: [],
  },
});

/** Let queued microtasks and promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("socketChannel", () => {
  it("follows a run by its id: every event carries run_id", async () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "crawl-1", { by: "run" });
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    const sub = socket.last("subscribe");
    expect(sub.data).toEqual({ run_id: "crawl-1" });
    sub.ack?.({ type: "ok", room: "crawl-1" });
    channel.send({ type: "node_details", node_id: "a", id: 3 });
    expect(socket.last("node_details").data).toEqual({ node_id: "a", id: 3, run_id: "crawl-1" });
    channel.send({ type: "resync", id: 4 });
    expect(socket.last("resync").data).toEqual({ run_id: "crawl-1", id: 4 });
    channel.close();
    expect(socket.last("unsubscribe").data).toEqual({ run_id: "crawl-1" });
    await settle();
  });

  it("subscribes on every connection and answers a resync made before it", async () => {
    const socket = fakeSocket();
    const channel = socketChannel(socket, "p1");
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    channel.send({ type: "resync", id: 1 });
    expect(socket.emitted).toEqual([]); // not connected: nothing buffered in Socket.IO
    socket.fire("connect");
    const sub = socket.last("subscribe");
    expect(sub.data).toEqual({ project_id: "p1" });
    expect(channel.state().phase).toBe("subscribing");
    sub.ack?.({ type: "ok", room: "r1" });
    expect(got).toEqual([{ type: "ok", id: 1 }]);
    expect(channel.state()).toEqual({ phase: "subscribed", room: "r1" });

    socket.fire("disconnect");
    expect(channel.state().phase).toBe("connecting");
    socket.fire("connect");
    expect(socket.emitted.filter((e) => e.event === "subscribe")).toHaveLength(2);
    expect(channel.counts.subscriptions).toBe(1);
  });

  it("maps requests to events with the project id and passes acks on with the request id", async () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "p1");
    socket.last("subscribe").ack?.({ type: "ok", room: "r1" });
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    channel.send({ type: "cancel", id: 2 });
    channel.send({ type: "pause", id: 3 });
    channel.send({ type: "node_details", node_id: "a/b", id: 4 });
    channel.send({ type: "cancel_node", node_id: "a", id: 5 });
    channel.send({ type: "resync", id: 6 });
    expect(socket.emitted.slice(1).map((e) => [e.event, e.data])).toEqual([
      ["stop", { id: 2, project_id: "p1" }],
      ["pause", { id: 3, project_id: "p1" }],
      ["node_details", { node_id: "a/b", id: 4, project_id: "p1" }],
      ["cancel_node", { node_id: "a", id: 5, project_id: "p1" }],
      ["resync", { project_id: "p1", id: 6 }],
    ]);
    socket.last("stop").ack?.({ type: "ok" }); // an answer without the id still finds its request
    socket.last("node_details").ack?.({ type: "node_details", node_id: "a/b", details: {}, id: 4 });
    expect(got).toEqual([
      { type: "ok", id: 2 },
      { type: "node_details", node_id: "a/b", details: {}, id: 4 },
    ]);
  });

  it("answers requests at once with an error while disconnected, and unknown ones always", async () => {
    const socket = fakeSocket();
    const channel = socketChannel(socket, "p1");
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    channel.send({ type: "pause", id: 1 });
    channel.send({ type: "runs", id: 2 });
    await settle();
    expect(socket.emitted).toEqual([]);
    expect(got.map((m) => [m.id, m.type])).toEqual([
      [1, "error"],
      [2, "error"],
    ]);
    expect(got[0].error).toMatch(/not connected/);
  });

  it("passes frames on, gzip as a buffer, and drops batches of the run before", () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "p1");
    /** @type {[any, any[]][]} */
    const got = [];
    channel.onMessage((m, b) => got.push([m, b]));
    socket.fire("snapshot", snapshot("r1"));
    socket.fire("batch_update", { type: "batch", room: "r1", seq: 2, base_seq: 1, patch: {} });
    const gz = new Uint8Array([1, 2, 3]);
    socket.fire("batch_update", { type: "batch", room: "r1", seq: 3, encoding: "gzip" }, gz);
    socket.fire("snapshot", snapshot("r2")); // the project ran again: its new run
    socket.fire("batch_update", { type: "batch", room: "r1", seq: 4, base_seq: 3, patch: {} });
    socket.fire("heartbeat", { type: "heartbeat", room: "r1", seq: 4 });
    socket.fire("heartbeat", { type: "heartbeat", room: "r2", seq: 1 });
    expect(got.map(([m, b]) => [m.type, m.room, b.length])).toEqual([
      ["snapshot", "r1", 0],
      ["batch", "r1", 0],
      ["batch", "r1", 1],
      ["snapshot", "r2", 0],
      ["heartbeat", "r2", 0],
    ]);
    expect(got[2][1][0]).toBe(gz);
    expect(channel.counts).toMatchObject({ frames: 5, compressed: 1, dropped: 2 });
    expect(channel.state().room).toBe("r2");
  });

  it("reports a refused subscription to waiting resyncs and in its state", () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "p1");
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    channel.send({ type: "resync", id: 9 });
    socket.last("subscribe").ack?.({ type: "error", error: "project 'p1' has not been started" });
    expect(got).toEqual([{ type: "error", error: "project 'p1' has not been started", id: 9 }]);
    expect(channel.state()).toMatchObject({ phase: "error", error: expect.stringMatching(/not been started/) });
  });

  it("ignores the acks of a connection that has gone", () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "p1");
    const first = socket.last("subscribe");
    socket.fire("disconnect");
    socket.fire("connect");
    first.ack?.({ type: "ok", room: "old" });
    expect(channel.state().phase).toBe("subscribing");
    socket.last("subscribe").ack?.({ type: "ok", room: "r1" });
    expect(channel.state()).toEqual({ phase: "subscribed", room: "r1" });
  });

  it("close unsubscribes and removes its listeners", () => {
    const socket = fakeSocket(true);
    const before = socket.listenerCount();
    const channel = socketChannel(socket, "p1");
    socket.last("subscribe").ack?.({ type: "ok", room: "r1" });
    /** @type {any[]} */
    const got = [];
    channel.onMessage((m) => got.push(m));
    channel.close();
    expect(socket.last("unsubscribe").data).toEqual({ project_id: "p1" });
    expect(socket.listenerCount()).toBe(before);
    socket.fire("snapshot", snapshot());
    expect(got).toEqual([]);
    expect(channel.state().phase).toBe("closed");
  });

  it("drives a store: snapshot, compressed batch, a gap resyncs, reconnection resubscribes", async () => {
    const socket = fakeSocket(true);
    const channel = socketChannel(socket, "p1");
    const store = createStore(channel);
    store.ensureState(); // what a new view does: a resync, answered by the subscription
    expect(socket.emitted.map((e) => e.event)).toEqual(["subscribe"]);
    socket.fire("snapshot", snapshot("r1", 1));
    socket.last("subscribe").ack?.({ type: "ok", room: "r1" });
    await settle();
    expect(store.client.seq).toBe(1);
    const batch = { type: "batch", room: "r1", seq: 2, base_seq: 1, patch: { nodes: { a: { status: "done" } } }, events: [] };
    const gz = gzipSync(Buffer.from(JSON.stringify(batch)));
    socket.fire("batch_update", { type: "batch", room: "r1", seq: 2, encoding: "gzip" }, gz);
    await vi.waitFor(() => expect(store.client.seq).toBe(2));
    expect(store.client.state?.nodes.a.status).toBe("done");

    socket.fire("batch_update", { type: "batch", room: "r1", seq: 5, base_seq: 4, patch: {} });
    expect(socket.last("resync").data).toMatchObject({ project_id: "p1" });
    socket.last("resync").ack?.({ type: "ok", id: socket.last("resync").data.id });

    socket.fire("disconnect");
    socket.fire("connect");
    expect(socket.emitted.filter((e) => e.event === "subscribe")).toHaveLength(2);
    socket.fire("snapshot", snapshot("r1", 9, { a: { status: "done" }, b: { status: "running" } }));
    await settle();
    expect(store.client.seq).toBe(9);
    expect(Object.keys(store.client.state?.nodes ?? {})).toEqual(["a", "b"]);
    store.dispose();
    channel.close();
  });
});
