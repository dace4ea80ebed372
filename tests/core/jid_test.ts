/**
 * src/core/jid.ts: splitting, the plausibility check (parts in bytes), bare and
 * normal forms, and the config's stricter host name and bare JID checks.
 */
import assert from "node:assert/strict";
import {
  bareOf,
  isBareJid,
  isHostname,
  isPlausibleJid,
  jidKey,
  MAX_PART_BYTES,
  normalizeJid,
  prepDomain,
  splitJid,
} from "../../src/core/jid.ts";
import { utf8Length } from "../../src/core/byte_length.ts";

Deno.test("splitJid: at the first slash; a resource may hold `/` and `@`", () => {
  assert.deepEqual(splitJid("alice@example.org/phone"), {
    bare: "alice@example.org",
    resource: "phone",
  });
  assert.deepEqual(splitJid("alice@example.org/a/b@c.org/d"), {
    bare: "alice@example.org",
    resource: "a/b@c.org/d",
  });
  // A domain-only JID with a resource that looks like a JID.
  assert.deepEqual(splitJid("example.org/bob@other.org"), {
    bare: "example.org",
    resource: "bob@other.org",
  });
});

Deno.test("splitJid: no slash is no resource; a trailing slash is an empty one", () => {
  assert.deepEqual(splitJid("alice@example.org"), {
    bare: "alice@example.org",
    resource: undefined,
  });
  assert.deepEqual(splitJid("example.org"), { bare: "example.org", resource: undefined });
  assert.deepEqual(splitJid("alice@example.org/"), { bare: "alice@example.org", resource: "" });
});

Deno.test("isPlausibleJid: ordinary bare and full JIDs", () => {
  for (
    const jid of [
      "example.org",
      "alice@example.org",
      "alice@example.org/phone",
      "Alice@Example.ORG/Phone", // case is not checked
      "alice@example.org/with space", // resources may have spaces
      "alice@example.org/a/b@c.org", // and slashes and `@`
      "alice@example.org/<&'\">", // and what XML escapes
      "example.org/bob@other.org",
      "jürgen@münchen.example/日本😀",
      "a@b",
    ]
  ) {
    assert.equal(isPlausibleJid(jid), true, jid);
  }
});

Deno.test("isPlausibleJid: empty parts are not", () => {
  for (
    const jid of [
      "",
      "@example.org",
      "alice@",
      "alice@/phone",
      "/phone",
      "/",
      "alice@example.org/",
      "example.org/",
      ".",
    ]
  ) {
    assert.equal(isPlausibleJid(jid), false, JSON.stringify(jid));
  }
});

Deno.test("isPlausibleJid: characters a localpart never has", () => {
  for (const bad of ['"', "&", "'", ":", "<", ">", " ", "\t", "\n", "\x00", "\x1f", "\x7f"]) {
    const jid = `al${bad}ice@example.org`;
    assert.equal(isPlausibleJid(jid), false, JSON.stringify(jid));
  }
});

Deno.test("isPlausibleJid: characters a domainpart never has", () => {
  for (const bad of ['"', "&", "'", "<", ">", " ", "\t", "\x00", "\x7f"]) {
    for (const jid of [`exam${bad}ple.org`, `alice@exam${bad}ple.org/phone`]) {
      assert.equal(isPlausibleJid(jid), false, JSON.stringify(jid));
    }
  }
  // Two `@`: the second one lands in the domain.
  assert.equal(isPlausibleJid("alice@bob@example.org"), false);
});

