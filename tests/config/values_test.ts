/** src/config/values.ts: server, peer and listen addresses, JIDs and domains, durations, rates and patterns. */
import assert from "node:assert/strict";
import {
  accept,
  ALLOW_LIST,
  COUNT,
  DOMAIN,
  DURATION,
  FILE,
  HTTP,
  JID,
  P0,
  PATTERN,
  PEER,
  RATE,
  SERVER,
  SIZE,
  testRejected,
  yamlOf,
} from "../support/config.ts";

const goodServers: [string, { host: string; port: number; url: string }][] = [
  ["xmpp://127.0.0.1:5347", {
    host: "127.0.0.1",
    port: 5347,
    url: "xmpp://127.0.0.1:5347",
  }],
  ["127.0.0.1:6000", {
    host: "127.0.0.1",
    port: 6000,
    url: "xmpp://127.0.0.1:6000",
  }],
  ["localhost", {
    host: "localhost",
    port: 5347,
    url: "xmpp://localhost:5347",
  }],
  ["XMPP://XMPP.Example.org", {
    host: "xmpp.example.org",
    port: 5347,
    url: "xmpp://xmpp.example.org:5347",
  }],
  ["xmpp://[::1]:5348", { host: "::1", port: 5348, url: "xmpp://[::1]:5348" }],
  ['"[::1]"', { host: "::1", port: 5347, url: "xmpp://[::1]:5347" }],
  ["h:65535", { host: "h", port: 65_535, url: "xmpp://h:65535" }],
];

for (const [server, expected] of goodServers) {
  Deno.test(`server ${server} is accepted`, () => {
    assert.deepEqual(
      accept(yamlOf({ server })).proxies[0].server,
      expected,
    );
  });
}

Deno.test("JIDs with unusual but valid parts are accepted", () => {
  for (
    const jid of [
      "focus@auth.meet.example.org",
      "a.b-c_d+e@localhost",
      "t\u00e9l\u00e9@example.org",
      "svc@127.0.0.1",
      `${"a".repeat(1023)}@example.org`,
    ]
  ) {
    assert.equal(
      accept(yamlOf({}, { target_address: JSON.stringify(jid) })).proxies[0]
        .targetAddress,
      jid,
    );
  }
});

Deno.test("standby_peer: an HTTP origin, with its port, also IPv6; absent by default", () => {
  const peers = accept(yamlOf(
    {},
    { standby_peer: '"http://10.0.0.2:9347"' },
    { domain: "b.example.org", standby_peer: '"https://[::1]/"' },
    { domain: "c.example.org", standby_peer: '"http://Peer.Example.org"' },
    { domain: "d.example.org" },
  )).proxies.map((proxy) => proxy.standbyPeer);
  assert.deepEqual(peers, [
    { host: "10.0.0.2", port: 9347, url: "http://10.0.0.2:9347" },
    { host: "::1", port: 443, url: "https://[::1]" },
    { host: "peer.example.org", port: 80, url: "http://peer.example.org" },
    undefined,
  ]);
  assert.ok(Object.isFrozen(peers[0]));
});

const goodHttp: [string, { host: string; port: number }][] = [
  ["127.0.0.1:9347", { host: "127.0.0.1", port: 9347 }],
  ["0.0.0.0:1", { host: "0.0.0.0", port: 1 }],
  ['"[::1]:9347"', { host: "::1", port: 9347 }],
  ['"[::]:65535"', { host: "::", port: 65_535 }],
  ["metrics.internal:80", { host: "metrics.internal", port: 80 }],
];

for (const [http, expected] of goodHttp) {
  Deno.test(`http ${http} is accepted`, () => {
    assert.deepEqual(accept(yamlOf({ http })).http, expected);
  });
}

