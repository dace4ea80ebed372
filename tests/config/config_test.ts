/**
 * Config parsing. parseConfig tests inject readFile/getEnv and need only
 * `--allow-env=LOG_TOKENS,LOG_STREAM` (npm:yaml reads those); the loadConfig
 * tests use a temp dir and also need `--allow-read --allow-write`.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config, ConfigResult } from "../../src/config/types.ts";

const FILE = "client-proxy.yaml";

/** The example from the spec, byte for byte: it must be accepted. */
const EXAMPLE = `server: xmpp://127.0.0.1:5347          # where the XMPP server accepts components
log_level: info                        # optional
shutdown_grace: 5s                     # optional
proxies:
  - domain: proxy.example.org
    secret: s3cret                      # exactly one of secret / secret_env: NAME / secret_file: PATH
    target_address: service@example.org
    request_timeout: 30s
    balance: least-pending              # optional
    max_pending_per_resource: 1000      # optional
    max_pending: 100000                 # optional
    server: xmpp://127.0.0.1:5348       # optional per-proxy override
`;

type Fields = Record<string, string | null>;

const BASE_TOP: Fields = { server: "127.0.0.1:5347" };
const BASE_PROXY: Fields = {
  domain: "proxy.example.org",
  secret: "s3cret",
  target_address: "service@example.org",
};

/**
 * YAML for one config: the base with `top` / per-proxy fields merged in.
 * Values are raw YAML text; `null` drops the key.
 */
function yamlOf(top: Fields = {}, ...proxies: Fields[]): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries({ ...BASE_TOP, ...top })) {
    if (value !== null) lines.push(`${key}: ${value}`);
  }
  lines.push("proxies:");
  for (const proxy of proxies.length === 0 ? [{}] : proxies) {
    const entries = Object.entries({ ...BASE_PROXY, ...proxy })
      .filter(([, value]) => value !== null);
    entries.forEach(([key, value], i) => {
      lines.push(`${i === 0 ? "  - " : "    "}${key}: ${value}`);
    });
  }
  return lines.join("\n") + "\n";
}

/** $CREDENTIALS_DIRECTORY in these tests, as systemd would set it. */
const CREDENTIALS = "/run/credentials/client-proxy.service";

const FILES: Record<string, string> = {
  "secret.txt": "from-file\n",
  "/etc/client-proxy/abs.txt": "absolute\r\n",
  "two-newlines.txt": "x\n\n",
  "bom.txt": "\ufeffs3cret\n",
  "empty.txt": "",
  "newline-only.txt": "\n",
  "latin.txt": "s\u00e9cret\n",
  [`${CREDENTIALS}/xmpp-secret`]: "from-credential\n",
  [`${CREDENTIALS}/empty`]: "",
};
const ENV: Record<string, string> = {
  PROXY_SECRET: "from-env",
  EMPTY_SECRET: "",
  LATIN_SECRET: "s\u00e9cret",
  CREDENTIALS_DIRECTORY: CREDENTIALS,
};

function readFile(path: string): string {
  if (Object.hasOwn(FILES, path)) return FILES[path];
  throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
}

function getEnv(name: string): string | undefined {
  return Object.hasOwn(ENV, name) ? ENV[name] : undefined;
}

function parse(text: string, file = FILE): ConfigResult {
  return parseConfig(text, { file, readFile, getEnv });
}

function accept(text: string, file = FILE): Config {
  const result = parse(text, file);
  assert.ok(
    result.ok,
    `expected success, got:\n${result.ok ? "" : result.errors.join("\n")}`,
  );
  return result.config;
}

function reject(text: string): string[] {
  const result = parse(text);
  assert.ok(!result.ok, "expected errors, got a config");
  return result.errors;
}

// ------------------------------------------------------------------ accepted

