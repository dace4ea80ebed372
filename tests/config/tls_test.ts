/**
 * The keys of a TLS link (src/config/tls.ts): `server: xmpps://…`,
 * `tls_ca` (read and checked with the config), `tls_server_name`, at the
 * top and per proxy; and `max_send_buffer`.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import { pemProblem } from "../../src/config/tls.ts";
import type { Config } from "../../src/config/types.ts";
import { permissionScope } from "../../src/app/permissions.ts";
import { FILE, SIZE, unplaced, yamlOf } from "../support/config.ts";

/** A self-signed certificate's PEM as openssl writes it (P-256, 100 years). */
const CERT = "-----BEGIN CERTIFICATE-----\n" +
  "MIIBiTCCAS+gAwIBAgIUGPJaJi0+dNYLoCQ1IUNE2M/VSrQwCgYIKoZIzj0EAwIw\n" +
  "GTEXMBUGA1UEAwwOY2EuZXhhbXBsZS5vcmcwIBcNMjYxMjA3MTc1ODQ3WhgPMjEy\n" +
  "NjExMTMxNzU4NDdaMBkxFzAVBgNVBAMMDmNhLmV4YW1wbGUub3JnMFkwEwYHKoZI\n" +
  "zj0CAQYIKoZIzj0DAQcDQgAEC0kvjl7/MbYj7lUS6YZNkbwtAjmgUOwzbVICVTFS\n" +
  "Ei5P9KLnqcZl+VKemV0gZobZhZsbT6ss8FO9z6TMC8QpbaNTMFEwHQYDVR0OBBYE\n" +
  "FJpVjejjMIyaz82IAQsyjYRyAco5MB8GA1UdIwQYMBaAFJpVjejjMIyaz82IAQsy\n" +
  "jYRyAco5MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgXgzMjXEK\n" +
  "vHoGALfsHtg7DMu0sT5ByAKFYdaZZxMOGboCIQDOgme5+OurrmkDzzngFea6oK0J\n" +
  "xrWB+WzltBid3GJaAA==\n" +
  "-----END CERTIFICATE-----\n";
/** The same with one line of its body left out: base64 still, no longer a certificate. */
const CUT = CERT.split("\n").filter((_, i) => i !== 3).join("\n");
const KEY =
  "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n";

const FILES: Record<string, string> = {
  "/etc/client-proxy/ca.pem": CERT,
  "/etc/client-proxy/bundle.pem": `# two CAs\n${CERT}${CERT}`,
  "/srv/pki/ca.pem": CERT,
  "/etc/client-proxy/with-key.pem": CERT + KEY,
  "/etc/client-proxy/text.pem": "not a certificate\n",
  "/etc/client-proxy/bad-base64.pem":
    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
  "/etc/client-proxy/garbage.pem":
    "-----BEGIN CERTIFICATE-----\nMIIBgarbage\n-----END CERTIFICATE-----\n",
  "/etc/client-proxy/cut.pem": CUT,
};

const CONFIG = "/etc/client-proxy/client-proxy.yaml";

function parse(text: string) {
  return parseConfig(text, {
    file: CONFIG,
    readFile: (path) => {
      if (Object.hasOwn(FILES, path)) return FILES[path];
      throw new Deno.errors.NotFound(`No such file or directory (os error 2): readfile '${path}'`);
    },
  });
}

function accept(text: string): Config {
  const result = parse(text);
  assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
  return result.config;
}

function reject(text: string): string[] {
  const result = parse(text);
  assert.ok(!result.ok, "expected errors, got a config");
  return result.errors.map(unplaced).map((line) => line.replace(CONFIG, FILE));
}

Deno.test("xmpps:// is a TLS server: its url keeps the scheme, the proxy gets TLS settings", () => {
  const [proxy] = accept(yamlOf({ server: "xmpps://XMPP.example.org:5223" })).proxies;
  assert.deepEqual(proxy.server, {
    host: "xmpp.example.org",
    port: 5223,
    url: "xmpps://xmpp.example.org:5223",
  });
  assert.deepEqual(proxy.tls, {});
  const [ipv6] = accept(yamlOf({ server: "xmpps://[::1]" })).proxies;
  assert.equal(ipv6.server.url, "xmpps://[::1]:5347");
});

Deno.test("a plaintext server has no TLS settings", () => {
  const [proxy] = accept(yamlOf({ server: "xmpp://127.0.0.1:5347" })).proxies;
  assert.ok(!("tls" in proxy));
});

Deno.test("tls_ca is read with the config, relative to it, and is a file the process reads", () => {
  const config = accept(yamlOf({ server: "xmpps://xmpp.example.org", tls_ca: "ca.pem" }));
  assert.deepEqual(config.proxies[0].tls, { caFile: "/etc/client-proxy/ca.pem", ca: CERT });
  assert.deepEqual(config.readPaths, [CONFIG, "/etc/client-proxy/ca.pem"]);
});

