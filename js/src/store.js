/**
 * One client's connection to the kernel: the reducer, the ordered inbox and
 * the requests, shared by every view of one widget model.
 *
 * The store is the only thing that listens to the channel. Messages are
 * decoded in arrival order (`createInbox`), then either answer a request
 * (they carry the request's `id`) or go to the reducer. Messages whose
 * `room` is not the current run are dropped: after a switch, frames of the
 * old run may still be on their way.
 *
 * Resync policy: a resync is sent when the store starts with no state, on
 * a gap, on a heartbeat with another seq, on a message that could not be
 * decoded, and on a run switch. While one is outstanding (until a snapshot
 * arrives, an error answers it, or `resyncTimeout` ms pass) no second one
 * is sent, so a stream of batches after a gap costs one request, not one
 * per batch.
 *
 * Views subscribe to changes and draw on their own schedule; several views
 * of one model share the store, but a single view works the same way.
 *
 * @module
 */

import { createInbox } from "./decode.js";
import { createClient, receive } from "./reducer.js";

/** @typedef {import("./reducer.js").Change} Change */
/** @typedef {import("./reducer.js").Client} Client */
/** @typedef {import("./decode.js").Buffer} Buffer */
/** @typedef {Record<string, any>} Message */

/**
 * How a view talks to the kernel. The widget adapter builds one from an
 * anywidget model; a web page would build one from a Socket.IO connection.
 *
 * @typedef {object} Channel
 * @property {(message: Message) => void} send
 * @property {(callback: (message: Message, buffers: Buffer[]) => void) => () => void} onMessage
 *   returns a function that removes the listener
 * @property {() => string} getRunId
 * @property {(id: string) => void} setRunId
 * @property {(callback: (id: string) => void) => () => void} onRunIdChange
 * @property {"run" | "service" | "history"} mode
 * @property {ViewStateStore} [viewState] where a view keeps what a new view of the same
 *   widget should show again (the widget's `view_state` trait); none: nothing is kept
 */

/**
 * What a view keeps across being drawn anew: the timeline mode, the node
 * whose details are open.
 *
 * @typedef {{timeline?: boolean, details?: string}} ViewState
 */

/**
 * @typedef {object} ViewStateStore
 * @property {() => ViewState} get
 * @property {(state: ViewState) => void} set
 */

/**
 * What a store tells its listeners: a state change from the reducer, or
 * `reset` when the state was dropped (a run switch).
 *
 * @typedef {Change & {reset?: boolean, seq: number | null}} StoreChange
 */

/**
 * @typedef {object} Notice
 * @property {"error" | "info"} level
 * @property {string} text
 */

/**
 * @typedef {object} StoreCounts
 * @property {number} resyncs resync requests sent
 * @property {number} ignored messages for another room
 * @property {number} decodeErrors messages that could not be decoded
 * @property {number} requests requests sent
 */

/**
 * @typedef {object} Store
 * @property {Client} client the reducer's client (read it; do not change it)
 * @property {StoreCounts} counts
 * @property {() => string} runId
 * @property {"run" | "service" | "history"} mode
 * @property {(listener: (change: StoreChange) => void) => () => void} subscribe
 * @property {(listener: (notice: Notice) => void) => () => void} onNotice
 * @property {(message: Message) => Promise<Message>} request send a request, resolve with its answer
 *   (rejects with an Error for an `error` answer or a timeout)
 * @property {(why: string) => boolean} resync ask for a snapshot unless one is on its way; true if sent
 * @property {() => void} ensureState resync if there is no state and none is on its way
 * @property {(id: string) => void} switchRun show another run (service mode)
 * @property {() => boolean} resyncing
 * @property {() => void} dispose
 */

/**
 * @param {Channel} channel
 * @param {{requestTimeout?: number, resyncTimeout?: number, now?: () => number}} [options]
 * @returns {Store}
 */
