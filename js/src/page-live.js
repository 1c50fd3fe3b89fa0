/**
 * The server page's live view: one Socket.IO connection per project (or
 * run) shown, its channel (`page-channel.js`), its store and the same
 * `createView` as the widget's; and the header's "Live" indicator, which
 * says how that connection is (connecting, live, reconnecting, an error).
 *
 * socket.io-client reconnects on its own and the channel subscribes again,
 * which brings a fresh snapshot; a token the server refuses is not retried
 * (`refused`).
 *
 * Runs on the main thread; `hide` closes the connection and removes the
 * view.
 *
 * @module
 */

import { io } from "socket.io-client";
import { socketChannel } from "./page-channel.js";
import { createStore } from "./store.js";
import { createView } from "./view.js";

/** @typedef {import("./page-channel.js").SocketChannel} SocketChannel */
/** @typedef {import("./page-dom.js").PageDom} PageDom */
/** @typedef {import("socket.io-client").Socket} Socket */

/**
 * The project (or run) shown: its connection, channel, store and view.
 *
 * @typedef {object} Shown
 * @property {string} id the project's id, or `run:` and a run's id
 * @property {Socket} socket
 * @property {SocketChannel} channel
 * @property {import("./store.js").Store} store
 * @property {import("./view.js").ViewHandle} view the view (its `rerun` is the head's "Rerun changed")
 * @property {() => void} cleanup removes the view
 * @property {number} connections how many times the socket has connected
 */

/**
 * @typedef {object} LiveView
 * @property {(id: string, byRun?: boolean) => void} show show a project (`id`), or with
 *   `byRun` a run by its id; nothing changes if it is already shown
 * @property {() => void} hide close the connection and remove the view
 * @property {() => Shown | null} shown
 */

/**
 * @param {PageDom} dom
 * @param {object} handlers
 * @param {() => string} handlers.token the token in use
 * @param {() => void} handlers.runChanged the shown run's fields changed
 * @param {() => void} handlers.refused the server refused the token (the view is already gone)
 * @param {(text: string) => void} handlers.error a connection error the client does not retry
 * @param {(runId: string) => void} handlers.openRun show a run by its id (the parent of a rerun)
 * @param {(runId: string) => boolean} handlers.canOpenRun whether the server can show that run
 * @returns {LiveView}
 */
export function createLiveView(dom, { token, runChanged, refused, error, openRun, canOpenRun }) {
  const { viewHost, live, liveText } = dom;
  /** @type {Shown | null} */
  let shown = null;

  /**
   * @param {string} id
   * @param {boolean} [byRun]
   */
  function show(id, byRun = false) {
    const key = byRun ? `run:${id}` : id;
    if (shown?.id === key) return;
    hide();
    const path = new URL("socket.io", window.location.href).pathname;
    const socket = io({
      path,
      auth: (cb) => cb({ token: token() }),
      forceNew: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
    });
    const channel = socketChannel(socket, id, { by: byRun ? "run" : "project" });
    const store = createStore(channel);
    // A project's run is continued from the page's head (POST continue), not from the view,
    // and rerun ("Rerun changed") from there too; "Rerun from here" stays in the details. The
    // server finds a project's graph in its registry; a run shown by its id is not rerun.
    const rerun = byRun
      ? { toolbar: false, refused: "A run shown by its id is not rerun here: open its project to rerun it" }
      : { toolbar: false, storedNeedsGraph: false };
    const handle = createView(viewHost, channel, { store, height: 480, continueRun: null, rerun, openRun, canOpenRun });
    const offStore = store.subscribe((change) => change.run && runChanged());
    /** @type {Shown} */
    const state = { id: key, socket, channel, store, view: handle, cleanup: () => (offStore(), handle()), connections: 0 };
    shown = state;
    viewHost.hidden = false;
    socket.on("connect", () => {
      state.connections += 1;
      indicate();
    });
    socket.on("disconnect", () => indicate());
    socket.on("connect_error", (/** @type {Error} */ e) => {
      // Refused by the server (the token): socket.io-client does not retry that.
      if (!socket.active) {
        if (/token/i.test(e.message)) {
          hide();
          refused();
        } else error(`Live updates: ${e.message}`);
      }
      indicate();
    });
    channel.onState(() => indicate());
    indicate();
  }

  function hide() {
    if (!shown) return;
    const { socket, channel, store, cleanup } = shown;
    shown = null;
    cleanup();
    store.dispose();
    channel.close();
    socket.disconnect();
    viewHost.hidden = true;
    indicate();
  }

  /** The header's indicator: how the shown project's connection is. */
  function indicate() {
    if (!shown) {
      live.hidden = true;
      return;
    }
    const state = shown.channel.state();
    const socket = shown.socket;
    /** @type {[string, string]} */
    let [kind, text] = ["wait", "Connecting…"];
    if (state.phase === "subscribed" && socket.connected) [kind, text] = ["ok", "Live"];
    else if (state.phase === "error") [kind, text] = ["error", state.error ?? "Error"];
    else if (!socket.connected && shown.connections > 0) [kind, text] = ["wait", "Reconnecting…"];
    live.hidden = false;
    live.dataset.state = kind;
    liveText.textContent = text;
    live.title = text;
  }

  return { show, hide, shown: () => shown };
}