Deno.test("the documented example is accepted with its values", () => {
  assert.deepEqual(accept(EXAMPLE), {
    file: FILE,
    logLevel: "info",
    shutdownGraceMs: 5_000,
    proxies: [{
      domain: "proxy.example.org",
      secret: "s3cret",
      targetAddress: "service@example.org",
      server: { host: "127.0.0.1", port: 5348, url: "xmpp://127.0.0.1:5348" },
      requestTimeoutMs: 30_000,
      balance: "least-pending",
      maxPendingPerResource: 1_000,
      maxPending: 100_000,
      hideFromDenied: false,
      maxPendingPerRequester: 100,
      keepaliveMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      standbyRetryMs: 2_000,
      allowTargetRequests: false,
      messages: "reject",
      presence: false,
      maxSubscribers: 10_000,
    }],
    readPaths: [FILE],
    envNames: [],
  });
});

Deno.test("optional keys take their documented defaults", () => {
  const config = accept(yamlOf());
  // Unset in the file: the flag, the environment or the default decide (env_config).
  assert.equal(config.logLevel, undefined);
  assert.equal(config.shutdownGraceMs, 5_000);
  const [proxy] = config.proxies;
  assert.equal(proxy.requestTimeoutMs, 30_000);
  assert.equal(proxy.balance, "least-pending");
  assert.equal(proxy.maxPendingPerResource, 1_000);
  assert.equal(proxy.maxPending, 100_000);
  assert.equal(config.logFormat, undefined);
  assert.ok(!("http" in config));
  assert.equal(proxy.hideFromDenied, false);
  assert.equal(proxy.maxPendingPerRequester, 100);
  assert.equal(proxy.keepaliveMs, 30_000);
  assert.equal(proxy.keepaliveTimeoutMs, 10_000);
  assert.equal(proxy.standbyRetryMs, 2_000);
  assert.equal(proxy.allowTargetRequests, false);
  assert.equal(proxy.messages, "reject");
  assert.equal(proxy.presence, false);
  assert.equal(proxy.maxSubscribers, 10_000);
  assert.ok(!("stateDir" in config));
  for (const key of ["allow", "deny", "rateLimit"]) assert.ok(!(key in proxy), key);
  assert.deepEqual(proxy.server, {
    host: "127.0.0.1",
    port: 5347,
    url: "xmpp://127.0.0.1:5347",
  });
});

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

Deno.test("all values are read and normalised", () => {
  const config = accept(yamlOf(
    { log_level: "debug", shutdown_grace: "0" },
    {
      domain: "Proxy.Example.ORG",
      target_address: "Service@Example.Org",
      request_timeout: "1.5", // bare number: seconds
      balance: "round-robin",
      max_pending_per_resource: "3",
      max_pending: "7",
    },
  ));
  assert.equal(config.logLevel, "debug");
  assert.equal(config.shutdownGraceMs, 0);
  const [proxy] = config.proxies;
  assert.equal(proxy.domain, "proxy.example.org");
  assert.equal(proxy.targetAddress, "service@example.org");
  assert.equal(proxy.requestTimeoutMs, 1_500);
  assert.equal(proxy.balance, "round-robin");
  assert.equal(proxy.maxPendingPerResource, 3);
  assert.equal(proxy.maxPending, 7);
});

Deno.test("every balance and log level is accepted", () => {
  for (const balance of ["random", "round-robin", "least-pending", "sticky"]) {
    assert.equal(accept(yamlOf({}, { balance })).proxies[0].balance, balance);
  }
  for (
    const level of ["trace", "debug", "info", "warning", "error", "fatal"]
  ) {
    assert.equal(accept(yamlOf({ log_level: level })).logLevel, level);
  }
});

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

Deno.test("secret_env reads the variable and is listed in envNames", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_env: "PROXY_SECRET" },
    { domain: "b.example.org", secret: null, secret_env: "PROXY_SECRET" },
  ));
  assert.equal(config.proxies[0].secret, "from-env");
  assert.deepEqual(config.envNames, ["PROXY_SECRET"]);
  assert.deepEqual(config.readPaths, [FILE]);
});