Deno.test("tls_ca and tls_server_name: a proxy's own, else the top-level ones", () => {
  const config = accept(yamlOf(
    { server: "xmpps://xmpp.example.org", tls_ca: "ca.pem", tls_server_name: "top.example.org" },
    {},
    { domain: "b.example.org", tls_ca: "/srv/pki/ca.pem", tls_server_name: "B.example.org" },
    { domain: "c.example.org", server: "xmpp://127.0.0.1:5347" },
  ));
  const [a, b, c] = config.proxies;
  assert.deepEqual(a.tls, {
    caFile: "/etc/client-proxy/ca.pem",
    ca: CERT,
    serverName: "top.example.org",
  });
  assert.deepEqual(b.tls, { caFile: "/srv/pki/ca.pem", ca: CERT, serverName: "b.example.org" });
  assert.ok(!("tls" in c), "its own plaintext server");
  // The CA outside the config's directory is given to the scoped binary;
  // so is the variable that picks Deno's trust store.
  const scope = permissionScope(config);
  assert.deepEqual(scope.read, ["/etc/client-proxy", "/srv/pki/ca.pem"]);
  assert.ok(scope.env.includes("DENO_TLS_CA_STORE"), scope.env.join(","));
  assert.ok(!permissionScope(accept(yamlOf())).env.includes("DENO_TLS_CA_STORE"));
});

Deno.test("a CA bundle with several certificates (and comments around them) is accepted", () => {
  const config = accept(yamlOf({ server: "xmpps://h", tls_ca: "bundle.pem" }));
  assert.equal(config.proxies[0].tls?.ca, FILES["/etc/client-proxy/bundle.pem"]);
});

const T = `${FILE}: tls_ca`;
const TLS_SERVER = { server: "xmpps://xmpp.example.org" };

Deno.test("tls_ca problems name the key and the file, and what it should hold", () => {
  const cases: [string, string[]][] = [
    ["missing.pem", [
      `${T}: expected a readable PEM file, got /etc/client-proxy/missing.pem: No such file`,
    ]],
    ["text.pem", [
      `${T}: expected a PEM file with a certificate (-----BEGIN CERTIFICATE-----), ` +
      "got /etc/client-proxy/text.pem",
    ]],
    ["with-key.pem", [
      `${T}: expected a PEM file with certificates only, not a private key, ` +
      "got /etc/client-proxy/with-key.pem",
    ]],
    ["bad-base64.pem", [
      `${T}: expected a PEM file whose certificates decode (bad base64 or DER), ` +
      "got /etc/client-proxy/bad-base64.pem",
    ]],
    ...["garbage.pem", "cut.pem"].map((file): [string, string[]] => [file, [
      `${T}: expected a PEM file whose certificates decode (bad base64 or DER), ` +
      `got /etc/client-proxy/${file}`,
    ]]),
    ['""', [`${T}: expected a file path, got an empty string`]],
    ["[ca.pem]", [`${T}: expected a file path, got a list`]],
  ];
  for (const [value, expected] of cases) {
    assert.deepEqual(reject(yamlOf({ ...TLS_SERVER, tls_ca: value })), expected, value);
  }
  // The same, in a proxy.
  assert.deepEqual(reject(yamlOf(TLS_SERVER, { tls_ca: "missing.pem" })), [
    `${FILE}: proxies[0].tls_ca: expected a readable PEM file, ` +
    "got /etc/client-proxy/missing.pem: No such file",
  ]);
});

Deno.test("tls_server_name must be a host name or an IP address", () => {
  for (const name of ["xmpp.example.org", "127.0.0.1", '"::1"', "LOCALHOST"]) {
    assert.ok(accept(yamlOf({ ...TLS_SERVER, tls_server_name: name })), name);
  }
  assert.deepEqual(reject(yamlOf({ ...TLS_SERVER, tls_server_name: '"not a name"' })), [
    `${FILE}: tls_server_name: expected the name in the server's certificate, like ` +
    'xmpp.example.org, got "not a name"',
  ]);
});

Deno.test("TLS keys with a plaintext server are refused: they would do nothing", () => {
  assert.deepEqual(
    reject(yamlOf({ tls_ca: "ca.pem" }, { tls_server_name: "xmpp.example.org" })),
    [
      `${FILE}: tls_ca: applies only to a TLS server (xmpps://), got the plaintext server ` +
      "xmpp://127.0.0.1:5347",
      `${FILE}: proxies[0].tls_server_name: applies only to a TLS server (xmpps://), got the ` +
      "plaintext server xmpp://127.0.0.1:5347",
    ],
  );
  // A proxy with its own TLS server may carry its own keys under a plaintext top level.
  assert.ok(accept(yamlOf({}, { server: "xmpps://h", tls_server_name: "h.example.org" })));
});

Deno.test("pemProblem: certificates only, at least one", () => {
  assert.equal(pemProblem(CERT), undefined);
  assert.match(pemProblem("") ?? "", /with a certificate/);
  assert.match(pemProblem(KEY) ?? "", /not a private key/);
});

Deno.test("max_send_buffer: 8 MB by default; a size like max_stanza_size", () => {
  assert.equal(accept(yamlOf()).proxies[0].maxSendBuffer, 8 * 1024 * 1024);
  assert.equal(
    accept(yamlOf({}, { max_send_buffer: "512KB" })).proxies[0].maxSendBuffer,
    512 * 1024,
  );
  assert.deepEqual(reject(yamlOf({}, { max_send_buffer: "lots" })), [
    `${FILE}: proxies[0].max_send_buffer: ${SIZE}, got "lots"`,
  ]);
});
