/** src/config/parse.ts: a config text to the whole frozen value, defaults and normalising included. */
import assert from "node:assert/strict";
import type { Config } from "../../src/config/types.ts";
import { accept, FILE, yamlOf } from "../support/config.ts";

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
      maxPendingPerDomain: 25_000,
      keepaliveMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      standbyRetryMs: 2_000,
      maxStanzaSize: 1_048_576,
      maxSendBuffer: 8_388_608,
      allowTargetRequests: false,
      messages: "reject",
      presence: false,
      maxSubscribers: 10_000,
      maxSubscribersPerDomain: 1_000,
    }],
    readPaths: [FILE],
    envNames: [],
  });
});

Deno.test("optional keys take their documented defaults", () => {
  const config = accept(yamlOf());
  // Unset in the file: the flag, the environment or the default decide (src/config/env.ts).
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

Deno.test("per-domain limits are read; by default a domain gets a quarter of max_pending", () => {
  const [set] = accept(yamlOf({}, {
    max_pending_per_domain: "7",
    rate_limit_per_domain: "{ rate: 100/m }",
    max_subscribers_per_domain: "3",
  })).proxies;
  assert.equal(set.maxPendingPerDomain, 7);
  assert.deepEqual(set.rateLimitPerDomain, { perSecond: 100 / 60, burst: 100 });
  assert.equal(set.maxSubscribersPerDomain, 3);
  const [byDefault] = accept(yamlOf({}, { max_pending: "1000" })).proxies;
  assert.equal(byDefault.maxPendingPerDomain, 250);
  assert.ok(!("rateLimitPerDomain" in byDefault));
  assert.equal(byDefault.maxSubscribersPerDomain, 1_000);
  // Never 0: a domain can always have one request pending.
  assert.equal(accept(yamlOf({}, { max_pending: "2" })).proxies[0].maxPendingPerDomain, 1);
});

Deno.test("affinity: shapes are read into their parts, with their idle time and bound", () => {
  const config = accept(yamlOf({}, {
    affinity: '["{http://jitsi.org/protocol/focus}conference@room", "{urn:x}q@id"]',
    affinity_idle: "10m",
    max_affinity_keys: "500",
  }));
  const [proxy] = config.proxies;
  assert.deepEqual(proxy.affinity, [
    { namespace: "http://jitsi.org/protocol/focus", element: "conference", attribute: "room" },
    { namespace: "urn:x", element: "q", attribute: "id" },
  ]);
  assert.equal(proxy.affinityIdleMs, 600_000);
  assert.equal(proxy.maxAffinityKeys, 500);
  assert.ok(Object.isFrozen(proxy.affinity) && Object.isFrozen(proxy.affinity![0]));
  const defaults = accept(yamlOf({}, { affinity: '["{urn:x}q@id"]' })).proxies[0];
  assert.equal(defaults.affinityIdleMs, 3_600_000);
  assert.equal(defaults.maxAffinityKeys, 100_000);
});

Deno.test("affinity off (absent or empty) leaves its tunings out", () => {
  for (const affinity of [null, "[]"]) {
    const [proxy] = accept(yamlOf({}, { affinity, affinity_idle: "5m" })).proxies;
    for (const key of ["affinity", "affinityIdleMs", "maxAffinityKeys"]) {
      assert.ok(!(key in proxy), `${key} with affinity: ${affinity}`);
    }
  }
});

Deno.test("an empty deny list is left out, like an absent one", () => {
  const [proxy] = accept(yamlOf({}, { deny: "[]" })).proxies;
  assert.ok(!("deny" in proxy));
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

Deno.test("max_stanza_size: 1 MB by default; a size with a unit or a number of bytes", () => {
  assert.equal(accept(yamlOf()).proxies[0].maxStanzaSize, 1024 * 1024);
  const sizes: [string, number][] = [
    ["512KB", 512 * 1024],
    ["64KiB", 64 * 1024],
    ["1MB", 1024 * 1024],
    ["1.5 MiB", 1.5 * 1024 * 1024],
    ["2m", 2 * 1024 * 1024],
    ["1GB", 1024 ** 3],
    ["65536", 65536],
    ['"65536"', 65536],
    ["1024b", 1024],
  ];
  for (const [text, bytes] of sizes) {
    assert.equal(
      accept(yamlOf({}, { max_stanza_size: text })).proxies[0].maxStanzaSize,
      bytes,
      text,
    );
  }
});

Deno.test("log_level and log_format are read in any case, and `warn` as `warning`", () => {
  for (
    const [level, format, expected] of [
      ["INFO", "JSON", ["info", "json"]],
      ["Warn", "Text", ["warning", "text"]],
      ["DEBUG", "text", ["debug", "text"]],
    ] as const
  ) {
    const config = accept(yamlOf({ log_level: level, log_format: format }, {}));
    assert.deepEqual([config.logLevel, config.logFormat], expected);
  }
});

Deno.test("target_address is read as the server stamps it: nodeprep's localpart, lowercase domain", () => {
  const targetOf = (written: string) =>
    accept(yamlOf({}, { target_address: written })).proxies[0].targetAddress;
  assert.equal(targetOf("Straße@Example.Org"), "strasse@example.org");
  assert.equal(targetOf("ＳＶＣ@example.org"), "svc@example.org");
  assert.equal(targetOf("svc@Bücher.Example"), "svc@bücher.example");
});
