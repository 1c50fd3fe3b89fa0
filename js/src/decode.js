/**
 * Turning what a transport delivers into whole messages, in order.
 *
 * A message is either the JSON object itself (no buffers) or, when the
 * broadcaster compressed it, a small header `{type, room, seq, encoding:
 * "gzip"}` whose first buffer is the gzip of the whole message's JSON.
 * Decompression is asynchronous (`DecompressionStream`), so `createInbox`
 * chains the messages to hand them on strictly in the order they arrived:
 * a batch must never overtake the one before it.
 *
 * @module
 */

/** @typedef {Record<string, any>} Message */
/** @typedef {DataView | ArrayBuffer | Uint8Array} Buffer */

/**
 * The bytes of a buffer as a Uint8Array, without copying.
 *
 * @param {Buffer} buffer
 * @returns {Uint8Array}
 */
export function toBytes(buffer) {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) {
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }
  // ArrayBuffer, possibly from another realm (an iframe), where instanceof fails.
  if (Object.prototype.toString.call(buffer) === "[object ArrayBuffer]") {
    return new Uint8Array(/** @type {ArrayBuffer} */ (buffer));
  }
  throw new TypeError("a compressed message's buffer must be a DataView, ArrayBuffer or Uint8Array");
}

/**
 * Gunzip `bytes` and decode them as UTF-8.
 *
 * @param {Uint8Array} bytes
 * @returns {Promise<string>}
 */
export async function gunzipText(bytes) {
  // Copy into a fresh ArrayBuffer: Blob wants one it owns, and the source may be a view
  // into a larger (or shared) buffer.
  const owned = new Uint8Array(bytes.byteLength);
  owned.set(bytes);
  const stream = new Blob([owned]).stream().pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

/**
 * Whether `message` is the header of a compressed message.
 *
 * @param {Message} message
 * @returns {boolean}
 */
export function isCompressed(message) {
  return message !== null && typeof message === "object" && message.encoding === "gzip";
}

/**
 * The whole message that `(message, buffers)` carries.
 *
 * @param {Message} message the JSON part as received
 * @param {readonly Buffer[] | undefined} buffers the binary buffers as received
 * @returns {Promise<Message>}
 */
export async function decode(message, buffers) {
  if (!isCompressed(message)) return message;
  const first = buffers && buffers[0];
  if (!first) throw new Error(`compressed ${message.type} message without a buffer`);
  const whole = JSON.parse(await gunzipText(toBytes(first)));
  if (whole === null || typeof whole !== "object" || Array.isArray(whole)) {
    throw new Error("a compressed message must hold a JSON object");
  }
  return whole;
}

/**
 * A queue that decodes incoming messages and hands them to `deliver` in
 * arrival order.
 *
 * While nothing is waiting, an uncompressed message is delivered at once
 * (synchronously); otherwise it waits for the messages ahead of it.
 * Decompression of several messages may overlap; delivery never does.
 *
 * @param {(message: Message) => void} deliver
 * @param {(error: unknown) => void} onError called for a message that could not be decoded
 *   (or whose delivery threw); later messages still go through
 * @returns {{push(message: Message, buffers?: readonly Buffer[]): void, readonly waiting: number, idle(): Promise<void>}}
 */
export function createInbox(deliver, onError) {
  /** @type {Promise<void>} */
  let tail = Promise.resolve();
  let waiting = 0;
  /** @param {Message} message */
  const safeDeliver = (message) => {
    try {
      deliver(message);
    } catch (error) {
      onError(error);
    }
  };
  return {
    push(message, buffers) {
      if (waiting === 0 && !isCompressed(message)) {
        safeDeliver(message);
        return;
      }
      waiting += 1;
      const decoded = decode(message, buffers);
      decoded.catch(() => {}); // handled in the chain below; avoid an "unhandled" report meanwhile
      tail = tail
        .then(() => decoded)
        .then(safeDeliver, onError)
        .then(() => {
          waiting -= 1;
        });
    },
    get waiting() {
      return waiting;
    },
    idle() {
      return tail;
    },
  };
}
