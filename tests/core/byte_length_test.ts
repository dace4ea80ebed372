/** src/core/byte_length.ts: UTF-8 lengths, as TextEncoder has them, and of any piece of a text. */
import assert from "node:assert/strict";
import { utf8Length } from "../../src/core/byte_length.ts";

const encoder = new TextEncoder();

Deno.test("utf8Length: bytes, not UTF-16 code units", () => {
  assert.equal(utf8Length(""), 0);
  assert.equal(utf8Length("alice@example.org"), 17);
  assert.equal(utf8Length("\x00\x7f"), 2);
  assert.equal(utf8Length("\x80é\u07ff"), 6);
  assert.equal(utf8Length("\u0800€日\ud7ff\ue000\uffff"), 18);
  assert.equal(utf8Length("😀"), 4); // two code units
  assert.equal(utf8Length("aé€😀"), 10);
  assert.equal(utf8Length("jürgen@münchen.example/日本"), 31);
  for (const text of ["x&amp;y", "é€😀𝄞日本語", "\u{10ffff}\u{10000}", "a\u0800b\u07ffc\ud7ff"]) {
    assert.equal(utf8Length(text), encoder.encode(text).length, text);
  }
});

Deno.test("utf8Length: the pieces of a text add up to the whole, wherever it is cut", () => {
  const text = "a é € 日 😀 𝄞 z";
  const whole = encoder.encode(text).length;
  for (let at = 0; at <= text.length; at++) {
    // Also between the two halves of a surrogate pair: each counts 2.
    assert.equal(utf8Length(text, 0, at) + utf8Length(text, at), whole, `cut at ${at}`);
    assert.equal(utf8Length(text.slice(0, at)) + utf8Length(text.slice(at)), whole, `cut at ${at}`);
  }
  assert.equal(utf8Length("\ud83d"), 2);
  assert.equal(utf8Length("\ude00"), 2);
  assert.equal(utf8Length("x😀y", 1, 3), 4);
});
