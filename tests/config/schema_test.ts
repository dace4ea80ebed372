/** src/config/schema.ts: types, required and unknown keys, and the rules that span keys. */
import assert from "node:assert/strict";
import { RESOURCE_EXPECTED } from "../../src/config/values.ts";
import {
  accept,
  COUNT,
  DOMAIN,
  FILE,
  JID,
  P0,
  reject,
  SERVER,
  SHAPE,
  SHAPES,
  testRejected,
  yamlOf,
} from "../support/config.ts";

testRejected([
  // wrong types
  ["domain is a number", yamlOf({}, { domain: "5" }), [
    `${P0}.domain: ${DOMAIN}, got 5`,
  ]],
  ["max_pending is a string", yamlOf({}, { max_pending: "ten" }), [
    `${P0}.max_pending: ${COUNT}, got "ten"`,
  ]],
  ["max_pending is quoted", yamlOf({}, { max_pending: '"5"' }), [
    `${P0}.max_pending: ${COUNT}, got "5"`,
  ]],
  ["max_pending is fractional", yamlOf({}, { max_pending: "1.5" }), [
    `${P0}.max_pending: ${COUNT}, got 1.5`,
  ]],
  [
    "max_pending_per_resource is 0",
    yamlOf({}, {
      max_pending_per_resource: "0",
    }),
    [
      `${P0}.max_pending_per_resource: ${COUNT}, got 0`,
    ],
  ],
  ["balance is unknown", yamlOf({}, { balance: "fastest" }), [
    `${P0}.balance: expected one of random, round-robin, least-pending, sticky, got "fastest"`,
  ]],
  ["log_level is unknown", yamlOf({ log_level: "LOUD" }), [
    `${FILE}: log_level: expected one of trace, debug, info, warning, error, fatal, got "LOUD"`,
  ]],
  ["log_level is empty", yamlOf({ log_level: "" }), [
    `${FILE}: log_level: expected one of trace, debug, info, warning, error, fatal, got an empty value`,
  ]],
  ["proxies is a mapping", "server: h\nproxies:\n  domain: x\n", [
    `${FILE}: proxies: expected a non-empty list of proxies, got a mapping`,
  ]],
  ["a proxy is a string", "server: h\nproxies:\n  - proxy.example.org\n", [
    // Not shown: `- secret:s3cret` (no space after the colon) is a string too.
    `${P0}: expected a mapping with domain, target_address and one of secret, secret_env, secret_file or secret_credential, got a string (value not shown)`,
  ]],
  ["the document is a list", "- server: h\n", [
    `${FILE}: expected a mapping with server and proxies, got a list`,
  ]],
  ["the document is a scalar", "hello\n", [
    // Not shown: it may be a secret file given as --config.
    `${FILE}: expected a mapping with server and proxies, got a string (value not shown)`,
  ]],
  ["the document is empty", "# nothing here\n", [
    `${FILE}: expected a mapping with server and proxies, got an empty document`,
  ]],

  // missing keys
  ["proxies is missing", "server: h\n", [
    `${FILE}: proxies: expected a non-empty list of proxies, got nothing (the key is missing)`,
  ]],
  ["proxies is empty", "server: h\nproxies: []\n", [
    `${FILE}: proxies: expected a non-empty list of proxies, got an empty list`,
  ]],
  ["domain is missing", yamlOf({}, { domain: null }), [
    `${P0}.domain: ${DOMAIN}, got nothing (the key is missing)`,
  ]],
  ["target_address is missing", yamlOf({}, { target_address: null }), [
    `${P0}.target_address: ${JID}, got nothing (the key is missing)`,
  ]],
  ["server is missing everywhere", yamlOf({ server: null }), [
    `${FILE}: server: ${SERVER} (required because proxies[0] has no server of its own), got nothing (the key is missing)`,
  ]],
  [
    "server is missing for the second proxy",
    yamlOf({ server: null }, { domain: "a.example.org", server: "h" }, {
      domain: "b.example.org",
    }),
    [
      `${FILE}: server: ${SERVER} (required because proxies[1] has no server of its own), got nothing (the key is missing)`,
    ],
  ],

  // unknown keys, duplicates
  ["unknown top-level key", yamlOf({ sever: "h" }), [
    `${FILE}: sever: unknown key: did you mean \`server\`?`,
  ]],
  ["unknown proxy key", yamlOf({}, { sekret: "x" }), [
    `${P0}.sekret: unknown key: did you mean \`secret\`?`,
  ]],
  ["__proto__ is an unknown key", yamlOf({}, { ["__proto__"]: "1" }), [
    `${P0}.__proto__: unknown key`,
  ]],
  [
    "duplicate domain, any case",
    yamlOf({}, {}, { domain: "PROXY.example.org" }),
    [
      `${FILE}: proxies[1].domain: expected a domain no other proxy uses, got "proxy.example.org" (also proxies[0].domain)`,
    ],
  ],

  // operations keys
  ["log_format is unknown", yamlOf({ log_format: "xml" }), [
    `${FILE}: log_format: expected one of text, json, got "xml"`,
  ]],
  ["hide_from_denied is yes", yamlOf({}, { hide_from_denied: "yes" }), [
    `${P0}.hide_from_denied: expected true or false, got "yes"`,
  ]],
  ["max_pending_per_requester is 0", yamlOf({}, { max_pending_per_requester: "0" }), [
    `${P0}.max_pending_per_requester: ${COUNT}, got 0`,
  ]],
  ["max_subscribers is not a number", yamlOf({}, { max_subscribers: "lots" }), [
    `${P0}.max_subscribers: ${COUNT}, got "lots"`,
  ]],
  [
    "the per-domain limits are bad",
    yamlOf({}, {
      max_pending_per_domain: "-1",
      rate_limit_per_domain: "20/s",
      max_subscribers_per_domain: "0",
    }),
    [
      `${P0}.max_pending_per_domain: ${COUNT}, got -1`,
      `${P0}.rate_limit_per_domain: expected a mapping like { rate: 20/s, burst: 40 }, got "20/s"`,
      `${P0}.max_subscribers_per_domain: ${COUNT}, got 0`,
    ],
  ],

  // affinity
  [
    "an affinity shape without a namespace, an @attribute or a part",
    yamlOf({}, {
      affinity: '["{http://jitsi.org/protocol/focus}conference@room", "conference@room", ' +
        '"{urn:x}conference", "{}q@a", "{urn:x}@a", "{urn:x}q@"]',
    }),
    [1, 2, 3, 4, 5].map((i) =>
      `${P0}.affinity[${i}]: ${SHAPE}, got ${
        JSON.stringify(
          ["conference@room", "{urn:x}conference", "{}q@a", "{urn:x}@a", "{urn:x}q@"][i - 1],
        )
      }`
    ),
  ],
  ["affinity is a string", yamlOf({}, { affinity: '"{urn:x}q@a"' }), [
    `${P0}.affinity: ${SHAPES}, got "{urn:x}q@a"`,
  ]],
  ["affinity holds a number", yamlOf({}, { affinity: "[5]" }), [
    `${P0}.affinity[0]: ${SHAPE}, got 5`,
  ]],
  [
    "affinity_idle and max_affinity_keys are bad",
    yamlOf({}, { affinity_idle: "0", max_affinity_keys: "0" }),
    [
      `${P0}.affinity_idle: expected a duration from 1ms to 596h, got 0`,
      `${P0}.max_affinity_keys: ${COUNT}, got 0`,
    ],
  ],

  // drain
  ["drain is a string", yamlOf({}, { drain: "jicofo-1" }), [
    `${P0}.drain: expected a list of resources like ["jicofo-1"], got "jicofo-1"`,
  ]],
]);

