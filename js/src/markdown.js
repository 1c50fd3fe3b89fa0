/**
 * A small, safe Markdown reader for question prompts.
 *
 * A prompt is Markdown written by a task, so it is shown formatted, but it
 * is never HTML: `parseMarkdown` turns the text into a tree of plain
 * objects, and `markdownNodes` builds DOM nodes from that tree with
 * `createElement` and `textContent` only. Raw HTML in a prompt (`<img
 * src=x onerror=...>`) is therefore shown as the text it is, and a link
 * is a link only when its address is `http:`, `https:` or `mailto:`
 * (anything else, `javascript:` included, stays text).
 *
 * The subset: paragraphs (a single line break is a space), ATX headings
 * (`#` to `######`), bullet (`-`, `*`, `+`) and numbered (`1.`) lists,
 * fenced code blocks (```` ``` ````), block quotes (`>`); inline code,
 * `**strong**`, `*emphasis*` (and the `_` forms), `[links](https://…)`
 * and backslash escapes. Anything else is text.
 *
 * @module
 */

/**
 * @typedef {{t: "text", text: string}
 *   | {t: "code", text: string}
 *   | {t: "strong" | "em", children: Inline[]}
 *   | {t: "link", href: string, children: Inline[]}} Inline
 */

/**
 * @typedef {{t: "p", children: Inline[]}
 *   | {t: "h", level: number, children: Inline[]}
 *   | {t: "ul" | "ol", items: Inline[][], start?: number}
 *   | {t: "pre", text: string}
 *   | {t: "quote", children: Block[]}} Block
 */

/** At most this many characters are read; the rest is cut with an ellipsis. */
export const MAX_MARKDOWN = 20_000;

const SAFE_URL = /^(https?:|mailto:)/i;

/**
 * @param {string} href
 * @returns {boolean} whether a link may point there
 */
export function safeHref(href) {
  return SAFE_URL.test(href.trim());
}

/**
 * The blocks of `text`.
 *
 * @param {string} text
 * @returns {Block[]}
 */
export function parseMarkdown(text) {
  let src = String(text ?? "");
  if (src.length > MAX_MARKDOWN) src = src.slice(0, MAX_MARKDOWN) + "…";
  return blocks(src.replace(/\r\n?/g, "\n").split("\n"), 0);
}

/**
 * @param {string[]} lines
 * @param {number} depth block quotes inside block quotes, bounded
 * @returns {Block[]}
 */
function blocks(lines, depth) {
  /** @type {Block[]} */
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const fence = /^\s*(```+|~~~+)/.exec(line);
    if (fence) {
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) code.push(lines[i++]);
      i++; // the closing fence (or the end)
      out.push({ t: "pre", text: code.join("\n") });
      continue;
    }
    const heading = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      out.push({ t: "h", level: heading[1].length, children: inline(heading[2]) });
      i++;
      continue;
    }
    if (/^\s{0,3}>/.test(line)) {
      const inner = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) inner.push(lines[i++].replace(/^\s{0,3}>\s?/, ""));
      out.push(depth < 8 ? { t: "quote", children: blocks(inner, depth + 1) } : { t: "p", children: inline(inner.join(" ")) });
      continue;
    }
    const bullet = /^\s{0,3}([-*+])\s+/;
    const number = /^\s{0,3}(\d{1,9})[.)]\s+/;
    const kind = bullet.test(line) ? "ul" : number.test(line) ? "ol" : "";
    if (kind) {
      const marker = kind === "ul" ? bullet : number;
      const first = number.exec(line);
      /** @type {string[][]} */
      const items = [];
      while (i < lines.length && lines[i].trim()) {
        if (marker.test(lines[i])) items.push([lines[i].replace(marker, "")]);
        else items[items.length - 1].push(lines[i].trim());
        i++;
      }
      /** @type {Block} */
      const list = { t: kind, items: items.map((parts) => inline(parts.join(" "))) };
      if (kind === "ol" && first && first[1] !== "1") list.start = Number(first[1]);
      out.push(list);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) para.push(lines[i++].trim());
    if (!para.length) para.push(lines[i++].trim()); // a line that looks like a block but is not one
    out.push({ t: "p", children: inline(para.join(" ")) });
  }
  return out;
}

/** @param {string} line */
function startsBlock(line) {
  return /^\s{0,3}(#{1,6}\s|>|[-*+]\s|\d{1,9}[.)]\s|```|~~~)/.test(line);
}

