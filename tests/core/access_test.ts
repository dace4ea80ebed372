/** Allow/deny patterns: a table of lists × requesters → verdict. */
import assert from "node:assert/strict";
import { classifyPattern, compileAccess } from "../../src/core/access.ts";

interface Case {
  readonly name: string;
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
  /** Requester → whether it may use the proxy. */
  readonly expect: Readonly<Record<string, boolean>>;
}

const cases: Case[] = [
  {
    name: "no lists: everyone",
    expect: { "alice@example.org": true, "example.org": true, "x@y.z": true },
  },
  {
    name: "empty lists: everyone",
    allow: [],
    deny: [],
    expect: { "alice@example.org": true, "bob@evil.org": true },
  },
  {
    name: "an exact JID",
    allow: ["alice@example.org"],
    expect: {
      "alice@example.org": true,
      "ALICE@Example.ORG": true,
      "bob@example.org": false,
      "example.org": false,
      "alice@sub.example.org": false,
      "alice@example.org.evil": false,
    },
  },
  {
    name: "an exact JID, written in capitals",
    allow: ["Alice@EXAMPLE.org"],
    expect: { "alice@example.org": true, "aLiCe@example.org": true },
  },
  {
    name: "@domain: its users and the domain itself, not subdomains",
    allow: ["@example.org"],
    expect: {
      "alice@example.org": true,
      "example.org": true,
      "Bob@Example.Org": true,
      "alice@muc.example.org": false,
      "muc.example.org": false,
      "alice@badexample.org": false,
      "alice@example.org.evil": false,
      "example.org@evil.org": false,
    },
  },
  {
    name: "*.domain: strict subdomains and their users, not the domain",
    allow: ["*.example.org"],
    expect: {
      "muc.example.org": true,
      "alice@muc.example.org": true,
      "u@a.b.example.org": true,
      "example.org": false,
      "alice@example.org": false,
      "alice@badexample.org": false,
      "x.example.org.evil": false,
      "example.org@x.evil": false,
    },
  },
  {
    name: "@domain and *.domain together cover the whole tree",
    allow: ["@example.org", "*.example.org"],
    expect: {
      "example.org": true,
      "a@example.org": true,
      "a@b.example.org": true,
      "a@example.net": false,
    },
  },
  {
    name: "deny only: everyone but the denied",
    deny: ["mallory@example.org", "@evil.org", "*.spam.net"],
    expect: {
      "alice@example.org": true,
      "mallory@example.org": false,
      "MALLORY@example.org": false,
      "evil.org": false,
      "x@evil.org": false,
      "x@sub.evil.org": true,
      "x@a.spam.net": false,
      "spam.net": true,
    },
  },
  {
    name: "deny wins over allow",
    allow: ["@example.org", "mallory@example.org"],
    deny: ["mallory@example.org", "*.example.org"],
    expect: {
      "alice@example.org": true,
      "mallory@example.org": false,
      "a@muc.example.org": false,
      "a@example.net": false,
    },
  },
  {
    name: "a denied domain beats an allowed JID on it",
    allow: ["alice@evil.org"],
    deny: ["@evil.org"],
    expect: { "alice@evil.org": false },
  },
  {
    name: "a full JID passed by mistake is judged by its bare part",
    allow: ["@example.org"],
    expect: {
      "alice@example.org/phone": true,
      "example.org/a@evil.org": true,
      "evil.org/a@example.org": false,
      "alice@evil.org/@example.org": false,
    },
  },
  {
    name: "IDN domains compare lowercased",
    allow: ["@\u00c9COLE.example"],
    expect: { "prof@\u00e9cole.example": true, "prof@ecole.example": false },
  },
  // Hole 4 of issue 16: patterns and requesters compare as the server spells them.
  {
    name: "deny straße@ matches the strasse@ the server stamps",
    deny: ["straße@example.org"],
    expect: {
      "strasse@example.org": false,
      "STRASSE@example.org": false,
      "strase@example.org": true,
    },
  },
  {
    name: "full-width and trailing-dot patterns match the plain requester",
    deny: ["ｍａｌｌｏｒｙ@ｅｖｉｌ.example", "@spam.example.", "*.ＢＡＤ.example"],
    expect: {
      "mallory@evil.example": false,
      "x@spam.example": false,
      "a@b.bad.example": false,
      "bad.example": true,
      "alice@example.org": true,
    },
  },
  {
    name: "IDNA: a U-label pattern matches the A-label requester, and back",
    deny: ["@bücher.example", "*.xn--mnchen-3ya.example"],
    expect: {
      "a@xn--bcher-kva.example": false,
      "a@bücher.example": false,
      "a@BÜCHER.example": false,
      "a@x.münchen.example": false,
      "a@x.xn--mnchen-3ya.example": false,
      "a@bucher.example": true,
    },
  },
  {
    name: "allow in one spelling admits the other",
    allow: ["Ａlice@Ｅxample.org."],
    expect: { "alice@example.org": true, "bob@example.org": false },
  },
];

for (const { name, allow, deny, expect } of cases) {
  Deno.test(`access: ${name}`, () => {
    const check = compileAccess(allow, deny);
    for (const [requester, verdict] of Object.entries(expect)) {
      assert.equal(check(requester), verdict, `${requester} should be ${verdict}`);
    }
  });
}

Deno.test("classifyPattern sorts patterns by shape, lowercased", () => {
  assert.deepEqual(classifyPattern("Alice@Example.org"), {
    kind: "jid",
    jid: "alice@example.org",
  });
  assert.deepEqual(classifyPattern("@Example.org"), {
    kind: "domain",
    domain: "example.org",
  });
  assert.deepEqual(classifyPattern("*.Example.org"), {
    kind: "subdomains",
    parent: "example.org",
  });
  for (
    const bad of [
      "",
      "example.org",
      "*",
      "*.",
      "@",
      "alice@",
      "a@b@c",
      "@a@b",
      "*.@example.org",
      "*.*.example.org",
      "a*@example.org",
      "alice@example.org/res",
      "@example.org/res",
      "**.example.org",
    ]
  ) {
    assert.equal(classifyPattern(bad), undefined, JSON.stringify(bad));
  }
});

Deno.test("compileAccess refuses a pattern of no known shape", () => {
  assert.throws(
    () => compileAccess(["example.org"]),
    new TypeError(
      'allow: expected a pattern like user@example.org, @example.org or *.example.org, got "example.org"',
    ),
  );
  assert.throws(() => compileAccess([], ["*"]), /^TypeError: deny: /);
});

Deno.test("a large list: every listed pattern matches, and only those", () => {
  // Its speed (Set lookups, not scans) is the benchmark's to measure.
  const allow = Array.from({ length: 50_000 }, (_, i) => `user${i}@example.org`);
  allow.push("*.trusted.example");
  // Under an allowed parent, so that only the deny list keeps them out.
  const deny = Array.from({ length: 50_000 }, (_, i) => `@spam${i}.trusted.example`);
  const check = compileAccess(allow, deny);
  let users = 0;
  let trusted = 0;
  let spam = 0;
  for (let i = 0; i < 100_000; i++) {
    if (check(`user${i}@example.org`)) users++;
    if (check(`x@a.b.c.trusted.example`)) trusted++;
    if (check(`x@spam${i}.trusted.example`)) spam++;
  }
  assert.equal(users, 50_000); // user0 … user49999, not the others
  assert.equal(trusted, 100_000);
  assert.equal(spam, 50_000); // spam50000 … spam99999, not denied
});
