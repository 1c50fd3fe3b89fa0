import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createInbox, decode, toBytes } from "../src/decode.js";

/**
 * The wire form of a message, as the broadcaster's codec makes it.
 *
 * @param {Record<string, any>} message
 * @returns {[Record<string, any>, Uint8Array]}
 */
function compress(message) {
  const body = gzipSync(Buffer.from(JSON.stringify(message)));
  const bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  return [{ type: message.type, room: message.room, seq: message.seq, encoding: "gzip" }, bytes];
}

const BATCH = {
  type: "batch",
  room: "r-1",
  seq: 7,
  base_seq: 6,
  patch: { nodes: { "plan/ünïcode ✓": { status: "done", preview: "'x'".repeat(400) } } },
  events: [],
};

describe("decode", () => {
  it("returns an uncompressed message as it is", async () => {
    const message = { type: "heartbeat", room: "r", seq: 3 };
    expect(await decode(message, [])).toBe(message);
  });

  it.each([
    ["Uint8Array", (/** @type {Uint8Array} */ b) => b],
    ["DataView", (/** @type {Uint8Array} */ b) => new DataView(b.buffer, b.byteOffset, b.byteLength)],
    ["ArrayBuffer", (/** @type {Uint8Array} */ b) => b.slice().buffer],
  ])("gunzips a message whose buffer is a %s", async (_name, wrap) => {
    const [header, bytes] = compress(BATCH);
    expect(await decode(header, [wrap(bytes)])).toEqual(BATCH);
  });

  it("reads a DataView into the middle of a larger buffer", async () => {
    const [header, bytes] = compress(BATCH);
    const big = new Uint8Array(bytes.length + 20);
    big.set(bytes, 10);
    expect(await decode(header, [new DataView(big.buffer, 10, bytes.length)])).toEqual(BATCH);
  });

  it("rejects a compressed header with no buffer, or bytes that are not gzip", async () => {
    await expect(decode({ type: "batch", encoding: "gzip" }, [])).rejects.toThrow(/without a buffer/);
    await expect(decode({ type: "batch", encoding: "gzip" }, [new Uint8Array([1, 2, 3])])).rejects.toThrow();
  });

  it("toBytes refuses other things", () => {
    expect(() => toBytes(/** @type {any} */ ("abc"))).toThrow(TypeError);
  });
});

describe("createInbox", () => {
  it("delivers in arrival order although decompression is asynchronous", async () => {
    /** @type {number[]} */
    const seen = [];
    const inbox = createInbox((m) => seen.push(m.seq), (e) => { throw e; });
    const big = (/** @type {number} */ seq) => compress({ ...BATCH, seq, base_seq: seq - 1 });
    inbox.push({ type: "heartbeat", seq: 1 }); // idle and plain: delivered at once
    expect(seen).toEqual([1]);
    const [h2, b2] = big(2);
    inbox.push(h2, [b2]);
    inbox.push({ type: "heartbeat", seq: 3 }); // must wait for 2
    const [h4, b4] = big(4);
    inbox.push(h4, [b4]);
    expect(seen).toEqual([1]);
    await inbox.idle();
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(inbox.waiting).toBe(0);
    inbox.push({ type: "heartbeat", seq: 5 });
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("reports a message that cannot be decoded and goes on", async () => {
    /** @type {unknown[]} */
    const seen = [];
    /** @type {unknown[]} */
    const errors = [];
    const inbox = createInbox((m) => seen.push(m.seq), (e) => errors.push(e));
    inbox.push({ type: "batch", seq: 1, encoding: "gzip" }, [new Uint8Array([0, 1])]);
    inbox.push({ type: "heartbeat", seq: 2 });
    await inbox.idle();
    expect(seen).toEqual([2]);
    expect(errors).toHaveLength(1);
  });

  it("reports an error thrown by the receiver", () => {
    /** @type {unknown[]} */
    const errors = [];
    const inbox = createInbox(() => { throw new Error("boom"); }, (e) => errors.push(e));
    inbox.push({ type: "heartbeat", seq: 1 });
    expect(errors).toHaveLength(1);
  });
});
