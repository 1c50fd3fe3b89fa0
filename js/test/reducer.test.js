import { describe, expect, it } from "vitest";
import { countStatuses, createClient, receive } from "../src/reducer.js";

const RUN = { id: "r", name: "report", status: "running", total: 3, created: 1795925496.74 };

function snapshot(seq = 41) {
  return {
    type: "snapshot",
    room: "r",
    seq,
    state: {
      run: { ...RUN, counts: { pending: 1, running: 1, done: 1 } },
      nodes: {
        a: { status: "done", attempt: 1, started: 0.12, ended: 0.31, preview: "[1, 2, 3]" },
        b: { status: "running", attempt: 1, started: 0.31, tags: ["llm"] },
        c: { status: "pending" },
      },
      edges: [["a", "b"], ["b", "c"]],
    },
  };
}

/**
 * @param {number} base
 * @param {Record<string, any>} patch
 */
const batch = (base, patch, events = /** @type {object[]} */ ([])) => ({
  type: "batch",
  room: "r",
  seq: base + 1,
  base_seq: base,
  patch,
  events,
});

describe("receive", () => {
  it("a snapshot replaces whatever the client had", () => {
    const client = createClient();
    const change = receive(client, snapshot());
    expect(change).toEqual({ applied: true, resync: false, structural: true, nodes: null, run: true, events: [] });
    expect(client.seq).toBe(41);
    expect(client.state).toEqual(snapshot().state);
    receive(client, { ...snapshot(90), state: { run: RUN, nodes: { z: { status: "ready" } }, edges: [] } });
    expect(client.seq).toBe(90);
    expect(Object.keys(client.state?.nodes ?? {})).toEqual(["z"]);
  });

  it("fills in the parts a snapshot left out", () => {
    const client = createClient();
    receive(client, { type: "snapshot", seq: 1, state: { run: { id: "r" } } });
    expect(client.state).toEqual({
      run: { id: "r", name: "", status: "running", counts: {}, total: 0, created: 0 },
      nodes: {},
      edges: [],
    });
  });

  it("applies the protocol's example batch as a status-only change", () => {
    const client = createClient();
    receive(client, snapshot());
    const change = receive(
      client,
      batch(41, {
        run: { counts: { done: 2, running: 1, pending: 0 } },
        nodes: {
          b: { status: "done", ended: 0.58, preview: "'summary…'" },
          c: { status: "running", attempt: 1, started: 0.58 },
        },
      }),
    );
    expect(change).toEqual({
      applied: true,
      resync: false,
      structural: false,
      nodes: ["b", "c"],
      run: true,
      events: [],
    });
    expect(client).toEqual({
      seq: 42,
      structure: 1,
      counts: { snapshots: 1, batches: 1, gaps: 0, heartbeats: 0, stale: 0 },
      state: {
        run: { ...RUN, counts: { pending: 0, running: 1, done: 2 } },
        nodes: {
          a: { status: "done", attempt: 1, started: 0.12, ended: 0.31, preview: "[1, 2, 3]" },
          b: { status: "done", attempt: 1, started: 0.31, ended: 0.58, preview: "'summary…'", tags: ["llm"] },
          c: { status: "running", attempt: 1, started: 0.58 },
        },
        edges: [["a", "b"], ["b", "c"]],
      },
    });
  });

  it("an expansion (new nodes and edges) is structural", () => {
    const client = createClient();
    receive(client, snapshot());
    const change = receive(
      client,
      batch(41, {
        nodes: {
          b: { status: "expanded" },
          "b/x": { status: "ready", parent: "b" },
          "b/y": { status: "pending", parent: "b" },
        },
        edges: [["a", "b"], ["b", "c"], ["b/x", "b/y"]],
      }),
    );
    expect(change.structural).toBe(true);
    expect(change.nodes).toBeNull();
    expect(client.structure).toBe(2);
    expect(client.state?.nodes["b/y"]).toEqual({ status: "pending", parent: "b" });
  });

  it.each([
    ["a node removed", { nodes: { c: null } }],
    ["a node added without edges", { nodes: { d: { status: "pending" } } }],
    ["edges alone", { edges: [["a", "c"]] }],
    ["a parent changed", { nodes: { c: { parent: "a" } } }],
  ])("%s is structural", (_name, patch) => {
    const client = createClient();
    receive(client, snapshot());
    expect(receive(client, batch(41, patch)).structural).toBe(true);
  });

  it("ignores a batch with another base_seq and asks for a resync", () => {
    const client = createClient();
    receive(client, snapshot());
    const before = structuredClone(client.state);
    const change = receive(client, batch(43, { nodes: { c: { status: "done" } } }));
    expect(change).toEqual({
      applied: false,
      resync: true,
      structural: false,
      nodes: [],
      run: false,
      events: [],
      reason: "gap",
    });
    expect(client.seq).toBe(41);
    expect(client.state).toEqual(before);
    expect(client.counts.gaps).toBe(1);
  });

  it("a batch before any snapshot is a gap", () => {
    const client = createClient();
    expect(receive(client, batch(0, {})).resync).toBe(true);
    expect(client.state).toBeNull();
  });

  it("a heartbeat with our seq is quiet; with another seq it asks for a resync", () => {
    const client = createClient();
    receive(client, snapshot());
    expect(receive(client, { type: "heartbeat", room: "r", seq: 41 })).toMatchObject({ applied: false, resync: false });
    expect(receive(client, { type: "heartbeat", room: "r", seq: 44 })).toMatchObject({
      applied: false,
      resync: true,
      reason: "heartbeat",
    });
    expect(client.counts).toEqual({ snapshots: 1, batches: 0, gaps: 0, heartbeats: 2, stale: 1 });
  });

  it("passes a batch's events on", () => {
    const client = createClient();
    receive(client, snapshot());
    const events = [{ kind: "run", status: "done" }];
    expect(receive(client, batch(41, { run: { status: "done" } }, events)).events).toEqual(events);
  });

  it("ignores messages that are not state", () => {
    const client = createClient();
    expect(receive(client, { type: "ok", id: 3 }).applied).toBe(false);
    expect(client).toEqual(createClient());
  });
});

describe("countStatuses", () => {
  it("counts nodes per status", () => {
    const client = createClient();
    receive(client, snapshot());
    expect(countStatuses(/** @type {any} */ (client.state))).toEqual({ done: 1, running: 1, pending: 1 });
  });
});
