/**
 * Live output: following a node's printed text from `output` events, and
 * which nodes printed something the user has not seen yet. Pure: no DOM.
 *
 * A node's output is one stream of characters; a position in it is a count
 * of characters (`output_chars` in its summary is how far it got). An
 * `output` event `{node_id, from, text}` carries the text at position
 * `from`; `skipped` says the server left characters out before it (over a
 * frame's cap). A `Tail` is what a view holds of one node's stream: its last
 * characters, `text`, from position `from` to `end`.
 *
 * - An event that starts at or before `end` is appended, less what the
 *   tail already has (so a repeated event adds nothing).
 * - An event that starts after `end` is a gap (text skipped by the server,
 *   or frames lost): the tail does not change and the caller fetches what it
 *   lacks with `node_details` and `offset: end`, then `mergeTail`s it.
 *
 * @module
 */

/** Characters a view keeps of one node's output (the server keeps 64 KiB by default). */
export const TAIL_CHARS = 65536;

/**
 * @typedef {object} Tail
 * @property {number} from position of `text`'s first character
 * @property {number} end position after its last character
 * @property {string} text
 * @property {boolean} known false until details have said where the stream stands
 */

/** @returns {Tail} */
export function emptyTail() {
  return { from: 0, end: 0, text: "", known: false };
}

/**
 * The tail a `node_details` answer gives (`output`, `output_from`).
 *
 * @param {{output?: string, output_from?: number, output_chars?: number}} details
 * @param {number} [limit]
 * @returns {Tail}
 */
export function tailFromDetails(details, limit = TAIL_CHARS) {
  const text = typeof details.output === "string" ? details.output : "";
  const from = typeof details.output_from === "number" ? details.output_from : (details.output_chars ?? text.length) - text.length;
  return cut({ from, end: from + text.length, text, known: true }, limit);
}

/**
 * Apply one `output` event to a tail.
 *
 * @param {Tail} tail
 * @param {{from: number, text: string}} event
 * @param {number} [limit]
 * @returns {{tail: Tail, added: string, gap: boolean}} `added`: the new text; `gap`: fetch from `tail.end`
 */
export function followOutput(tail, event, limit = TAIL_CHARS) {
  const text = typeof event.text === "string" ? event.text : "";
  const from = Number(event.from);
  if (!tail.known || !Number.isFinite(from) || from > tail.end) return { tail, added: "", gap: true };
  const added = text.slice(tail.end - from);
  if (!added) return { tail, added: "", gap: false };
  return { tail: cut({ ...tail, end: tail.end + added.length, text: tail.text + added }, limit), added, gap: false };
}

/**
 * Bring a tail up to date with a `node_details` answer (asked with or
 * without an offset): both are ends of the same stream, so the one that
 * reaches further wins, and an answer that starts where the tail ends (an
 * `offset` request) is appended. Text the server no longer kept between
 * the two shows as a marker line.
 *
 * @param {Tail} tail
 * @param {{output?: string, output_from?: number, output_chars?: number}} details
 * @param {number} [limit]
 * @returns {Tail}
 */
export function mergeTail(tail, details, limit = TAIL_CHARS) {
  const got = tailFromDetails(details, Infinity);
  if (!tail.known || got.from <= tail.from) return got.end >= tail.end || !tail.known ? cut(got, limit) : tail;
  if (got.end <= tail.end) return tail;
  if (got.from <= tail.end) {
    return cut({ ...tail, end: got.end, text: tail.text + got.text.slice(tail.end - got.from) }, limit);
  }
  const lost = got.from - tail.end;
  const marker = `\n… ${lost} character${lost === 1 ? "" : "s"} not kept …\n`;
  return cut({ from: tail.from, end: got.end, text: tail.text + marker + got.text, known: true }, limit);
}

/**
 * @param {Tail} tail
 * @param {number} limit
 * @returns {Tail}
 */
function cut(tail, limit) {
  if (tail.text.length <= limit) return tail;
  const over = tail.text.length - limit;
  return { ...tail, from: tail.end - limit, text: tail.text.slice(over) };
}

/**
 * Which nodes printed what the user has not seen: `output_chars` past the
 * count seen when their details were last shown.
 */
export class OutputMarks {
  constructor() {
    /** @type {Map<string, number>} */
    this.seen = new Map();
    /** @type {Set<string>} ids with unseen output */
    this.fresh = new Set();
  }

  /**
   * @param {Readonly<Record<string, {output_chars?: number}>> | null} nodes the state's nodes
   * @param {ReadonlyArray<string> | null} ids the nodes that changed (null: all)
   */
  update(nodes, ids) {
    if (!nodes) {
      this.fresh.clear();
      return;
    }
    if (ids === null) {
      this.fresh.clear();
      for (const id in nodes) this.check(id, nodes[id]);
    } else {
      for (const id of ids) this.check(id, nodes[id]);
    }
  }

  /**
   * @param {string} id
   * @param {{output_chars?: number} | undefined} node
   */
  check(id, node) {
    const chars = node?.output_chars ?? 0;
    if (chars > (this.seen.get(id) ?? 0)) this.fresh.add(id);
    else this.fresh.delete(id);
  }

  /**
   * The user sees `id`'s output as far as `chars`.
   *
   * @param {string} id
   * @param {number} chars
   * @returns {boolean} whether the mark went
   */
  see(id, chars) {
    this.seen.set(id, Math.max(chars, this.seen.get(id) ?? 0));
    return this.fresh.delete(id);
  }

  /** A run switch: nothing seen. */
  reset() {
    this.seen.clear();
    this.fresh.clear();
  }
}
