/**
 * The run's controls as the toolbar offers them: pause, resume, cancel, and
 * a stored run's Continue. Each is a request; its answer (or error) shows
 * as a notice, never as an exception.
 *
 * Runs on the main thread; nothing to release (a request answered after the
 * view is gone shows nothing: the notices are closed).
 *
 * @module
 */

import { errorText } from "./store.js";

/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./toolbar.js").Toolbar} Toolbar */
/** @typedef {import("./view-notices.js").Notices} Notices */

/**
 * @param {object} parts
 * @param {Store} parts.store
 * @param {Toolbar} parts.toolbar
 * @param {Notices} parts.notices
 * @param {(() => Promise<unknown>) | null | undefined} parts.continueRun what Continue does;
 *   by default the `continue` request
 * @param {boolean} parts.follows whether the view chooses its run (service, history mode), so
 *   it follows a continued run that has another id
 * @returns {{control: (kind: "pause" | "resume" | "cancel") => void, continueRun: () => void}}
 */
export function createControls({ store, toolbar, notices, continueRun, follows }) {
  /** @param {"pause" | "resume" | "cancel"} kind */
  function control(kind) {
    store.request({ type: kind }).then(
      () => {
        notices.show("info", `${kind[0].toUpperCase()}${kind.slice(1)} requested`, 30_000);
        notices.expect(kind);
        const status = store.client.state?.run.status;
        if (status) notices.settle(status);
      },
      (error) => notices.show("error", `${kind}: ${errorText(error)}`),
    );
  }

  /** A stored run's "Continue": the run goes on live, and its snapshot replaces the stored one. */
  function goOn() {
    const go = continueRun ?? (() => store.request({ type: "continue" }));
    toolbar.continueButton.disabled = true;
    notices.show("info", "Continuing the run…", 30_000);
    go().then(
      (answer) => {
        toolbar.continueButton.disabled = false;
        notices.show("info", "Continued: the run goes on from its stored state");
        // The answer names the live run (the stored run's own id, as the protocol stands);
        // a view that chooses its run follows it should it ever differ.
        const id = answer && typeof answer === "object" ? /** @type {Record<string, unknown>} */ (answer).run_id : undefined;
        if (typeof id === "string" && id && id !== store.runId() && follows) store.switchRun(id);
      },
      (error) => {
        toolbar.continueButton.disabled = false;
        notices.show("error", `continue: ${errorText(error)}`, 15_000);
      },
    );
  }

  return { control, continueRun: goOn };
}
