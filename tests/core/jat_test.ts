/** src/core/jat.ts: which requesters fit the resource, and reading a resource back. */
import assert from "node:assert/strict";
import { decodeResource, fitsResource, TOKEN_PREFIX } from "../../src/core/jat.ts";

Deno.test("fitsResource: ordinary requesters fit", () => {
  assert.equal(fitsResource("alice@example.org/phone"), true);
  assert.equal(fitsResource("example.org"), true);
  assert.equal(fitsResource(""), true);
});

Deno.test("fitsResource: ASCII up to exactly 1023 bytes", () => {
  const prefix = "alice@example.org/";
  const fits = prefix + "r".repeat(1023 - prefix.length);
  assert.equal(fits.length, 1023);
  assert.equal(fitsResource(fits), true);
  assert.equal(fitsResource(fits + "r"), false);
  assert.equal(fitsResource("a".repeat(5000)), false);
});

Deno.test("fitsResource: 3-byte characters: 341 fit, 342 do not", () => {
  assert.equal(fitsResource("€".repeat(341)), true); // 1023 bytes
  assert.equal(fitsResource("€".repeat(342)), false); // 1026 bytes
  // 1024 bytes in 342 characters: just past the length that fits without counting.
  assert.equal(fitsResource("€".repeat(341) + "a"), false);
  // 1023 bytes in 681 characters: longer than 341, still fits.
  assert.equal(fitsResource("€".repeat(340) + "a".repeat(3)), true);
  assert.equal(fitsResource("a".repeat(681) + "€".repeat(114)), true); // 681 + 342
  assert.equal(fitsResource("a".repeat(682) + "€".repeat(114)), false);
});

Deno.test("fitsResource: 4-byte emoji count 4 bytes, though 2 code units", () => {
  const emoji = "😀";
  assert.equal(emoji.length, 2);
  assert.equal(fitsResource(emoji.repeat(255) + "abc"), true); // 1023 bytes
  assert.equal(fitsResource(emoji.repeat(255) + "abcd"), false); // 1024 bytes
  assert.equal(fitsResource(emoji.repeat(256)), false); // 1024 bytes, 512 code units
  assert.equal(fitsResource(`alice@example.org/${emoji.repeat(251)}`), true); // 18 + 1004
  assert.equal(fitsResource(`alice@example.org/${emoji.repeat(252)}`), false); // 18 + 1008
});

Deno.test("fitsResource: 2-byte characters at the boundary", () => {
  assert.equal(fitsResource("é".repeat(511) + "a"), true); // 1023 bytes
  assert.equal(fitsResource("é".repeat(512)), false); // 1024 bytes
});

Deno.test("decodeResource: a full JID is the requester, verbatim", () => {
  assert.deepEqual(decodeResource("alice@example.org/phone"), {
    kind: "jid",
    requester: "alice@example.org/phone",
  });
  // Case and a resource with `/` and `@` are kept as they are.
  assert.deepEqual(decodeResource("Alice@Example.org/a/b@c.org"), {
    kind: "jid",
    requester: "Alice@Example.org/a/b@c.org",
  });
});

Deno.test("decodeResource: a bare JID or a domain is a requester too", () => {
  assert.deepEqual(decodeResource("alice@example.org"), {
    kind: "jid",
    requester: "alice@example.org",
  });
  assert.deepEqual(decodeResource("conference.example.org"), {
    kind: "jid",
    requester: "conference.example.org",
  });
});

Deno.test("decodeResource: a leading `/` is a token, given without it", () => {
  assert.equal(TOKEN_PREFIX, "/");
  assert.deepEqual(decodeResource("/abc"), { kind: "token", token: "abc" });
  // The token is opaque: whatever follows the first `/`.
  assert.deepEqual(decodeResource("//x@y"), { kind: "token", token: "/x@y" });
});

Deno.test("decodeResource: a lone `/` is invalid", () => {
  assert.deepEqual(decodeResource("/"), { kind: "invalid" });
});

Deno.test("decodeResource: implausible JIDs are invalid", () => {
  for (
    const resource of [
      "",
      "@example.org",
      "alice@",
      "alice@example.org/",
      "al ice@example.org",
      "alice@exa<mple.org",
      "alice@bob@example.org",
      "alice@example.org/ph\none",
      `alice@example.org/${"r".repeat(1024)}`,
    ]
  ) {
    assert.deepEqual(decodeResource(resource), { kind: "invalid" }, JSON.stringify(resource));
  }
});

Deno.test("decodeResource: every requester that fits reads back as itself", () => {
  // The two forms never collide: a requester is never read as a token.
  for (
    const requester of [
      "alice@example.org/phone",
      "example.org",
      "jürgen@münchen.example/日本😀",
      `alice@example.org/${"😀".repeat(251)}`,
    ]
  ) {
    assert.equal(fitsResource(requester), true, requester);
    assert.deepEqual(decodeResource(requester), { kind: "jid", requester });
  }
});