/**
 * The inline content of `text`.
 *
 * @param {string} text
 * @returns {Inline[]}
 */
export function inline(text) {
  /** @type {Inline[]} */
  const out = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push({ t: "text", text: plain });
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!>~<]/.test(text[i + 1])) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const ticks = /^`+/.exec(text.slice(i))?.[0] ?? "`";
      const end = text.indexOf(ticks, i + ticks.length);
      if (end > 0) {
        flush();
        out.push({ t: "code", text: text.slice(i + ticks.length, end).trim() || text.slice(i + ticks.length, end) });
        i = end + ticks.length;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      const double = text[i + 1] === c;
      const mark = double ? c + c : c;
      const end = text.indexOf(mark, i + mark.length + 1);
      const body = end > 0 ? text.slice(i + mark.length, end) : "";
      // `_` inside a word (snake_case) is not emphasis; neither is a mark before a space.
      const wordy = c === "_" && i > 0 && /\w/.test(text[i - 1]);
      if (end > 0 && body.trim() === body && body && !wordy) {
        flush();
        out.push({ t: double ? "strong" : "em", children: inline(body) });
        i = end + mark.length;
        continue;
      }
    }
    if (c === "[") {
      const link = /^\[([^\]]*)\]\(\s*([^)\s]+)(?:\s+"[^"]*")?\s*\)/.exec(text.slice(i));
      if (link) {
        flush();
        const children = inline(link[1] || link[2]);
        if (safeHref(link[2])) out.push({ t: "link", href: link[2], children });
        else out.push(...children);
        i += link[0].length;
        continue;
      }
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

/**
 * DOM nodes for `text`, built with `createElement` and `textContent` only.
 *
 * @param {string} text Markdown
 * @param {Document} [doc]
 * @returns {Node[]}
 */
export function markdownNodes(text, doc = document) {
  return parseMarkdown(text).map((b) => blockNode(b, doc));
}

/**
 * @param {Block} b
 * @param {Document} doc
 * @returns {Node}
 */
function blockNode(b, doc) {
  switch (b.t) {
    case "pre": {
      const pre = doc.createElement("pre");
      pre.textContent = b.text;
      return pre;
    }
    case "h": {
      const el = doc.createElement("div");
      el.className = `tb-md-h tb-md-h${b.level}`;
      el.append(...b.children.map((c) => inlineNode(c, doc)));
      return el;
    }
    case "ul":
    case "ol": {
      const list = doc.createElement(b.t);
      if (b.t === "ol" && b.start !== undefined) list.setAttribute("start", String(b.start));
      for (const item of b.items) {
        const li = doc.createElement("li");
        li.append(...item.map((c) => inlineNode(c, doc)));
        list.append(li);
      }
      return list;
    }
    case "quote": {
      const q = doc.createElement("blockquote");
      q.append(...b.children.map((c) => blockNode(c, doc)));
      return q;
    }
    default: {
      const p = doc.createElement("p");
      p.append(...b.children.map((c) => inlineNode(c, doc)));
      return p;
    }
  }
}

/**
 * @param {Inline} n
 * @param {Document} doc
 * @returns {Node}
 */
function inlineNode(n, doc) {
  switch (n.t) {
    case "text":
      return doc.createTextNode(n.text);
    case "code": {
      const code = doc.createElement("code");
      code.textContent = n.text;
      return code;
    }
    case "link": {
      const a = doc.createElement("a");
      a.href = n.href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.append(...n.children.map((c) => inlineNode(c, doc)));
      return a;
    }
    default: {
      const el = doc.createElement(n.t);
      el.append(...n.children.map((c) => inlineNode(c, doc)));
      return el;
    }
  }
}
