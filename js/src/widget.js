/**
 * The anywidget adapter: turns a widget model into the view's channel.
 *
 * Model traits: `run_id` (two-way: the view sets it to switch runs in
 * service and history mode; "" in history mode is the run list), `mode`
 * (`"run"`, `"service"` or `"history"`), `height` (two-way: pixels,
 * 0 to fit the graph; a drag of the view's bottom edge sets it),
 * `view_state` (set by the view: the timeline mode and the node whose
 * details are open, so that a view drawn anew, as JupyterLab does when
 * the run's display is updated at its end, shows them again).
 * Messages arrive as custom messages (`msg:custom`, with binary buffers for
 * compressed frames) and requests leave with `model.send`.
 *
 * One store per model, shared by all of its views (a notebook may show one
 * widget in several cells or panels): the comm delivers each message once
 * per model, so it must be applied once. Each view still works alone, and
 * a view that finds no state asks for a snapshot at once.
 *
 * @module
 */

import "./style.css";
import { createStore } from "./store.js";
import { createView } from "./view.js";

export { createView } from "./view.js";
export { createStore } from "./store.js";

/**
 * The part of an anywidget model this adapter uses.
 *
 * @typedef {object} Model
 * @property {(name: string) => any} get
 * @property {(name: string, value: unknown) => void} set
 * @property {() => void} save_changes
 * @property {(content: Record<string, any>, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} send
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event?: string | null, callback?: ((...args: any[]) => void) | null) => void} off
 */

/** @type {WeakMap<Model, import("./store.js").Store>} */
const stores = new WeakMap();

/**
 * @param {Model} model
 * @returns {import("./store.js").Channel}
 */
export function modelChannel(model) {
  return {
    send: (message) => model.send(message),
    onMessage(callback) {
      /** @param {Record<string, any>} message @param {DataView[] | undefined} buffers */
      const handler = (message, buffers) => callback(message, buffers ?? []);
      model.on("msg:custom", handler);
      return () => model.off("msg:custom", handler);
    },
    getRunId: () => String(model.get("run_id") ?? ""),
    setRunId(id) {
      model.set("run_id", id);
      model.save_changes();
    },
    onRunIdChange(callback) {
      const handler = () => callback(String(model.get("run_id") ?? ""));
      model.on("change:run_id", handler);
      return () => model.off("change:run_id", handler);
    },
    mode: channelMode(model.get("mode")),
    viewState: {
      get: () => {
        const state = model.get("view_state");
        return state !== null && typeof state === "object" ? state : {};
      },
      set(state) {
        model.set("view_state", state);
        model.save_changes();
      },
    },
  };
}

/**
 * @param {unknown} mode the model's `mode` trait
 * @returns {"run" | "service" | "history"}
 */
function channelMode(mode) {
  return mode === "service" || mode === "history" ? mode : "run";
}

/**
 * @param {Model} model
 */
function storeFor(model) {
  let store = stores.get(model);
  if (!store) {
    store = createStore(modelChannel(model));
    stores.set(model, store);
  }
  return store;
}

export default {
  /** @param {{model: Model}} context */
  initialize({ model }) {
    storeFor(model);
    return () => {
      stores.get(model)?.dispose();
      stores.delete(model);
    };
  },

  /** @param {{model: Model, el: HTMLElement}} context */
  render({ model, el }) {
    const store = storeFor(model);
    // 0: fit the graph; a drag of the view's handle sets the trait (every view of the model follows).
    const height = () => Number(model.get("height")) || 0;
    const view = createView(el, modelChannel(model), {
      store,
      height: height(),
      onResize(px) {
        model.set("height", px);
        model.save_changes();
      },
    });
    const onHeight = () => view.setHeight(height());
    model.on("change:height", onHeight);
    return () => {
      model.off("change:height", onHeight);
      view();
    };
  },
};
