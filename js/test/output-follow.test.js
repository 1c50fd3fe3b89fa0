import { describe, expect, it } from "vitest";
import { OutputMarks, emptyTail, followOutput, mergeTail, tailFromDetails } from "../src/output-follow.js";

const known = (text = "", from = 0) => tailFromDetails({ output: text, output_from: from });

describe("followOutput", () => {
  it("appends events in order", () => {
    let tail = known("a\n");
    for (const event of [{ from: 2, text: "b\n" }, { from: 4, text: "c\n" }]) {
      const step = followOutput(tail, event);
      expect(step.gap).toBe(false);
      tail = step.tail;
    }
    expect(tail).toMatchObject({ from: 0, end: 6, text: "a\nb\nc\n" });
  });

  it("adds nothing for a repeated event and only the new part of an overlapping one", () => {
    const tail = known("hello");
    expect(followOutput(tail, { from: 0, text: "hello" })).toMatchObject({ added: "", gap: false, tail });
    const step = followOutput(tail, { from: 3, text: "lo world" });
    expect(step.added).toBe(" world");
    expect(step.tail.text).toBe("hello world");
  });

  it("reports a gap and keeps the tail when an event starts past its end", () => {
    const tail = known("abc");
    const step = followOutput(tail, { from: 10, text: "xyz" });
    expect(step.gap).toBe(true);
    expect(step.tail).toBe(tail);
  });

  it("asks for details first when it knows nothing yet", () => {
    expect(followOutput(emptyTail(), { from: 0, text: "x" }).gap).toBe(true);
  });

  it("keeps only the last characters", () => {
    const step = followOutput(known("0123456789"), { from: 10, text: "abcdef" }, 8);
    expect(step.tail).toMatchObject({ from: 8, end: 16, text: "89abcdef" });
  });
});

describe("mergeTail", () => {
  it("appends an offset answer that starts where the tail ends", () => {
    const tail = mergeTail(known("abc"), { output: "def", output_from: 3 });
    expect(tail).toMatchObject({ from: 0, end: 6, text: "abcdef" });
  });

  it("cuts the overlap of an answer that starts inside the tail", () => {
    expect(mergeTail(known("abcd"), { output: "cdef", output_from: 2 }).text).toBe("abcdef");
  });

  it("marks text the server no longer kept", () => {
    const tail = mergeTail(known("abc"), { output: "xyz", output_from: 10 });
    expect(tail.end).toBe(13);
    expect(tail.text).toBe("abc\n… 7 characters not kept …\nxyz");
  });

  it("keeps a tail that reaches further than an older answer", () => {
    const tail = known("abcdef");
    expect(mergeTail(tail, { output: "abc", output_from: 0 })).toBe(tail);
  });

  it("takes the whole answer when it knows nothing", () => {
    expect(mergeTail(emptyTail(), { output: "abc", output_from: 5 })).toMatchObject({ from: 5, end: 8, known: true });
  });
});

describe("OutputMarks", () => {
  it("marks nodes that printed past what was seen", () => {
    const marks = new OutputMarks();
    marks.update({ a: { output_chars: 5 }, b: {} }, null);
    expect([...marks.fresh]).toEqual(["a"]);
    expect(marks.see("a", 5)).toBe(true);
    expect(marks.fresh.size).toBe(0);
    marks.update({ a: { output_chars: 5 } }, ["a"]);
    expect(marks.fresh.size).toBe(0);
    marks.update({ a: { output_chars: 9 } }, ["a"]);
    expect(marks.fresh.has("a")).toBe(true);
    marks.reset();
    expect(marks.fresh.size).toBe(0);
  });
});
