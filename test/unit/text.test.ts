// Text PostgreSQL can store: what is refused at the edge and what is cleaned from a model's output.
import { describe, expect, it } from "vitest";
import { storableText, UNSTORABLE_TEXT } from "../../src/domain/text.ts";

describe("storable text", () => {
  it("finds NUL and unpaired surrogates, and nothing in paired ones", () => {
    for (const bad of ["a\u0000b", "\uD800", "x\uDC00", "\uDC00\uD800"]) expect(UNSTORABLE_TEXT.test(bad)).toBe(true);
    for (const ok of ["", "plain", "🚀 emoji pairs", "é\u0007 other controls"]) expect(UNSTORABLE_TEXT.test(ok)).toBe(false);
  });

  it("drops NULs and replaces unpaired surrogates, keeping pairs", () => {
    expect(storableText("Nul\u0000here, lone \uD800 high and \uDC00 low 🚀")).toBe("Nulhere, lone \uFFFD high and \uFFFD low 🚀");
    expect(UNSTORABLE_TEXT.test(storableText("\uDC00\uD800\u0000"))).toBe(false);
  });
});
