/**
 * docker-jitsi-meet's files (deploy/docker/, docs/jitsi.md), which no Docker
 * engine runs here: the compose override parses and holds what the page relies
 * on; its service runs the single file on the Deno image under exactly the
 * flags `deno task compile --print-flags` gives for its config; the config
 * passes the check; the Prosody plugin makes the component an external one.
 * (tests/integration/jitsi_test.ts runs the Prosody side and the config.)
 */
import assert from "node:assert/strict";
import { scopedFlags } from "../../deploy/compile.ts";
import { readStartFlags } from "../../deploy/start_flags.ts";
import { parseConfig } from "../../src/config/parse.ts";
import { DOCKER_DIR, interpolate, readComposeOverride } from "../support/compose_override.ts";

/** Where the service mounts ./client-proxy (the config, and the single file beside it). */
const MOUNT = "/client-proxy";
const CONFIG = `${MOUNT}/client-proxy.yaml`;
const BUNDLE = `${MOUNT}/client-proxy.js`;
const SECRET_VARIABLE = "JICOFO_COMPONENT_SECRET";
/** The names the config takes from .env, as docker-jitsi-meet's services read them. */
const NAMES = ["XMPP_DOMAIN", "XMPP_AUTH_DOMAIN", "XMPP_SERVER"];

/** A .env with docker-jitsi-meet's defaults, and one that sets the three names. */
const ENVS: ReadonlyArray<readonly [string, Record<string, string>]> = [
  ["defaults", {}],
  ["a .env of its own", {
    XMPP_DOMAIN: "meet.example.org",
    XMPP_AUTH_DOMAIN: "auth.meet.example.org",
    XMPP_SERVER: "prosody.internal",
  }],
];

async function configText(): Promise<string> {
  return await Deno.readTextFile(new URL("client-proxy/client-proxy.yaml", DOCKER_DIR));
}

Deno.test("docker: Prosody's GLOBAL_CONFIG opens the component listener with the secret from .env", async () => {
  const { globalConfig } = await readComposeOverride();
  // The image's template splits it at each two-character `\n`.
  assert.deepEqual(globalConfig.split("\\n"), [
    "component_ports = { 5347 }",
    'component_interfaces = { "*" }',
    `component_secret = ENV_${SECRET_VARIABLE}`,
  ]);
  // Compose would interpolate a `$`.
  assert.doesNotMatch(globalConfig, /\$/);
});

Deno.test("docker: the client-proxy service runs the single file under the config's scoped flags", async () => {
  for (const [name, env] of ENVS) {
    const service = (await readComposeOverride(env)).clientProxy;
    assert.match(service.image, /^denoland\/deno:\d+\.\d+\.\d+$/);
    assert.equal(service.readOnly, true);
    assert.equal(service.user, "deno");
    assert.deepEqual(service.volumes, [`./client-proxy:${MOUNT}:ro,z`]);
    assert.deepEqual(service.environment, [SECRET_VARIABLE, ...NAMES]);
    assert.deepEqual(service.dependsOn, ["prosody"]);
    assert.ok("meet.jitsi" in service.networks, "on docker-jitsi-meet's network");
    const { command } = service;
    assert.equal(command[0], "run");
    assert.deepEqual(command.slice(-4), [BUNDLE, "--expand-env", "--config", CONFIG]);
    // What `deno task compile --print-flags --expand-env --config CONFIG --bundle BUNDLE`
    // prints there, with the same .env.
    const scoped = scopedFlags(readStartFlags(), CONFIG, {
      text: await configText(),
      alsoRead: [BUNDLE],
      expandEnv: (variable) => env[variable],
    });
    assert.ok(scoped.ok, JSON.stringify(scoped));
    assert.deepEqual(command.slice(1, -4), [...scoped.flags, "--unstable-worker-options"], name);
  }
});

Deno.test("docker: the config passes the check with .env's names, for Jicofo's account", async () => {
  const expected: Record<string, string[]> = {
    defaults: ["focus.meet.jitsi", "focus@auth.meet.jitsi", "xmpp://xmpp.meet.jitsi:5347"],
    "a .env of its own": [
      "focus.meet.example.org",
      "focus@auth.meet.example.org",
      "xmpp://prosody.internal:5347",
    ],
  };
  for (const [name, env] of ENVS) {
    const result = parseConfig(await configText(), {
      file: CONFIG,
      readFile: (path) => {
        throw new Deno.errors.NotFound(path);
      },
      getEnv: (variable) => variable === SECRET_VARIABLE ? "from-the-environment" : undefined,
      expandEnv: (variable) => env[variable],
    });
    assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    const [proxy, ...others] = result.config.proxies;
    assert.equal(others.length, 0);
    assert.deepEqual([proxy.domain, proxy.targetAddress, proxy.server.url], expected[name], name);
    assert.equal(proxy.secret, "from-the-environment");
    assert.deepEqual(result.config.http, { host: "127.0.0.1", port: 9347 });
  }
});

Deno.test("docker: Compose's interpolation, as the tests read the override", () => {
  const env = { SET: "v", EMPTY: "" };
  assert.equal(interpolate("${SET:-d} ${EMPTY:-d} ${UNSET:-d}", env), "v d d");
  assert.equal(interpolate("${SET-d} ${EMPTY-d} ${UNSET-d}", env), "v  d");
  assert.equal(interpolate("$SET ${UNSET}. $$SET", env), "v . $SET");
});

Deno.test("docker: the Prosody plugin makes the focus component an external one", async () => {
  const lua = await Deno.readTextFile(new URL("mod_client_proxy.lua", DOCKER_DIR));
  const code = lua.split("\n").filter((line) => !line.trimStart().startsWith("--"));
  assert.ok(code.includes('module:depends("component");'), lua);
});
