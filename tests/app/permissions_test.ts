/** The permission scope of a config (src/app/permissions.ts), as deno flags. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import { permissionFlags, permissionScope } from "../../src/app/permissions.ts";

const PROGRAM_ENV =
  "CLIENT_PROXY_CONFIG,CLIENT_PROXY_LOG_LEVEL,CLIENT_PROXY_LOG_FORMAT,JOURNAL_STREAM," +
  "LOG_TOKENS,LOG_STREAM";

function config(text: string, file = "/etc/client-proxy/client-proxy.yaml") {
  const parsed = parseConfig(text, {
    file,
    readFile: () => "s3cret",
    getEnv: (name) =>
      name === "CREDENTIALS_DIRECTORY" ? "/run/credentials/client-proxy.service" : "s3cret",
  });
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.errors.join("\n"));
  return parsed.config;
}

const PROXY = "domain: a.example.org\n    target_address: svc@example.org";

Deno.test("the smallest config: its server, its directory, the program's variables", () => {
  const scope = permissionScope(config(`server: 127.0.0.1:5347
proxies:
  - ${PROXY}
    secret: s3cret
`));
  assert.deepEqual(permissionFlags(scope), [
    "--allow-net=127.0.0.1:5347",
    "--allow-read=/etc/client-proxy",
    `--allow-env=${PROGRAM_ENV}`,
  ]);
});

Deno.test("every server and standby peer, the HTTP listener, secrets elsewhere, credentials and state_dir", () => {
  const scope = permissionScope(
    config(`server: xmpp.example.org
http: "[::1]:9347"
state_dir: /var/lib/client-proxy
proxies:
  - ${PROXY}
    secret_credential: secret
  - domain: b.example.org
    target_address: svc@example.org
    server: 10.0.0.2:5348
    standby_peer: "http://10.0.0.9:9347"
    secret_file: /srv/secrets/b
  - domain: c.example.org
    target_address: svc@example.org
    secret_env: C_SECRET
  - domain: d.example.org
    target_address: svc@example.org
    secret_file: d.secret
`),
    { credentialsRoot: "/run/credentials" },
  );
  assert.deepEqual(scope, {
    net: ["xmpp.example.org:5347", "10.0.0.2:5348", "10.0.0.9:9347", "[::1]:9347"],
    // d.secret is next to the config: its directory covers it; so does the
    // credentials root cover the credential file.
    read: ["/etc/client-proxy", "/run/credentials", "/srv/secrets/b", "/var/lib/client-proxy"],
    write: ["/var/lib/client-proxy"],
    env: [
      ...PROGRAM_ENV.split(","),
      "CREDENTIALS_DIRECTORY",
      "C_SECRET",
    ],
  });
});

Deno.test("nothing to write is no --allow-write flag at all (an empty list would grant everything)", () => {
  const flags = permissionFlags({ net: ["h:1"], read: [], write: [], env: ["A"] });
  assert.deepEqual(flags, ["--allow-net=h:1", "--allow-env=A"]);
});