Deno.test("secret_file is read relative to the config, one newline stripped", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_file: "secret.txt" },
    {
      domain: "b.example.org",
      secret: null,
      secret_file: "/etc/client-proxy/abs.txt",
    },
  ));
  assert.equal(config.proxies[0].secret, "from-file");
  assert.equal(config.proxies[1].secret, "absolute");
  assert.deepEqual(config.readPaths, [
    FILE,
    "secret.txt",
    "/etc/client-proxy/abs.txt",
  ]);

  const seen: string[] = [];
  const result = parseConfig(
    yamlOf({}, { secret: null, secret_file: "sub/s.txt" }),
    {
      file: "/etc/client-proxy/client-proxy.yaml",
      readFile: (path) => {
        seen.push(path);
        return "x";
      },
    },
  );
  assert.deepEqual(seen, ["/etc/client-proxy/sub/s.txt"]);
  assert.ok(result.ok);
  assert.deepEqual(result.config.readPaths, [
    "/etc/client-proxy/client-proxy.yaml",
    "/etc/client-proxy/sub/s.txt",
  ]);
});

Deno.test("a per-proxy server makes the top-level one optional", () => {
  const config = accept(yamlOf(
    { server: null },
    { domain: "a.example.org", server: "a.example.net:1" },
    { domain: "b.example.org", server: "xmpp://b.example.net" },
  ));
  assert.deepEqual(
    config.proxies.map((proxy) => proxy.server.url),
    ["xmpp://a.example.net:1", "xmpp://b.example.net:5347"],
  );
});

Deno.test("the result is deeply frozen", () => {
  const config = accept(EXAMPLE);
  for (
    const part of [
      config,
      config.proxies,
      config.proxies[0],
      config.proxies[0].server,
      config.readPaths,
      config.envNames,
    ]
  ) {
    assert.ok(Object.isFrozen(part));
  }
  assert.throws(() => {
    (config as { logLevel: string }).logLevel = "trace";
  }, TypeError);
  assert.throws(() => {
    (config.proxies as ProxyList).push(config.proxies[0]);
  }, TypeError);
  assert.throws(() => {
    (config.proxies[0].server as { port: number }).port = 1;
  }, TypeError);
});

type ProxyList = Config["proxies"][number][];

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

Deno.test("operations keys are read and normalised", () => {
  const config = accept(yamlOf(
    { log_format: "json", http: "LocalHost:9347" },
    {
      allow: '["Alice@Example.org", "@Example.NET", "*.Example.com"]',
      deny: "[mallory@example.net]",
      hide_from_denied: "true",
      rate_limit: "{ rate: 20/s, burst: 40 }",
      max_pending_per_requester: "5",
      max_subscribers: "50",
    },
  ));
  assert.equal(config.logFormat, "json");
  assert.deepEqual(config.http, { host: "localhost", port: 9347 });
  const [proxy] = config.proxies;
  assert.deepEqual(proxy.allow, ["alice@example.org", "@example.net", "*.example.com"]);
  assert.deepEqual(proxy.deny, ["mallory@example.net"]);
  assert.equal(proxy.hideFromDenied, true);
  assert.deepEqual(proxy.rateLimit, { perSecond: 20, burst: 40 });
  assert.equal(proxy.maxPendingPerRequester, 5);
  assert.equal(proxy.maxSubscribers, 50);
  for (const part of [config.http, proxy.allow, proxy.deny, proxy.rateLimit]) {
    assert.ok(Object.isFrozen(part));
  }
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

Deno.test("an empty deny list is left out, like an absent one", () => {
  const [proxy] = accept(yamlOf({}, { deny: "[]" })).proxies;
  assert.ok(!("deny" in proxy));
});

Deno.test("secret_credential reads $CREDENTIALS_DIRECTORY/NAME", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_credential: "xmpp-secret" },
    { domain: "b.example.org", secret: null, secret_credential: "xmpp-secret" },
  ));
  assert.equal(config.proxies[0].secret, "from-credential");
  assert.deepEqual(config.readPaths, [FILE, `${CREDENTIALS}/xmpp-secret`]);
  assert.deepEqual(config.envNames, ["CREDENTIALS_DIRECTORY"]);
});

