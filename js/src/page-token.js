/**
 * The server page's token dialog: asked for when the server refuses the
 * token (or by "Change token"); Cancel and Escape close it only while a
 * token works, since there is nothing to go back to otherwise.
 *
 * Runs on the main thread; the page lives as long as the document, so its
 * listeners are never removed.
 *
 * @module
 */

/** @typedef {import("./page-dom.js").PageDom} PageDom */

/**
 * @param {PageDom} dom
 * @param {object} handlers
 * @param {() => boolean} handlers.authorized whether the token in use works
 * @param {(token: string) => void} handlers.submit the token typed in (trimmed)
 * @returns {(why: string) => void} opens the dialog, `why` shown above the field ("" for none)
 */
export function createTokenDialog(dom, { authorized, submit }) {
  const { dialog, tokenForm, tokenInput, tokenError, tokenCancel } = dom;

  /** @param {string} why */
  function ask(why) {
    tokenError.textContent = why;
    tokenError.hidden = !why;
    tokenInput.value = "";
    tokenCancel.hidden = !authorized(); // nothing to go back to without a working token
    dialog.hidden = false;
    tokenInput.focus();
  }

  const close = () => {
    if (authorized()) dialog.hidden = true;
  };
  tokenCancel.addEventListener("click", close);
  dialog.addEventListener("keydown", (event) => event.key === "Escape" && close());

  tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    dialog.hidden = true;
    submit(token);
  });
  return ask;
}