Deno.test("presence without state_dir, and a bad messages mode, are reported", () => {
  const errors = reject(yamlOf({}, { presence: "true", messages: "echo" }));
  assert.ok(
    errors.some((e) => e.includes("proxies[0].presence: needs state_dir")),
    errors.join("\n"),
  );
  assert.ok(errors.some((e) => e.includes("proxies[0].messages:")), errors.join("\n"));
});

Deno.test("drain: each bad name is reported on its own; good ones are read as the server stamps them", () => {
  const long = "x".repeat(1024);
  const errors = reject(yamlOf({}, { drain: `["ok", "", 5, "${long}", "a\\tb"]` }));
  assert.equal(errors.length, 4, errors.join("\n"));
  for (const [i, error] of errors.entries()) {
    assert.ok(error.startsWith(`${P0}.drain[${i + 1}]: ${RESOURCE_EXPECTED}, got `), error);
  }
  const [proxy] = accept(yamlOf({}, { drain: '["jicofo-1", "ｊｉｃｏｆｏ２"]' })).proxies;
  assert.deepEqual(proxy.drain, ["jicofo-1", "jicofo2"]);
  assert.ok(Object.isFrozen(proxy.drain));
  assert.ok(
    !("drain" in accept(yamlOf({}, { drain: "[]" })).proxies[0]),
    "an empty list is left out",
  );
});