Deno.test("secret_credential without CREDENTIALS_DIRECTORY is an error", () => {
  const text = yamlOf({}, { secret: null, secret_credential: "xmpp-secret" });
  for (const env of [{}, { CREDENTIALS_DIRECTORY: "" }]) {
    const result = parseConfig(text, {
      file: FILE,
      readFile,
      getEnv: (name) => (env as Record<string, string>)[name],
    });
    assert.deepEqual(result.ok ? [] : result.errors, [
      `${P0}.secret_credential: expected the environment variable CREDENTIALS_DIRECTORY to be set (systemd sets it for a unit with LoadCredential=), got it unset`,
    ]);
  }
  const denied = parseConfig(text, {
    file: FILE,
    getEnv: () => {
      throw new Deno.errors.NotCapable("Requires env access");
    },
  });
  assert.deepEqual(denied.ok ? [] : denied.errors, [
    `${P0}.secret_credential: expected a readable environment variable CREDENTIALS_DIRECTORY, got not allowed by Deno's permissions (--allow-read / --allow-env; a binary built with \`deno task compile --config FILE\` may read only the files and variables that FILE uses)`,
  ]);
});

Deno.test("a secret_credential's content never appears in a message", () => {
  const secret = "h\u00fcnter2-S\u00e9cret";
  const result = parseConfig(yamlOf({}, { secret: null, secret_credential: "x" }), {
    file: FILE,
    getEnv: () => CREDENTIALS,
    readFile: () => secret,
  });
  assert.deepEqual(result.ok ? [] : result.errors, [`${P0}.secret_credential: ${ASCII}`]);
});

// ------------------------------------------------------------------ rejected

const P0 = `${FILE}: proxies[0]`;
const SERVER = "expected a server address like xmpp://127.0.0.1:5347, " +
  "127.0.0.1:5347 or 127.0.0.1";
const JID = "expected a bare JID like service@example.org";
const DOMAIN = "expected a domain name like proxy.example.org";
const DURATION = "expected a duration like 500ms, 2s or 1m";
const ASCII = "must be printable ASCII (XEP-0114 handshake hashes it as latin1)";
const COUNT = "expected an integer >= 1";
const HTTP = 'expected a listen address like 127.0.0.1:9347 or "[::1]:9347"';
const PEER =
  "expected the other instance's HTTP listener, like http://10.0.0.2:9347 (http or https, no path)";
const PATTERN = "expected a pattern like user@example.org, @example.org or *.example.org";
const ALLOW_LIST =
  'expected a non-empty list of patterns like ["@example.org"] (leave allow out to allow everyone)';
const RATE = "expected a rate above zero like 20/s, 100/m or 1000/h";
const ONE_SECRET = "expected exactly one of secret, secret_env, secret_file or secret_credential";