export function createStore(channel, options = {}) {
  const requestTimeout = options.requestTimeout ?? 30_000;
  const resyncTimeout = options.resyncTimeout ?? 10_000;
  const now = options.now ?? (() => Date.now());

  let client = createClient();
  let runId = channel.getRunId() || "";
  let nextId = 1;
  /** @type {number | null} time the outstanding resync was sent */
  let resyncSince = null;
  /** @type {Map<number, {resolve: (m: Message) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout>}>} */
  const pending = new Map();
  /** @type {Set<(change: StoreChange) => void>} */
  const listeners = new Set();
  /** @type {Set<(notice: Notice) => void>} */
  const noticeListeners = new Set();
  /** @type {StoreCounts} */
  const counts = { resyncs: 0, ignored: 0, decodeErrors: 0, requests: 0 };
  let disposed = false;

  /** @param {Notice} notice */
  const notify = (notice) => {
    for (const listener of noticeListeners) listener(notice);
  };

  /** @param {StoreChange} change */
  const emit = (change) => {
    for (const listener of [...listeners]) listener(change);
  };

  /** @param {Message} message */
  const deliver = (message) => {
    if (disposed || message === null || typeof message !== "object") return;
    if (typeof message.id === "number" && pending.has(message.id)) {
      answer(message);
      return;
    }
    if (message.type === "error") {
      notify({ level: "error", text: String(message.error ?? "error") });
      return;
    }
    // History mode with no run chosen ("": the list) takes no frames at all.
    const otherRoom = runId ? message.room !== runId : channel.mode === "history";
    if (typeof message.room === "string" && otherRoom) {
      counts.ignored += 1;
      return;
    }
    const change = receive(client, message);
    if (message.type === "snapshot") resyncSince = null;
    if (change.resync) store.resync(change.reason ?? "gap");
    if (change.applied) emit({ ...change, seq: client.seq });
  };

  /** @param {Message} message */
  const answer = (message) => {
    const entry = pending.get(message.id);
    if (!entry) return;
    pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.type === "error") entry.reject(new Error(String(message.error ?? "error")));
    else entry.resolve(message);
  };

  const inbox = createInbox(deliver, (error) => {
    counts.decodeErrors += 1;
    notify({ level: "error", text: `could not read a message: ${errorText(error)}` });
    // The lost message may have been a batch: only a snapshot puts us right again.
    store.resync("decode");
  });

  const offMessage = channel.onMessage((message, buffers) => inbox.push(message, buffers));
  const offRunId = channel.onRunIdChange((id) => {
    if ((id || "") !== runId) reset(id || "");
  });

  /** @param {string} id */
  const reset = (id) => {
    runId = id;
    client = createClient();
    store.client = client;
    resyncSince = null;
    emit({
      applied: true,
      resync: false,
      structural: true,
      nodes: null,
      run: true,
      events: [],
      reset: true,
      seq: null,
    });
    // History mode's "" is the run list: there is no run to ask for.
    if (id || channel.mode !== "history") store.resync("switch");
  };

  /** @type {Store} */
  const store = {
    client,
    counts,
    runId: () => runId,
    mode: channel.mode === "service" || channel.mode === "history" ? channel.mode : "run",
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onNotice(listener) {
      noticeListeners.add(listener);
      return () => noticeListeners.delete(listener);
    },
    request(message) {
      if (disposed) return Promise.reject(new Error("the view is closed"));
      const id = nextId++;
      counts.requests += 1;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`no answer to ${message.type} after ${requestTimeout / 1000} s`));
        }, requestTimeout);
        pending.set(id, { resolve, reject, timer });
        try {
          channel.send({ ...message, id });
        } catch (error) {
          pending.delete(id);
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    resync(why) {
      if (disposed || store.resyncing()) return false;
      resyncSince = now();
      counts.resyncs += 1;
      store.request({ type: "resync" }).then(
        () => {},
        (error) => {
          resyncSince = null;
          notify({ level: "error", text: `resync (${why}) failed: ${errorText(error)}` });
        },
      );
      return true;
    },
    ensureState() {
      if (client.state === null && (runId || channel.mode !== "history")) store.resync("start");
    },
    switchRun(id) {
      if (id === runId) return;
      // The kernel must hear of the new run before the resync: set it first. The
      // channel may report the change back synchronously, which resets the store.
      channel.setRunId(id);
      if (id !== runId) reset(id);
    },
    resyncing() {
      return resyncSince !== null && now() - resyncSince < resyncTimeout;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      offMessage();
      offRunId();
      for (const entry of pending.values()) {
        clearTimeout(entry.timer);
        entry.reject(new Error("the view is closed"));
      }
      pending.clear();
      listeners.clear();
      noticeListeners.clear();
    },
  };
  return store;
}

/**
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  return error instanceof Error ? error.message : String(error);
}