Deno.test("isPlausibleJid: control characters in the resource", () => {
  for (const bad of ["\x00", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"]) {
    const jid = `alice@example.org/ph${bad}one`;
    assert.equal(isPlausibleJid(jid), false, JSON.stringify(jid));
  }
});

Deno.test("isPlausibleJid: each part at most 1023 bytes", () => {
  assert.equal(MAX_PART_BYTES, 1023);
  const fits = "a".repeat(1023);
  const over = "a".repeat(1024);
  assert.equal(isPlausibleJid(`${fits}@example.org`), true);
  assert.equal(isPlausibleJid(`${over}@example.org`), false);
  assert.equal(isPlausibleJid(fits), true);
  assert.equal(isPlausibleJid(over), false);
  assert.equal(isPlausibleJid(`alice@${over}`), false);
  assert.equal(isPlausibleJid(`alice@example.org/${fits}`), true);
  assert.equal(isPlausibleJid(`alice@example.org/${over}`), false);
  // All three at the limit at once: the limit is per part.
  assert.equal(isPlausibleJid(`${fits}@${fits}/${fits}`), true);
});

Deno.test("isPlausibleJid: the limit counts bytes, not characters", () => {
  // 512 × "é" is 512 characters but 1024 bytes.
  const over = "é".repeat(512);
  const fits = "é".repeat(511) + "a";
  assert.equal(isPlausibleJid(`${fits}@example.org`), true);
  assert.equal(isPlausibleJid(`${over}@example.org`), false);
  assert.equal(isPlausibleJid(`alice@example.org/${fits}`), true);
  assert.equal(isPlausibleJid(`alice@example.org/${over}`), false);
  assert.equal(isPlausibleJid(`alice@${"€".repeat(341)}`), true);
  assert.equal(isPlausibleJid(`alice@${"€".repeat(342)}`), false);
});

Deno.test("bareOf: lowercase, without the resource", () => {
  assert.equal(bareOf("Alice@Example.ORG/Phone"), "alice@example.org");
  assert.equal(bareOf("Alice@Example.ORG"), "alice@example.org");
  assert.equal(bareOf("Example.ORG"), "example.org");
});

Deno.test("bareOf: the resource is cut first, even when it holds an `@`", () => {
  // Cutting at `@` first would key this requester as someone at other.org.
  assert.equal(bareOf("example.org/Bob@Other.org"), "example.org");
  assert.equal(bareOf("alice@example.org/x@evil.org/y"), "alice@example.org");
});

Deno.test("normalizeJid: local and domain lowercase, the resource as is", () => {
  assert.equal(normalizeJid("Alice@Example.ORG/Phone"), "alice@example.org/Phone");
  assert.equal(normalizeJid("Alice@Example.ORG"), "alice@example.org");
  assert.equal(normalizeJid("Example.ORG/Bob@Other.ORG/X"), "example.org/Bob@Other.ORG/X");
  assert.equal(normalizeJid("alice@example.org/phone"), "alice@example.org/phone");
});

Deno.test("prepDomain: one trailing dot is the root's; any other empty label makes no domain", () => {
  assert.equal(prepDomain("Proxy.Example.ORG."), "proxy.example.org");
  assert.equal(prepDomain("proxy\u3002example\uff0eorg\uff61"), "proxy.example.org");
  for (const domain of ["a..", "a..b", ".a", ".", "a.\u3002.\u3002\u3002", "a\uff0e\uff0e"]) {
    assert.equal(prepDomain(domain), undefined, JSON.stringify(domain));
  }
});

Deno.test("isHostname: dot-separated labels, IDNs too; no empty, odd or overlong label", () => {
  for (
    const host of ["localhost", "proxy.example.org", "127.0.0.1", "m\u00fcnchen.example", "a_b.org"]
  ) {
    assert.equal(isHostname(host), true, host);
  }
  for (
    const host of [
      "",
      "example.org.",
      ".example.org",
      "a..org",
      "-a.org",
      "a-.org",
      "a b.org",
      "a@b",
    ]
  ) {
    assert.equal(isHostname(host), false, JSON.stringify(host));
  }
  assert.equal(isHostname(`${"a".repeat(63)}.org`), true);
  assert.equal(isHostname(`${"a".repeat(64)}.org`), false);
  const longest = Array(16).fill("a".repeat(63)).join(".");
  assert.equal(utf8Length(longest), MAX_PART_BYTES);
  assert.equal(isHostname(longest), true);
  assert.equal(isHostname(`${longest}a`), false);
});

Deno.test("isBareJid: local@host only; stricter than isPlausibleJid on localparts", () => {
  assert.equal(isBareJid("svc@example.org"), true);
  assert.equal(isBareJid("t\u00e9l\u00e9@example.org"), true);
  for (const jid of ["example.org", "@example.org", "a@b@example.org", "svc@example.org/res"]) {
    assert.equal(isBareJid(jid), false, jid);
  }
  // C1 controls, bidi controls, zero-width joiners, private use: refused in a config.
  for (
    const jid of [
      "a\u0085b@example.org",
      "a\u0090b@example.org",
      "s\u202e@example.org",
      "a\u200db@example.org",
      "a\ue000@example.org",
    ]
  ) {
    assert.equal(isPlausibleJid(jid), true, JSON.stringify(jid));
    assert.equal(isBareJid(jid), false, JSON.stringify(jid));
  }
  assert.equal(isBareJid(`${"a".repeat(MAX_PART_BYTES)}@example.org`), true);
  assert.equal(isBareJid(`${"a".repeat(MAX_PART_BYTES + 1)}@example.org`), false);
});

Deno.test("jidKey: what no profile keeps is left out even of an address that is no JID", () => {
  // An empty localpart once prepared: no JID, but one key for its spellings (fuzz-found).
  assert.equal(jidKey("\u200b@a"), jidKey("@a"));
  assert.equal(jidKey("\u00adAlice\u200b@Example.org/R"), "alice@example.org/R");
  assert.notEqual(jidKey("b@a"), jidKey("@a"));
});