/** Each case: the YAML and the complete list of errors it must produce. */
const rejected: [string, string, string[]][] = [
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

  // secrets
  ["secret is non-ASCII", yamlOf({}, { secret: "s\u00e9cret" }), [
    `${P0}.secret: ${ASCII}`,
  ]],
  ["secret has a tab", yamlOf({}, { secret: '"a\\tb"' }), [
    `${P0}.secret: ${ASCII}`,
  ]],
  ["secret is empty", yamlOf({}, { secret: '""' }), [
    `${P0}.secret: expected a non-empty string, got an empty string`,
  ]],
  ["secret is a number", yamlOf({}, { secret: "123456" }), [
    `${P0}.secret: expected a string (quote secrets that YAML would read as numbers), got a number (value not shown)`,
  ]],
  ["secret is null", yamlOf({}, { secret: "" }), [
    `${P0}.secret: expected a string (quote secrets that YAML would read as numbers), got an empty value`,
  ]],
  ["two secret sources", yamlOf({}, { secret_env: "PROXY_SECRET" }), [
    `${P0}: ${ONE_SECRET}, got secret and secret_env`,
  ]],
  [
    "three secret sources",
    yamlOf({}, {
      secret_env: "PROXY_SECRET",
      secret_file: "secret.txt",
    }),
    [
      `${P0}: ${ONE_SECRET}, got secret and secret_env and secret_file`,
    ],
  ],
  ["no secret source", yamlOf({}, { secret: null }), [
    `${P0}: ${ONE_SECRET}, got none`,
  ]],
  ["secret_env is unset", yamlOf({}, { secret: null, secret_env: "NOPE" }), [
    `${P0}.secret_env: expected the environment variable NOPE to be set, got it unset`,
  ]],
  [
    "secret_env is empty",
    yamlOf({}, { secret: null, secret_env: "EMPTY_SECRET" }),
    [
      `${P0}.secret_env: expected the environment variable EMPTY_SECRET to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_env is non-ASCII",
    yamlOf({}, { secret: null, secret_env: "LATIN_SECRET" }),
    [
      `${P0}.secret_env: ${ASCII}`,
    ],
  ],
  [
    "secret_env is no variable name",
    yamlOf({}, { secret: null, secret_env: "MY-SECRET" }),
    [
      `${P0}.secret_env: expected an environment variable name like PROXY_SECRET, got a string (value not shown)`,
    ],
  ],
  [
    "secret_file is missing",
    yamlOf({}, { secret: null, secret_file: "nope.txt" }),
    [
      `${P0}.secret_file: expected a readable file, got "nope.txt" (No such file)`,
    ],
  ],
  [
    "secret_file is empty",
    yamlOf({}, { secret: null, secret_file: "empty.txt" }),
    [
      `${P0}.secret_file: expected the file "empty.txt" to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_file holds only a newline",
    yamlOf({}, {
      secret: null,
      secret_file: "newline-only.txt",
    }),
    [
      `${P0}.secret_file: expected the file "newline-only.txt" to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_file ends in two newlines",
    yamlOf({}, {
      secret: null,
      secret_file: "two-newlines.txt",
    }),
    [
      `${P0}.secret_file: the file "two-newlines.txt" holds more than one line: a secret is one line (a final newline is dropped)`,
    ],
  ],
  [
    "secret_file starts with a byte order mark",
    yamlOf({}, { secret: null, secret_file: "bom.txt" }),
    [
      `${P0}.secret_file: the file "bom.txt" starts with a byte order mark (BOM): save it without one`,
    ],
  ],
  [
    "secret_file is non-ASCII",
    yamlOf({}, { secret: null, secret_file: "latin.txt" }),
    [
      `${P0}.secret_file: ${ASCII}`,
    ],
  ],
  ["secret_file is a number", yamlOf({}, { secret: null, secret_file: "5" }), [
    `${P0}.secret_file: expected a file path, got 5`,
  ]],

  // unknown keys, duplicates
  ["unknown top-level key", yamlOf({ sever: "h" }), [
    `${FILE}: sever: unknown key`,
  ]],
  ["unknown proxy key", yamlOf({}, { sekret: "x" }), [
    `${P0}.sekret: unknown key`,
  ]],
  ["unknown odd key is quoted", yamlOf({ '"a b"': "1" }), [
    `${FILE}: ["a b"]: unknown key`,
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

  // operations keys
  ["log_format is unknown", yamlOf({ log_format: "xml" }), [
    `${FILE}: log_format: expected one of text, json, got "xml"`,
  ]],
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
    "http://u:p@h:1",
    "http://",
    "http://a_b..c:1",
  ]
    .map((peer): [string, string, string[]] => [
      `bad standby_peer ${peer}`,
      yamlOf({}, { standby_peer: JSON.stringify(peer) }),
      [`${P0}.standby_peer: ${PEER}, got ${JSON.stringify(peer)}`],
    ]),
  ["http unquoted IPv6 is a YAML error", yamlOf({ http: "[::1]:9347" }), [
    `${FILE}:2:12: Unexpected scalar at node end`,
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
  ["hide_from_denied is yes", yamlOf({}, { hide_from_denied: "yes" }), [
    `${P0}.hide_from_denied: expected true or false, got "yes"`,
  ]],
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
    `${P0}.rate_limit.brust: unknown key`,
  ]],
  ["max_pending_per_requester is 0", yamlOf({}, { max_pending_per_requester: "0" }), [
    `${P0}.max_pending_per_requester: ${COUNT}, got 0`,
  ]],
  ["max_subscribers is not a number", yamlOf({}, { max_subscribers: "lots" }), [
    `${P0}.max_subscribers: ${COUNT}, got "lots"`,
  ]],

  // secret_credential
  [
    "secret_credential file is missing",
    yamlOf({}, { secret: null, secret_credential: "nope" }),
    [
      `${P0}.secret_credential: expected a readable credential file, got "${CREDENTIALS}/nope" (No such file)`,
    ],
  ],
  [
    "secret_credential file is empty",
    yamlOf({}, { secret: null, secret_credential: "empty" }),
    [
      `${P0}.secret_credential: expected the credential file "${CREDENTIALS}/empty" to hold a non-empty secret, got an empty value`,
    ],
  ],
  ...["../etc/passwd", "a/b", ".hidden", '"has space"', "5"].map((
    name,
  ): [string, string, string[]] => [
    `secret_credential name ${name}`,
    yamlOf({}, { secret: null, secret_credential: name }),
    [
      `${P0}.secret_credential: expected a credential name like client-proxy.secret (systemd LoadCredential=), got a ${
        name === "5" ? "number" : "string"
      } (value not shown)`,
    ],
  ]),
  ["secret and secret_credential", yamlOf({}, { secret_credential: "xmpp-secret" }), [
    `${P0}: ${ONE_SECRET}, got secret and secret_credential`,
  ]],

  // YAML syntax, reported with line:column
  ["unclosed flow sequence", "server: h\nproxies: [\n", [
    `${FILE}:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
  ]],
  ["bad indentation", "server: h\n  proxies: 1\n", [
    `${FILE}:1:9: Nested mappings are not allowed in compact mappings`,
    `${FILE}:1:9: Implicit keys need to be on a single line`,
  ]],
  ["duplicate key", "server: h\nserver: h\nproxies: []\n", [
    `${FILE}:2:1: Map keys must be unique`,
  ]],
  ["tab indentation", "server: h\nproxies:\n\t- x\n", [
    `${FILE}:3:1: Tabs are not allowed as indentation`,
  ]],
  ["unknown tag", "server: !vault h\nproxies: []\n", [
    // Not the tag itself: `secret: !x…` may be a secret that starts with `!`.
    `${FILE}:1:9: Unresolved tag`,
  ]],
  ["unresolved alias", "server: *srv\nproxies: []\n", [
    `${FILE}:1:9: unresolved alias: a value starting with * names an &anchor; quote it if it is text`,
  ]],
  ["an unquoted @domain pattern", "server: h\nproxies:\n  - allow: [@example.org]\n", [
    `${FILE}:3:13: Plain value cannot start with reserved character @ (quote the value)`,
  ]],
  ["list as a key", "? [a]\n: 1\n", [
    `${FILE}:1:3: keys must be plain scalars (no lists, mappings or aliases)`,
  ]],
  ["two documents", "server: h\n---\nserver: h\n", [
    `${FILE}:2:1: Source contains multiple documents; please use YAML.parseAllDocuments()`,
  ]],
];

for (const [name, text, expected] of rejected) {
  Deno.test(`rejected: ${name}`, () => {
    assert.deepEqual(reject(text), expected);
  });
}

Deno.test("several problems in one file are all reported, proxy by proxy", () => {
  const text = yamlOf(
    { server: null, log_level: "loud", extra: "1" },
    {
      domain: "proxy.example.org",
      secret_env: "NOPE",
      target_address: "svc@example.org/res",
      request_timeout: "abc",
    },
    {
      domain: "proxy.example.org",
      secret: "123",
      target_address: "example.org",
      max_pending: "0",
      server: "http://x",
      sekret: "y",
    },
  );
  assert.deepEqual(reject(text), [
    `${FILE}: log_level: expected one of trace, debug, info, warning, error, fatal, got "loud"`,
    `${FILE}: extra: unknown key`,
    `${FILE}: server: ${SERVER} (required because proxies[0] has no server of its own), got nothing (the key is missing)`,
    `${P0}.secret_env: expected the environment variable NOPE to be set, got it unset`,
    `${P0}.target_address: ${JID}, got "svc@example.org/res"`,
    `${P0}.request_timeout: ${DURATION}, got "abc"`,
    `${P0}: ${ONE_SECRET}, got secret and secret_env`,
    `${FILE}: proxies[1].secret: expected a string (quote secrets that YAML would read as numbers), got a number (value not shown)`,
    `${FILE}: proxies[1].target_address: ${JID}, got "example.org"`,
    `${FILE}: proxies[1].server: ${SERVER}, got "http://x"`,
    `${FILE}: proxies[1].max_pending: ${COUNT}, got 0`,
    `${FILE}: proxies[1].sekret: unknown key`,
    `${FILE}: proxies[1].domain: expected a domain no other proxy uses, got "proxy.example.org" (also proxies[0].domain)`,
  ]);
});

// ------------------------------------------------------------ secret leaks

Deno.test("no message ever contains the secret", () => {
  const secrets = ["h\u00fcnter2-S\u00e9cret", "Hunter2Secret", "987654321"];
  const cases: string[] = [
    yamlOf({}, { secret: secrets[0] }), // non-ASCII
    yamlOf({}, { secret: `"${secrets[0]}"`, secret_env: "PROXY_SECRET" }),
    yamlOf({}, { secret: secrets[2] }), // a number: wrong type
    yamlOf({}, { secret: `[${secrets[1]}]` }), // a list: wrong type
    yamlOf({}, { secret: `{ value: ${secrets[1]} }` }), // a mapping
    yamlOf({}, { secret: `!vault ${secrets[1]}` }), // unknown tag
    yamlOf({}, { secret: null, secret_env: `"${secrets[1]}!"` }),
    yamlOf({}, { secret: null, secret_env: `"${secrets[0]}"` }),
    yamlOf({}, { secret: `"${secrets[1]}\\q"` }), // bad escape
    yamlOf({}, { secret: `"${secrets[1]}` }), // unterminated quote
    yamlOf({}, { secret: `${secrets[1]}: x` }), // nested mapping
    yamlOf({ sekret: secrets[1] }),
  ];
  const env = { LATIN: secrets[0] };
  cases.push(yamlOf({}, { secret: null, secret_env: "LATIN" }));
  for (const text of cases) {
    const result = parseConfig(text, {
      file: FILE,
      getEnv: (name) => Object.hasOwn(env, name) ? env.LATIN : undefined,
      readFile: () => secrets[0],
    });
    assert.ok(!result.ok, text);
    assert.ok(result.errors.length > 0);
    for (const error of result.errors) {
      for (const secret of secrets) {
        for (const part of [secret, secret.slice(0, 6), secret.slice(-6)]) {
          assert.ok(!error.includes(part), `${error}\nleaks ${part}`);
        }
      }
    }
  }
});

// ------------------------------------------------------------ purity

Deno.test("parseConfig touches nothing outside unless given readFile/getEnv", () => {
  const env = parseConfig(yamlOf({}, { secret: null, secret_env: "HOME" }), {
    file: FILE,
  });
  assert.deepEqual(env.ok ? [] : env.errors, [
    `${P0}.secret_env: expected the environment variable HOME to be set, got it unset`,
  ]);
  const file = parseConfig(
    yamlOf({}, { secret: null, secret_file: "/etc/hostname" }),
    { file: FILE },
  );
  assert.deepEqual(file.ok ? [] : file.errors, [
    `${P0}.secret_file: expected a readable file, got "/etc/hostname" (no readFile function was given to parseConfig)`,
  ]);
});

Deno.test("a throwing getEnv is reported, not thrown", () => {
  const result = parseConfig(
    yamlOf({}, { secret: null, secret_env: "PROXY_SECRET" }),
    {
      file: FILE,
      getEnv: () => {
        throw new Deno.errors.NotCapable("Requires env access");
      },
    },
  );
  assert.deepEqual(result.ok ? [] : result.errors, [
    `${P0}.secret_env: expected a readable environment variable PROXY_SECRET, got not allowed by Deno's permissions (--allow-read / --allow-env; a binary built with \`deno task compile --config FILE\` may read only the files and variables that FILE uses)`,
  ]);
});

// ------------------------------------------------------------ loadConfig

Deno.test("loadConfig reads the file and its secret_file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  try {
    const file = `${dir}/client-proxy.yaml`;
    Deno.writeTextFileSync(`${dir}/secret`, "on-disk\n");
    Deno.writeTextFileSync(
      file,
      yamlOf({}, { secret: null, secret_file: "secret" }),
    );
    const result = loadConfig(file);
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.config.file, file);
    assert.equal(result.config.proxies[0].secret, "on-disk");
    assert.deepEqual(result.config.readPaths, [file, `${dir}/secret`]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig reports a missing or unreadable file, never throws", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  try {
    assert.deepEqual(loadConfig(`${dir}/client-proxy.yaml`), {
      ok: false,
      errors: [`${dir}/client-proxy.yaml: cannot read: No such file`],
    });
    const result = loadConfig(dir);
    assert.ok(!result.ok);
    assert.equal(result.errors.length, 1);
    assert.match(result.errors[0], new RegExp(`^${dir}: cannot read: `));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig reads a secret_credential from $CREDENTIALS_DIRECTORY", () => {
  const dir = Deno.makeTempDirSync({ prefix: "client-proxy-config-" });
  const before = Deno.env.get("CREDENTIALS_DIRECTORY");
  try {
    const file = `${dir}/client-proxy.yaml`;
    Deno.mkdirSync(`${dir}/credentials`);
    Deno.writeTextFileSync(`${dir}/credentials/xmpp`, "credential\n");
    Deno.writeTextFileSync(file, yamlOf({}, { secret: null, secret_credential: "xmpp" }));
    Deno.env.set("CREDENTIALS_DIRECTORY", `${dir}/credentials`);
    const result = loadConfig(file);
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    assert.equal(result.config.proxies[0].secret, "credential");
    assert.deepEqual(result.config.readPaths, [file, `${dir}/credentials/xmpp`]);
  } finally {
    if (before === undefined) Deno.env.delete("CREDENTIALS_DIRECTORY");
    else Deno.env.set("CREDENTIALS_DIRECTORY", before);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("keepalive, standby, target requests, messages, presence and state_dir", () => {
  const config = accept(
    yamlOf({ state_dir: "state" }, {
      keepalive: "0",
      keepalive_timeout: "2s",
      standby_retry: "500ms",
      allow_target_requests: "true",
      messages: "forward",
      presence: "true",
    }),
  );
  const [proxy] = config.proxies;
  assert.equal(proxy.keepaliveMs, 0);
  assert.equal(proxy.keepaliveTimeoutMs, 2_000);
  assert.equal(proxy.standbyRetryMs, 500);
  assert.equal(proxy.allowTargetRequests, true);
  assert.equal(proxy.messages, "forward");
  assert.equal(proxy.presence, true);
  assert.equal(config.stateDir, "state", "relative to the config file's directory (here: .)");
});

Deno.test("presence without state_dir, and a bad messages mode, are reported", () => {
  const errors = reject(yamlOf({}, { presence: "true", messages: "echo" }));
  assert.ok(
    errors.some((e) => e.includes("proxies[0].presence: needs state_dir")),
    errors.join("\n"),
  );
  assert.ok(errors.some((e) => e.includes("proxies[0].messages:")), errors.join("\n"));
});