const goodRates: [string, { perSecond: number; burst: number }][] = [
  ["{ rate: 20/s }", { perSecond: 20, burst: 20 }],
  ["{ rate: 100/m, burst: 5 }", { perSecond: 100 / 60, burst: 5 }],
  ["{ rate: 1000/h }", { perSecond: 1000 / 3600, burst: 1000 }],
  ["{ rate: 0.5/s }", { perSecond: 0.5, burst: 1 }],
  ["{ rate: 2.5 / m }", { perSecond: 2.5 / 60, burst: 3 }],
  ["{ rate: .5/h, burst: 1 }", { perSecond: 0.5 / 3600, burst: 1 }],
];

for (const [rateLimit, expected] of goodRates) {
  Deno.test(`rate_limit ${rateLimit} is accepted`, () => {
    assert.deepEqual(accept(yamlOf({}, { rate_limit: rateLimit })).proxies[0].rateLimit, expected);
  });
}

testRejected([
  // JIDs and domains
  [
    "target is a full JID",
    yamlOf({}, { target_address: "svc@example.org/res" }),
    [
      `${P0}.target_address: ${JID}, got "svc@example.org/res"`,
    ],
  ],
  ["target has no local part", yamlOf({}, { target_address: "example.org" }), [
    `${P0}.target_address: ${JID}, got "example.org"`,
  ]],
  [
    "target has an empty local part",
    yamlOf({}, { target_address: "'@example.org'" }),
    [
      `${P0}.target_address: ${JID}, got "@example.org"`,
    ],
  ],
  ["target has two @", yamlOf({}, { target_address: "a@b@example.org" }), [
    `${P0}.target_address: ${JID}, got "a@b@example.org"`,
  ]],
  [
    "target local part has a space",
    yamlOf({}, { target_address: '"a b@example.org"' }),
    [
      `${P0}.target_address: ${JID}, got "a b@example.org"`,
    ],
  ],
  [
    "target local part has a quote",
    yamlOf({}, { target_address: `"a'b@example.org"` }),
    [
      `${P0}.target_address: ${JID}, got "a'b@example.org"`,
    ],
  ],
  [
    "target local part has a colon",
    yamlOf({}, { target_address: '"a:b@example.org"' }),
    [
      `${P0}.target_address: ${JID}, got "a:b@example.org"`,
    ],
  ],
  [
    "target domain is not a hostname",
    yamlOf({}, { target_address: "a@exa_mple..org" }),
    [
      `${P0}.target_address: ${JID}, got "a@exa_mple..org"`,
    ],
  ],
  [
    "target local part is 1024 bytes",
    yamlOf({}, {
      target_address: `${"a".repeat(1024)}@example.org`,
    }),
    [
      `${P0}.target_address: ${JID}, got "${"a".repeat(77)}..."`,
    ],
  ],
  ["domain has an @", yamlOf({}, { domain: "svc@example.org" }), [
    `${P0}.domain: ${DOMAIN}, got "svc@example.org"`,
  ]],
  ["domain has a /", yamlOf({}, { domain: "example.org/x" }), [
    `${P0}.domain: ${DOMAIN}, got "example.org/x"`,
  ]],
  ["domain has a space", yamlOf({}, { domain: '"proxy example.org"' }), [
    `${P0}.domain: ${DOMAIN}, got "proxy example.org"`,
  ]],
  ["domain ends in a dot", yamlOf({}, { domain: "proxy.example.org." }), [
    `${P0}.domain: ${DOMAIN}, got "proxy.example.org."`,
  ]],
  ["domain label starts with -", yamlOf({}, { domain: "-proxy.example.org" }), [
    `${P0}.domain: ${DOMAIN}, got "-proxy.example.org"`,
  ]],

  // servers
  ...[
    "http://127.0.0.1:5347",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:abc",
    "xmpp://127.0.0.1:5347/",
    "user@127.0.0.1",
    '"[zz::1]"',
    '"::1"',
  ].map((server): [string, string, string[]] => [
    `bad server ${server}`,
    yamlOf({ server }),
    [
      `${FILE}: server: ${SERVER}, got ${JSON.stringify(server.replace(/^"(.*)"$/, "$1"))}`,
    ],
  ]),
  ["server is empty", yamlOf({ server: '""' }), [
    `${FILE}: server: ${SERVER}, got an empty string`,
  ]],
  ["server is a number", yamlOf({ server: "5347" }), [
    `${FILE}: server: ${SERVER}, got 5347`,
  ]],
  ["bad per-proxy server", yamlOf({}, { server: "tcp://h" }), [
    `${P0}.server: ${SERVER}, got "tcp://h"`,
  ]],

  // durations
  [
    "request_timeout is not a duration",
    yamlOf({}, { request_timeout: "abc" }),
    [
      `${P0}.request_timeout: ${DURATION}, got "abc"`,
    ],
  ],
  ["request_timeout is negative", yamlOf({}, { request_timeout: "-1s" }), [
    `${P0}.request_timeout: ${DURATION}, got "-1s"`,
  ]],
  [
    "request_timeout has an unknown unit",
    yamlOf({}, { request_timeout: "1d" }),
    [
      `${P0}.request_timeout: ${DURATION}, got "1d"`,
    ],
  ],
  ["request_timeout is zero", yamlOf({}, { request_timeout: "0s" }), [
    `${P0}.request_timeout: expected a duration from 1ms to 596h, got "0s"`,
  ]],
  [
    "request_timeout is too long for a timer",
    yamlOf({}, {
      request_timeout: "597h",
    }),
    [
      `${P0}.request_timeout: expected a duration from 1ms to 596h, got "597h"`,
    ],
  ],
  ["shutdown_grace is a list", yamlOf({ shutdown_grace: "[5s]" }), [
    `${FILE}: shutdown_grace: ${DURATION}, got a list`,
  ]],

  // operations keys: the HTTP listener, the standby peer, access lists, rates
  ...[
    "127.0.0.1",
    "9347",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "http://127.0.0.1:9347",
    '":9347"',
    '"[zz::1]:1"',
    '"::1:9347"',
    "a_b..c:1",
  ]
    .map((http): [string, string, string[]] => [
      `bad http ${http}`,
      yamlOf({ http }),
      [
        `${FILE}: http: ${HTTP}, got ${
          /^\d+$/.test(http) ? http : JSON.stringify(http.replace(/^"(.*)"$/, "$1"))
        }`,
      ],
    ]),
  ...[
    "10.0.0.2:9347",
    "ftp://10.0.0.2:21",
    "http://10.0.0.2:9347/metrics",
    "http://",
    "http://a_b..c:1",
  ]
    .map((peer): [string, string, string[]] => [
      `bad standby_peer ${peer}`,
      yamlOf({}, { standby_peer: JSON.stringify(peer) }),
      [`${P0}.standby_peer: ${PEER}, got ${JSON.stringify(peer)}`],
    ]),
  // A password in it is not echoed (tests/config/secret_messages_test.ts).
  ["bad standby_peer http://u:p@h:1", yamlOf({}, { standby_peer: "http://u:p@h:1" }), [
    `${P0}.standby_peer: ${PEER}, got "http://…@h:1" (a user and password, not shown, do not ` +
    "belong in it)",
  ]],
  ["allow is empty", yamlOf({}, { allow: "[]" }), [
    `${P0}.allow: ${ALLOW_LIST}, got an empty list`,
  ]],
  ["allow is null", yamlOf({}, { allow: "" }), [
    `${P0}.allow: ${ALLOW_LIST}, got an empty value`,
  ]],
  ["allow is one string", yamlOf({}, { allow: "'@example.org'" }), [
    `${P0}.allow: ${ALLOW_LIST}, got "@example.org"`,
  ]],
  [
    "allow has bad patterns",
    yamlOf({}, {
      allow:
        `[example.org, "@", "*.", "*", a@b@c.org, "a b@x.org", "*.-x.org", "@x..org", 5, "svc@example.org/res"]`,
    }),
    [
      `${P0}.allow[0]: ${PATTERN}, got "example.org"`,
      `${P0}.allow[1]: ${PATTERN}, got "@"`,
      `${P0}.allow[2]: ${PATTERN}, got "*."`,
      `${P0}.allow[3]: ${PATTERN}, got "*"`,
      `${P0}.allow[4]: ${PATTERN}, got "a@b@c.org"`,
      `${P0}.allow[5]: ${PATTERN}, got "a b@x.org"`,
      `${P0}.allow[6]: ${PATTERN}, got "*.-x.org"`,
      `${P0}.allow[7]: ${PATTERN}, got "@x..org"`,
      `${P0}.allow[8]: ${PATTERN}, got 5`,
      `${P0}.allow[9]: ${PATTERN}, got "svc@example.org/res"`,
    ],
  ],
  ["deny is a mapping", yamlOf({}, { deny: "{ a: 1 }" }), [
    `${P0}.deny: expected a list of patterns like ["@evil.example"], got a mapping`,
  ]],
  ["deny has a bad pattern", yamlOf({}, { deny: "[evil.example]" }), [
    `${P0}.deny[0]: ${PATTERN}, got "evil.example"`,
  ]],
  [
    "deny has a pattern no server could spell: a broken A-label",
    yamlOf({}, {
      deny: '["@xn--zz.example", "*.xn--zz.example", "a@xn--zz.example"]',
    }),
    [
      `${P0}.deny[0]: ${PATTERN}, got "@xn--zz.example"`,
      `${P0}.deny[1]: ${PATTERN}, got "*.xn--zz.example"`,
      `${P0}.deny[2]: ${PATTERN}, got "a@xn--zz.example"`,
    ],
  ],
  ["rate_limit is a bare rate", yamlOf({}, { rate_limit: "20/s" }), [
    `${P0}.rate_limit: expected a mapping like { rate: 20/s, burst: 40 }, got "20/s"`,
  ]],
  ["rate_limit has no rate", yamlOf({}, { rate_limit: "{ burst: 5 }" }), [
    `${P0}.rate_limit.rate: ${RATE}, got nothing (the key is missing)`,
  ]],
  ...["20", '"20"', "0/s", "-1/s", "20/d", "20/sec", "fast", "1e3/s", "1/s/s"].map((
    rate,
  ): [string, string, string[]] => [
    `rate ${rate}`,
    yamlOf({}, { rate_limit: `{ rate: ${rate} }` }),
    [`${P0}.rate_limit.rate: ${RATE}, got ${
      rate === "20" ? 20 : JSON.stringify(rate.replace(/^"(.*)"$/, "$1"))
    }`],
  ]),
  ["burst is 0, rate is 0", yamlOf({}, { rate_limit: "{ rate: 0/m, burst: 0 }" }), [
    `${P0}.rate_limit.rate: ${RATE}, got "0/m"`,
    `${P0}.rate_limit.burst: ${COUNT}, got 0`,
  ]],
  ["burst is fractional", yamlOf({}, { rate_limit: "{ rate: 1/s, burst: 1.5 }" }), [
    `${P0}.rate_limit.burst: ${COUNT}, got 1.5`,
  ]],
  ["rate_limit has an unknown key", yamlOf({}, { rate_limit: "{ rate: 1/s, brust: 2 }" }), [
    `${P0}.rate_limit.brust: unknown key: did you mean \`burst\`?`,
  ]],
  ...([
    ["0", "0"],
    ["1023", "1023"],
    ["2GB", '"2GB"'],
    ["-1MB", '"-1MB"'],
    ["1.5", "1.5"],
    ["1.5B", '"1.5B"'],
    ["1 TB", '"1 TB"'],
    ["big", '"big"'],
    ["1MB1", '"1MB1"'],
    ["true", "true"],
    ["[]", "an empty list"],
  ] as const).map(([size, got]): [string, string, string[]] => [
    `max_stanza_size ${size}`,
    yamlOf({}, { max_stanza_size: size }),
    [`${P0}.max_stanza_size: ${SIZE}, got ${got}`],
  ]),
]);
