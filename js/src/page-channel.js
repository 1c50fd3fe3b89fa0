/**
 * The view's channel over a Socket.IO connection to `taskbeam serve`.
 *
 * One connection shows one project: `socketChannel(socket, projectId)`
 * subscribes to the project whenever the socket connects (again after a
 * reconnection: the server forgets a connection's subscriptions when it
 * goes), hands the frames to the view's store, and turns the view's
 * requests into events whose acknowledgement is the answer:
 *
 * | view request                  | Socket.IO event                         |
 * |-------------------------------|-----------------------------------------|
 * | `resync`                      | `resync` (or `subscribe`, if not yet)   |
 * | `node_details`, `cancel_node` | the same, with `project_id`             |
 * | `questions`, `answer`         | the same, with `project_id`             |
 * | `functions` (the timeline)    | the same, with `project_id`             |
 * | `pause`, `resume`, `continue` | the same, with `project_id`             |
 * | `rerun`                       | the same, with `project_id`             |
 * | `cancel`                      | `stop`                                  |
 *
 * Frames come as the events `snapshot`, `batch_update` and `heartbeat`; a
 * compressed one has its gzip as a second, binary argument. Every frame
 * carries `room`, the run id. A snapshot is always taken (when the project
 * runs again the server moves its subscribers to the new run and sends its
 * snapshot, so a new room starts there); a batch or heartbeat of another
 * room than the last snapshot's is dropped: it belongs to the run before.
 * The store is therefore told no run id (`getRunId() === ""`).
 *
 * A request made while the socket is down is answered at once with an
 * error, except `resync`, which waits for the next subscription (whose
 * snapshot is what it asked for). Socket.IO would otherwise buffer the
 * emits and replay them all on reconnection.
 *
 * @module
 */

/** @typedef {import("./store.js").Channel} Channel */
/** @typedef {import("./decode.js").Buffer} Buffer */
/** @typedef {Record<string, any>} Message */

/**
 * The part of a socket.io-client `Socket` the channel uses.
 *
 * @typedef {object} SocketLike
 * @property {boolean} connected
 * @property {(event: string, ...args: any[]) => unknown} emit
 * @property {(event: string, listener: (...args: any[]) => void) => unknown} on
 * @property {(event: string, listener: (...args: any[]) => void) => unknown} off
 */

/**
 * @typedef {object} SubscriptionState
 * @property {"connecting" | "subscribing" | "subscribed" | "error" | "closed"} phase
 * @property {string} room the run followed ("" before the first snapshot)
 * @property {string} [error] why the last subscription failed
 */

/**
 * @typedef {Channel & {
 *   close(): void,
 *   state(): SubscriptionState,
 *   onState(listener: (state: SubscriptionState) => void): () => void,
 *   counts: {frames: number, compressed: number, dropped: number, subscriptions: number},
 * }} SocketChannel
 */

/**
 * Socket.IO's names for the protocol's message types where they differ, kept for
 * compatibility: the frames the server sends and the requests it is sent. The one
 * place the page renames them (the server's is `SOCKETIO_NAMES` in
 * `taskbeam/server/_outbox.py`); every other type keeps its name.
 */
export const SOCKETIO_NAMES = /** @type {const} */ ({ batch: "batch_update", cancel: "stop" });

/** @param {string} type a message type of the protocol @returns {string} its Socket.IO event */
const eventOf = (type) => /** @type {Record<string, string>} */ (SOCKETIO_NAMES)[type] ?? type;

/** Frame events: the Socket.IO events that carry the frame types. */
export const FRAME_EVENTS = /** @type {const} */ (["snapshot", SOCKETIO_NAMES.batch, "heartbeat"]);

const FORWARDED = new Set([
  "node_details",
  "cancel_node",
  "pause",
  "resume", // un-pause only
  "continue", // continue a stored run
  "cancel",
  "nodes",
  "questions",
  "answer",
  "functions", // the timeline's grouping
  "rerun", // a new run of the project: the server moves its subscribers to it
]);

/**
 * @param {SocketLike} socket a connection used for this project only
 * @param {string} projectId the project's id, or with `by: "run"` a run's id (any run the
 *   server knows, stored ones included: requests then carry `run_id`, and the server
 *   refuses the controls, which belong to projects)
 * @param {{by?: "project" | "run"}} [options]
 * @returns {SocketChannel}
 */
