import { describe, expect, it } from "vitest";
import { applyPatch } from "../src/patch.js";

// RFC 7386, Appendix A: [original, patch, result].
/** @type {[unknown, unknown, unknown][]} */
const APPENDIX_A = [
  [{ a: "b" }, { a: "c" }, { a: "c" }],
  [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
  [{ a: "b" }, { a: null }, {}],
  [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
  [{ a: ["b"] }, { a: "c" }, { a: "c" }],
  [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
  [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
  [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
  [["a", "b"], ["c", "d"], ["c", "d"]],
  [{ a: "b" }, ["c"], ["c"]],
  [{ a: "foo" }, null, null],
  [{ a: "foo" }, "bar", "bar"],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: "b", c: null }, { a: "b" }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

describe("applyPatch", () => {
  it.each(APPENDIX_A)("RFC 7386 appendix A: %j + %j", (original, patch, result) => {
    const target = structuredClone(original);
    expect(applyPatch(target, patch)).toEqual(result);
  });

  it("RFC 7386 section 3 example", () => {
    const target = {
      title: "Goodbye!",
      author: { givenName: "John", familyName: "Doe" },
      tags: ["example", "sample"],
      content: "This will be unchanged",
    };
    const patch = {
      title: "Hello!",
      phoneNumber: "+01-123-456-7890",
      author: { familyName: null },
      tags: ["example"],
    };
    expect(applyPatch(target, patch)).toEqual({
      title: "Hello!",
      author: { givenName: "John" },
      tags: ["example"],
      content: "This will be unchanged",
      phoneNumber: "+01-123-456-7890",
    });
  });

  it("mutates an object target in place and returns it", () => {
    const nodes = { a: { status: "running", attempt: 1 } };
    const target = { nodes };
    const out = applyPatch(target, { nodes: { a: { status: "done", ended: 1.5 } } });
    expect(out).toBe(target);
    expect(target.nodes).toBe(nodes);
    expect(nodes.a).toEqual({ status: "done", attempt: 1, ended: 1.5 });
  });

  it("copies objects the patch adds, so later patches never change the patch", () => {
    const patch = { nodes: { b: { status: "pending", error: null } } };
    /** @type {any} */
    const target = { nodes: {} };
    applyPatch(target, patch);
    expect(target.nodes.b).toEqual({ status: "pending" });
    expect(target.nodes.b).not.toBe(patch.nodes.b);
    applyPatch(target, { nodes: { b: { status: "ready" } } });
    expect(patch.nodes.b).toEqual({ status: "pending", error: null });
  });

  it("ignores __proto__ keys", () => {
    const target = {};
    applyPatch(target, JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect(/** @type {any} */ ({}).polluted).toBeUndefined();
  });
});
