import { describe, expect, it } from "vitest";
import { inline, markdownNodes, parseMarkdown, safeHref } from "../src/markdown.js";

/**
 * A document that records what is built: elements are plain objects, and
 * any write of `innerHTML` throws, so a test fails if markup is ever parsed.
 */
function fakeDocument() {
  /** @param {string} tag */
  const element = (tag) => {
    /** @type {any} */
    const el = {
      tag,
      children: /** @type {any[]} */ ([]),
      attrs: /** @type {Record<string, string>} */ ({}),
      text: "",
      className: "",
      append(/** @type {any[]} */ ...nodes) {
        el.children.push(...nodes);
      },
      setAttribute(/** @type {string} */ k, /** @type {string} */ v) {
        el.attrs[k] = v;
      },
      set textContent(/** @type {string} */ v) {
        el.text = v;
      },
      set innerHTML(/** @type {string} */ _v) {
        throw new Error("innerHTML written");
      },
    };
    return el;
  };
  return /** @type {Document} */ (
    /** @type {unknown} */ ({
      createElement: element,
      createTextNode: (/** @type {string} */ text) => ({ tag: "#text", text }),
    })
  );
}

/** @param {any} node @returns {string} */
function textOf(node) {
  return (node.text ?? "") + (node.children ?? []).map(textOf).join("");
}

/** @param {any} node @param {string[]} out @returns {string[]} */
function tags(node, out = []) {
  out.push(node.tag);
  for (const c of node.children ?? []) tags(c, out);
  return out;
}

describe("markdown", () => {
  it("reads paragraphs, headings, lists, code and quotes", () => {
    const blocks = parseMarkdown("# Plan\n\nApprove **this**\nplan?\n\n- intro\n- method\n\n2. two\n3. three\n\n```\nx = 1\n```\n\n> note");
    expect(blocks).toEqual([
      { t: "h", level: 1, children: [{ t: "text", text: "Plan" }] },
      {
        t: "p",
        children: [
          { t: "text", text: "Approve " },
          { t: "strong", children: [{ t: "text", text: "this" }] },
          { t: "text", text: " plan?" },
        ],
      },
      { t: "ul", items: [[{ t: "text", text: "intro" }], [{ t: "text", text: "method" }]] },
      { t: "ol", items: [[{ t: "text", text: "two" }], [{ t: "text", text: "three" }]], start: 2 },
      { t: "pre", text: "x = 1" },
      { t: "quote", children: [{ t: "p", children: [{ t: "text", text: "note" }] }] },
    ]);
  });

  it("reads inline code, emphasis, links and escapes", () => {
    expect(inline("use `a*b*c` and *this* or _that_, snake_case_name, \\*not\\*")).toEqual([
      { t: "text", text: "use " },
      { t: "code", text: "a*b*c" },
      { t: "text", text: " and " },
      { t: "em", children: [{ t: "text", text: "this" }] },
      { t: "text", text: " or " },
      { t: "em", children: [{ t: "text", text: "that" }] },
      { t: "text", text: ", snake_case_name, *not*" },
    ]);
    expect(inline("[docs](https://example.org/a)")).toEqual([
      { t: "link", href: "https://example.org/a", children: [{ t: "text", text: "docs" }] },
    ]);
  });

  it("links only to http, https and mailto addresses", () => {
    expect(safeHref("https://x.org")).toBe(true);
    expect(safeHref("mailto:a@b.c")).toBe(true);
    expect(safeHref("javascript:alert(1)")).toBe(false);
    expect(safeHref(" JavaScript:alert(1)")).toBe(false);
    expect(safeHref("data:text/html,<b>")).toBe(false);
    expect(inline("[click](javascript:alert(1))")).toEqual([{ t: "text", text: "click" }, { t: "text", text: ")" }]);
  });

  it("shows HTML as the text it is", () => {
    const doc = fakeDocument();
    const prompt = "<img src=x onerror=alert(1)> and <script>alert(2)</script>";
    const nodes = markdownNodes(prompt, doc);
    expect(nodes.map(textOf).join("")).toBe(prompt);
    expect(nodes.flatMap((n) => tags(n))).toEqual(["p", "#text"]);
  });

  it("builds elements, never markup, for formatted prompts", () => {
    const doc = fakeDocument();
    const nodes = /** @type {any[]} */ (markdownNodes("**Approve** the [plan](https://x.org/p)?\n\n- `a`", doc));
    expect(nodes.flatMap((n) => tags(n))).toEqual(["p", "strong", "#text", "#text", "a", "#text", "#text", "ul", "li", "code"]);
    const link = nodes[0].children[2];
    expect(link.href).toBe("https://x.org/p");
    expect(link.rel).toBe("noopener noreferrer");
  });

  it("cuts a very long prompt", () => {
    const blocks = parseMarkdown("x".repeat(30_000));
    const text = /** @type {any} */ (blocks[0]).children[0].text;
    expect(text.length).toBe(20_001);
    expect(text.endsWith("…")).toBe(true);
  });
});
