// Follow projects of a taskbeam server from node, as the web page does.
//
// The npm socket.io-client, the page's channel (js/src/page-channel.js) and
// the view's store (js/src/store.js: the reducer, merge patches, gzip frames)
// run here unchanged, one connection per project. Called by
// tests/integration/test_server_node_client.py with one JSON argument:
//
//   {"url", "token", "projects": [id, ...], "js": "/path/to/js",
//    "dropAfterBatches": n | null, "timeout": seconds}
//
// With dropAfterBatches, the first project's connection is cut (its
// transport closed, as a network failure would) after n batches;
// socket.io-client reconnects, the channel subscribes again, and once that
// snapshot has come an explicit resync is asked for and must bring another.
// A project is finished when its run has ended and a heartbeat has confirmed
// the last seq. Prints a JSON line on each subscription ({"event":
// "subscribed", "project", "room"}), then a last one: per project, its final
// state and what the connection saw. Exits 1 if the timeout passed first.

import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const options = JSON.parse(process.argv[2]);
const require = createRequire(join(options.js, "package.json"));
const { io } = require("socket.io-client");
const { socketChannel } = await import(pathToFileURL(join(options.js, "src", "page-channel.js")).href);
const { createStore } = await import(pathToFileURL(join(options.js, "src", "store.js")).href);

const ENDED = new Set(["done", "failed", "cancelled"]);
const log = (line) => process.stdout.write(JSON.stringify(line) + "\n");

function follow(projectId, drop) {
  const socket = io(options.url, {
    auth: { token: options.token },
    transports: ["websocket"],
    forceNew: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
  });
  const channel = socketChannel(socket, projectId);
  const store = createStore(channel);
  const seen = {
    project: projectId,
    rooms: new Set(), // of every frame this connection received, dropped ones included
    frames: { snapshot: 0, batch_update: 0, heartbeat: 0 },
    connections: 0,
    dropped: false,
    reconnectSnapshot: false,
    resyncAnswer: null,
    resyncSnapshot: false,
    notices: [],
  };
  let snapshotsAtResync = null;
  let heartbeatsAtEnd = null;
  let endSeen = 0;
  socket.on("connect", () => {
    seen.connections += 1;
  });
  channel.onState((state) => {
    if (state.phase === "subscribed") log({ event: "subscribed", project: projectId, room: state.room });
  });
  socket.onAny((event, header) => {
    if (event in seen.frames) {
      seen.frames[event] += 1;
      if (header && typeof header.room === "string") seen.rooms.add(header.room);
    }
  });
  store.onNotice((n) => seen.notices.push(n.text));
  store.subscribe(() => {
    const client = store.client;
    if (drop !== null && !seen.dropped && client.counts.batches >= drop) {
      seen.dropped = true;
      socket.io.engine.close();
    }
    maybeResync();
    if (snapshotsAtResync !== null && client.counts.snapshots > snapshotsAtResync) seen.resyncSnapshot = true;
  });
  channel.onState(maybeResync);

  // Once the new subscription is made and its snapshot applied, ask for one more. (A
  // resync asked for while the subscription is being made is answered by it.)
  function maybeResync() {
    const ready = seen.dropped && seen.connections >= 2 && channel.state().phase === "subscribed";
    if (!ready || seen.reconnectSnapshot || store.client.counts.snapshots < 2) return;
    seen.reconnectSnapshot = true;
    snapshotsAtResync = store.client.counts.snapshots;
    store.request({ type: "resync" }).then(
      (answer) => (seen.resyncAnswer = answer),
      (error) => (seen.resyncAnswer = { error: String(error) }),
    );
  }
  store.ensureState();

  const finished = () => {
    const state = store.client.state;
    if (!state || !ENDED.has(state.run.status) || (drop !== null && !seen.resyncSnapshot)) {
      heartbeatsAtEnd = null; // (again) not at the end: a new run may have started
      return false;
    }
    if (heartbeatsAtEnd === null) [heartbeatsAtEnd, endSeen] = [store.client.counts.heartbeats, Date.now()];
    if (store.resyncing()) return false;
    // A heartbeat after the end with our seq: nothing was lost at the end of the burst. (A
    // run that had ended before the subscription sends its snapshot and no heartbeat.)
    return store.client.counts.heartbeats > heartbeatsAtEnd || Date.now() - endSeen > 3000;
  };

  const report = () => ({
    ...seen,
    rooms: [...seen.rooms],
    room: channel.state().room,
    phase: channel.state().phase,
    channel: { ...channel.counts },
    store: { ...store.counts, ...store.client.counts },
    seq: store.client.seq,
    state: store.client.state,
  });
  const close = () => {
    store.dispose();
    channel.close();
    socket.disconnect();
  };
  return { finished, report, close };
}

const followers = options.projects.map((id, i) => follow(id, i === 0 ? (options.dropAfterBatches ?? null) : null));
const deadline = Date.now() + options.timeout * 1000;
let timedOut = false;
while (!followers.every((f) => f.finished())) {
  if (Date.now() > deadline) {
    timedOut = true;
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const out = { timedOut, projects: followers.map((f) => f.report()) };
for (const f of followers) f.close();
// Exit once the line is written: a pipe takes large writes asynchronously.
process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(timedOut ? 1 : 0));