export function socketChannel(socket, projectId, options = {}) {
  const key = options.by === "run" ? "run_id" : "project_id";
  /** @type {Set<(message: Message, buffers: Buffer[]) => void>} */
  const listeners = new Set();
  /** @type {Set<(state: SubscriptionState) => void>} */
  const stateListeners = new Set();
  /** @type {SubscriptionState} */
  let current = { phase: socket.connected ? "subscribing" : "connecting", room: "" };
  /** resync requests waiting for the subscription: their ids */
  /** @type {unknown[]} */
  let waiting = [];
  let generation = 0; // bumped on every (re)connection: late acks of an older one are ignored
  let closed = false;
  const counts = { frames: 0, compressed: 0, dropped: 0, subscriptions: 0 };

  /** @param {Partial<SubscriptionState>} patch */
  const setState = (patch) => {
    current = { ...current, ...patch };
    if (patch.phase !== "error") delete current.error;
    if (patch.error !== undefined) current.error = patch.error;
    for (const listener of [...stateListeners]) listener(current);
  };

  /** @param {Message} message @param {Buffer[]} [buffers] */
  const deliver = (message, buffers = []) => {
    if (closed) return;
    for (const listener of [...listeners]) listener(message, buffers);
  };

  /**
   * The acknowledgement `answer` as the store expects it: an object carrying the request's id.
   *
   * @param {unknown} answer
   * @param {unknown} id
   * @returns {Message}
   */
  const withId = (answer, id) => {
    const body =
      answer !== null && typeof answer === "object" && !Array.isArray(answer)
        ? /** @type {Message} */ (answer)
        : { type: "error", error: `unexpected answer ${JSON.stringify(answer)}` };
    return { ...body, id };
  };

  /** @param {unknown} id @param {string} error */
  const fail = (id, error) => queueMicrotask(() => deliver({ type: "error", error, id }));

  const subscribe = () => {
    if (closed || !socket.connected) return;
    const mine = ++generation;
    setState({ phase: "subscribing" });
    socket.emit("subscribe", { [key]: projectId }, (/** @type {unknown} */ answer) => {
      if (closed || mine !== generation) return;
      const ok = withId(answer, undefined);
      const ids = waiting;
      waiting = [];
      if (ok.type === "ok") {
        counts.subscriptions += 1;
        setState({ phase: "subscribed", room: typeof ok.room === "string" ? ok.room : current.room });
        for (const id of ids) deliver({ type: "ok", id });
      } else {
        const error = String(ok.error ?? "the subscription failed");
        setState({ phase: "error", error });
        for (const id of ids) deliver({ type: "error", error, id });
      }
    });
  };

  /** @param {string} event */
  const onFrame = (event) => (/** @type {Message} */ header, /** @type {Buffer | undefined} */ gzip) => {
    if (closed || header === null || typeof header !== "object") return;
    const room = typeof header.room === "string" ? header.room : "";
    if (event === "snapshot") {
      if (room && room !== current.room) setState({ room });
    } else if (current.room && room && room !== current.room) {
      counts.dropped += 1; // the run before: its subscription was replaced
      return;
    }
    counts.frames += 1;
    if (gzip !== undefined && gzip !== null) counts.compressed += 1;
    deliver(header, gzip !== undefined && gzip !== null ? [gzip] : []);
  };

  /** @type {[string, (...args: any[]) => void][]} */
  const handlers = [
    ["connect", subscribe],
    [
      "disconnect",
      () => {
        generation += 1;
        if (!closed) setState({ phase: "connecting" });
      },
    ],
    ...FRAME_EVENTS.map((event) => /** @type {[string, (...args: any[]) => void]} */ ([event, onFrame(event)])),
  ];
  for (const [event, handler] of handlers) socket.on(event, handler);
  if (socket.connected) subscribe();

  return {
    mode: "run",
    getRunId: () => "",
    setRunId: () => {},
    onRunIdChange: () => () => {},
    onMessage(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    send(message) {
      const { type, id } = message;
      if (closed) return fail(id, "the view is closed");
      if (type === "resync") {
        if (current.phase === "subscribed" && socket.connected) {
          socket.emit("resync", { [key]: projectId, id }, (/** @type {unknown} */ a) => deliver(withId(a, id)));
        } else {
          waiting.push(id); // answered by the next subscription, whose snapshot comes first
          if (socket.connected && current.phase !== "subscribing") subscribe();
        }
        return;
      }
      if (!FORWARDED.has(type)) return fail(id, `${type} is not available on this page`);
      if (!socket.connected) return fail(id, "not connected to the server: reconnecting…");
      const { type: _type, ...fields } = message;
      socket.emit(eventOf(type), { ...fields, [key]: projectId }, (/** @type {unknown} */ a) =>
        deliver(withId(a, id)),
      );
    },
    close() {
      if (closed) return;
      if (socket.connected && current.phase === "subscribed") {
        socket.emit("unsubscribe", { [key]: projectId });
      }
      for (const [event, handler] of handlers) socket.off(event, handler);
      for (const id of waiting) deliver({ type: "error", error: "the view is closed", id });
      waiting = [];
      closed = true;
      setState({ phase: "closed" });
      listeners.clear();
      stateListeners.clear();
    },
    state: () => current,
    onState(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    counts,
  };
}
