/**
 * The run's controls as the toolbar offers them: pause, resume, cancel, a
 * stored run's Continue, and rerun (the toolbar's "Rerun changed", the
 * details panel's "Rerun from here"). Each is a request; its answer (or
 * error) shows as a notice, never as an exception.
 *
 * A rerun's answer names the new run; whoever answers moves the view to it
 * (the kernel sets the widget's `run_id`, the server moves the project's
 * subscribers), and its snapshot follows. While the request is on its way
 * the rerun controls are off, so a double click asks once.
 *
 * Runs on the main thread; nothing to release (a request answered after the
 * view is gone shows nothing: the notices are closed).
 *
 * @module
 */

import { rerunAnswer, rerunBlock, rerunNotice } from "./rerun.js";
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
 * @param {import("./rerun.js").RerunPolicy} [parts.rerun] how this view may rerun
 * @param {() => void} [parts.changed] whether a rerun can be asked for changed (a request went
 *   or was answered): the toolbar and the details panel draw again
 * @param {(next: {runId: string, parentRun: string}, nodes: string[] | null) => void} [parts.rerunning]
 *   a rerun was answered: the new run
 * @returns {Controls}
 */
export function createControls({ store, toolbar, notices, continueRun, follows, rerun: policy = {}, changed, rerunning }) {
  let asking = false; // a rerun request is on its way

  /** @returns {string} why a rerun cannot be asked for now ("": it can) */
  function block() {
    if (asking) return "A rerun was asked for: its run shows in a moment";
    return rerunBlock(store.client.state?.run, policy);
  }

  /**
   * Rerun the run shown: from `nodes` (they run again, and what their new results change),
   * or (null) only what changed.
   *
   * @param {string[] | null} nodes
   * @returns {Promise<{runId: string, parentRun: string} | null>} the new run (null: refused)
   */
  function rerun(nodes) {
    const why = block();
    if (why) {
      notices.show("error", `Rerun: ${why}`);
      return Promise.resolve(null);
    }
    const one = nodes !== null && nodes.length === 1 ? nodes[0] : "";
    const label = one ? store.client.state?.nodes[one]?.label || one : "";
    asking = true;
    changed?.();
    return store.request({ type: "rerun", nodes }).then(
      (answer) => {
        asking = false;
        changed?.();
        const next = rerunAnswer(answer);
        if (!next) {
          notices.show("error", `rerun: unexpected answer ${JSON.stringify(answer).slice(0, 200)}`);
          return null;
        }
        notices.show("info", rerunNotice(nodes, label));
        // The kernel moves the view itself; one that chooses its run follows should it not.
        if (follows && next.runId !== store.runId()) store.switchRun(next.runId);
        rerunning?.(next, nodes);
        return next;
      },
      (error) => {
        asking = false;
        changed?.();
        notices.show("error", `rerun: ${errorText(error)}`, 15_000);
        return null;
      },
    );
  }

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

  return { control, continueRun: goOn, rerun, rerunBlock: block };
}

/**
 * @typedef {object} Controls
 * @property {(kind: "pause" | "resume" | "cancel") => void} control
 * @property {() => void} continueRun a stored run's "Continue"
 * @property {(nodes: string[] | null) => Promise<{runId: string, parentRun: string} | null>} rerun
 * @property {() => string} rerunBlock why a rerun cannot be asked for now ("": it can)
 */
