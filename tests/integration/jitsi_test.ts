/**
 * docs/jitsi.md as an operator follows it, on a private Prosody laid out as
 * Jitsi Meet's deployments lay it out (tests/support/jitsi_layout.ts):
 *
 * - Debian/Ubuntu: the page's "before" lines are in the package's file; its
 *   marked blocks are run as written, with three changes only: `sudo ` left
 *   out, `/etc/` moved under the test's root, and free ports for 5347 (the
 *   component listener) and 9347 (the http listener). The package's own
 *   test (its grep) is run on the file before and after, and on a plain
 *   component left in it, which the package would turn back into the module.
 * - docker-jitsi-meet: the Prosody side of deploy/docker/client-proxy.yml
 *   (GLOBAL_CONFIG, with the container's interface "*" as 127.0.0.1) and
 *   deploy/docker/mod_client_proxy.lua in the custom plugins, found before
 *   Jitsi's own module (a stand-in that fails if loaded); the proxy on
 *   deploy/docker/client-proxy/client-proxy.yaml, its server at the test's
 *   port.
 *
 * In both, a browser's conference request (an anonymous user of the host)
 * goes through the proxy to a client logged in as Jicofo's account, and the
 * answer comes back.
 */
import assert from "node:assert/strict";
import { xml, type XmlElement } from "../../src/core/xml.ts";
import { VERSION } from "../../src/app/version.ts";
import { bounded } from "../support/bounded.ts";
import { readComposeOverride } from "../support/compose_override.ts";
import { connectClient, resultFor, type TestClient } from "../support/client.ts";
import { blockNamed, type DocBlock, markedBlocks } from "../support/doc_blocks.ts";
import {
  DEBIAN_HOST,
  debianPaths,
  DOCKER_DOMAIN,
  FOCUS_USER,
  grep,
  packageHostFile,
  postinstRewrite,
  postinstWouldRewrite,
  writeDebianLayout,
  writeDockerLayout,
} from "../support/jitsi_layout.ts";
import { type ProxyProcess, startProxyOnFile } from "../support/proxy.ts";
import { freePort, startProsody } from "../support/prosody.ts";
import type { LayoutSetup, XmppServer } from "../support/server.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const PAGE = "docs/jitsi.md";
const BLOCKS = markedBlocks(await Deno.readTextFile(`${REPO}${PAGE}`));
const NS_FOCUS = "http://jitsi.org/protocol/focus";
const PASSWORD = "jicofo-password";

function block(name: string): DocBlock {
  return blockNamed(BLOCKS, name, PAGE);
}

/** Where the page's files and ports are, in this test. */
interface Place {
  readonly root: string;
  readonly componentPort: number;
  readonly httpPort: number;
}

/** The page's text with this test's ports and root, and without `sudo`. */
function adapt(text: string, place: Place): string {
  return text
    .replaceAll("5347", String(place.componentPort))
    .replaceAll("9347", String(place.httpPort))
    .replaceAll("sudo ", "")
    .replaceAll("/etc/", `${place.root}/etc/`);
}

/** Runs a shell command line as the page gives it (adapted); its output and exit code. */
async function shell(text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("sh", {
    args: ["-e", "-c", text],
    stdin: "null",
    signal: AbortSignal.timeout(15_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function shellOk(text: string): Promise<string> {
  const result = await shell(text);
  assert.equal(result.code, 0, `${text}\n${result.stderr}`);
  return result.stdout;
}

/** `client-proxy ARGS` as the page writes it: run as `deno task start ARGS`. */
async function clientProxy(commandLine: string): Promise<{ code: number; stdout: string }> {
  const args = commandLine.trim().replace(/^client-proxy\s+/, "").split(/\s+/);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "start", ...args],
    cwd: REPO,
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  return { code: output.code, stdout: `${stdout}${new TextDecoder().decode(output.stderr)}` };
}

/** The file mode's permission bits and group. */
async function modeOf(path: string): Promise<{ mode: number; gid: number | null }> {
  const info = await Deno.stat(path);
  return { mode: (info.mode ?? 0) & 0o777, gid: info.gid };
}

async function groupId(name: string): Promise<number> {
  const line = (await Deno.readTextFile("/etc/group")).split("\n")
    .find((entry) => entry.startsWith(`${name}:`));
  assert.ok(line, `no group ${name} (the prosody package makes it)`);
  return Number(line.split(":")[2]);
}

/**
 * Applies "The switch" of the Debian part to the package's layout under
 * `place.root`, checking each step as the page says; before Prosody starts,
 * since stock Prosody has no mod_client_proxy to start with.
 */
async function applyDebianSwitch(place: Place): Promise<void> {
  const paths = debianPaths(place.root);
  const packaged = await Deno.readTextFile(paths.hostFile);
  const before = block("debian-before").text;
  assert.ok(packaged.includes(before), `the "before" lines are not the package's:\n${before}`);
  // The package's test matches the file as written, and finds the module there.
  assert.ok(await grep(`Component "focus.${DEBIAN_HOST}"`, paths.hostFile));
  assert.equal(await postinstWouldRewrite(paths.hostFile), false);

  // A plain component left in that file is put back into the module.
  const inPlace = `${place.root}/in-place.cfg.lua`;
  const plain = `Component "focus.${DEBIAN_HOST}"\n    component_secret = "s"\n`;
  await Deno.writeTextFile(inPlace, packaged.replace(before, plain));
  assert.equal(await postinstWouldRewrite(inPlace), true);
  await postinstRewrite(inPlace);
  assert.match(
    await Deno.readTextFile(inPlace),
    new RegExp(`Component "focus\\.${DEBIAN_HOST.replaceAll(".", "\\.")}" "client_proxy"\\n`),
  );
  await Deno.remove(inPlace);

  // 2. The secret.
  await shellOk(adapt(block("debian-secret").text, place));
  const secretFile = `${place.root}/etc/client-proxy/secret`;
  assert.match(await Deno.readTextFile(secretFile), /^[0-9a-f]{64}\n$/);
  assert.equal((await modeOf(secretFile)).mode, 0o600);

  // 3. The config, and its check.
  const config = `${place.root}/etc/client-proxy/client-proxy.yaml`;
  await Deno.writeTextFile(config, adapt(block("debian-proxy-config").text, place));
  const check = await clientProxy(adapt(block("debian-check").text, place));
  assert.equal(check.code, 0, check.stdout);
  assert.equal(check.stdout.trim(), `${config}: ok (1 proxy)`);

  // 4. The component out of the package's file; the package's test finds nothing.
  await shellOk(adapt(block("debian-remove").text, place));
  assert.equal(await Deno.readTextFile(paths.hostFile), packaged.replace(before, ""));
  assert.equal(await Deno.readTextFile(`${paths.hostFile}.orig`), packaged);
  const grepped = await shell(adapt(block("debian-postinst-grep").text, place));
  assert.deepEqual([grepped.code, grepped.stdout], [1, ""]);
  assert.equal(await postinstWouldRewrite(paths.hostFile), false);

  // 5. The external component in a file of its own, readable by Prosody's group only.
  await shellOk(adapt(block("debian-component").text, place));
  const component = `${paths.confD}/focus-client-proxy.cfg.lua`;
  const secret = (await Deno.readTextFile(secretFile)).trim();
  assert.ok((await Deno.readTextFile(component)).includes(`component_secret = "${secret}"`));
  assert.deepEqual(await modeOf(component), { mode: 0o640, gid: await groupId("prosody") });
}

/** Jicofo's account logged in, answering each conference request as Jicofo does. */
async function jicofo(server: XmppServer, host: string, approves = true): Promise<TestClient> {
  const client = await connectClient({
    service: server.c2sUrl,
    domain: `auth.${host}`,
    username: FOCUS_USER,
    password: PASSWORD,
    resource: "focus",
    roster: true,
    autoApprove: approves,
  });
  client.onRequest((iq) => {
    const asked = iq.getChild("conference", NS_FOCUS);
    if (asked === undefined) return undefined;
    return resultFor(
      iq,
      xml(
        "conference",
        {
          xmlns: NS_FOCUS,
          ready: "true",
          focusjid: `${FOCUS_USER}@auth.${host}/focus`,
          room: asked.attrs.room,
        },
        xml("property", { name: "authentication", value: "false" }),
      ),
    );
  });
  return client;
}

/**
 * A browser's conference request, from an anonymous user of `host`, through
 * the proxy to `focus` and back; checked attribute by attribute.
 */
async function conferenceRoundTrip(
  server: XmppServer,
  host: string,
  focus: TestClient,
  id: string,
): Promise<void> {
  await using browser = await connectClient({
    service: server.c2sUrl,
    domain: host, // SASL ANONYMOUS: the host offers nothing else
    username: "anonymous",
    password: "unused",
  });
  assert.match(browser.jid, new RegExp(`@${host.replaceAll(".", "\\.")}/`));
  const room = `room-${id}@conference.${host}`;
  const reply = browser.request(
    xml(
      "iq",
      { type: "set", id, to: `focus.${host}` },
      xml(
        "conference",
        { xmlns: NS_FOCUS, room, "machine-uid": "m-1" },
        xml("property", { name: "startAudioMuted", value: "9" }),
      ),
    ),
    { timeoutMs: 10_000 },
  );
  // What Jicofo gets: the request from the proxy's address for the browser.
  const got = await focus.waitFor((el) => el.name === "iq" && el.attrs.id === id, {
    includePast: true,
    timeoutMs: 10_000,
  });
  assert.equal(got.attrs.type, "set");
  assert.equal(got.attrs.to, `${FOCUS_USER}@auth.${host}/focus`);
  assert.equal(got.attrs.from, `focus.${host}/${browser.jid}`);
  const asked = got.getChild("conference", NS_FOCUS);
  assert.equal(asked?.attrs.room, room);
  assert.equal(asked?.attrs["machine-uid"], "m-1");
  assert.equal(asked?.getChild("property")?.attrs.value, "9");
  // What the browser gets back: Jicofo's answer, from the component's domain.
  const answer: XmlElement = await reply;
  assert.equal(answer.attrs.type, "result", String(answer));
  assert.equal(answer.attrs.id, id);
  assert.equal(answer.attrs.from, `focus.${host}`);
  assert.equal(answer.attrs.to, browser.jid);
  const conference = answer.getChild("conference", NS_FOCUS);
  assert.equal(conference?.attrs.ready, "true");
  assert.equal(conference?.attrs.room, room);
  assert.equal(conference?.attrs.focusjid, `${FOCUS_USER}@auth.${host}/focus`);
  assert.equal(conference?.getChild("property")?.attrs.name, "authentication");
}

/** The proxy's log lines that the page's `grep -E '…'` selects, as events. */
function eventsTheLogGrepShows(proxy: ProxyProcess): string[] {
  const pattern = block("debian-logs").text.match(/grep -E '([^']+)'/)?.[1];
  assert.ok(pattern, "no grep -E '…' in the debian-logs block");
  return proxy.log().split("\n").filter((line) => new RegExp(pattern).test(line))
    .map((line) => JSON.parse(line).event);
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    // xmpp.js keeps a few timers and sockets past stop(); every wait here is bounded.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => bounded(120_000, fn),
  });
}

test("Debian jitsi-meet: the page's switch, a conference request through it, the rollback", async () => {
  const httpPort = freePort();
  let place: Place | undefined;
  await using server = await startProsody({
    layout: async (setup: LayoutSetup) => {
      place = { root: setup.dir, componentPort: setup.componentPort, httpPort };
      const main = await writeDebianLayout(setup.dir, setup.globals);
      await applyDebianSwitch(place);
      return main;
    },
    users: [{ username: FOCUS_USER, password: PASSWORD, host: `auth.${DEBIAN_HOST}` }],
  });
  assert.ok(place);
  const here = place;
  const configText = await Deno.readTextFile(`${here.root}/etc/client-proxy/client-proxy.yaml`);
  const startProxy = () =>
    startProxyOnFile({
      configText,
      args: ["--credentials-dir", `${here.root}/etc/client-proxy`],
      // As the unit runs it.
      env: { CLIENT_PROXY_LOG_FORMAT: "json" },
    });

  // 6. Prosody is up with the new files (Jicofo logged in), then the proxy starts.
  const focus = await jicofo(server, DEBIAN_HOST);
  let proxy = await startProxy();
  try {
    await proxy.waitForLog(/"event":"target\.resource_up".*"resource":"focus"/);
    // 7. The log lines, as the page's grep shows them.
    assert.deepEqual(eventsTheLogGrepShows(proxy), [
      "stream.online",
      "target.subscription_approved",
      "target.resource_up",
    ]);
    await conferenceRoundTrip(server, DEBIAN_HOST, focus, "conf-1");

    // The live check beside the serving proxy prints the page's lines.
    const live = await clientProxy(adapt(block("debian-live-check").text, here));
    const expected = adapt(block("debian-live-check-output").text, here)
      .replace(/\(version [^)]+\)/, `(version ${VERSION})`);
    assert.equal(live.code, 0, live.stdout);
    assert.equal(live.stdout.trim(), expected.trim());

    // The approval stays in Jicofo's roster: a restarted proxy is approved by the
    // server and finds a Jicofo that approves nothing, and was asked nothing.
    await focus.stop();
    await proxy.stop();
    proxy = await startProxy();
    await proxy.waitForLog(/"event":"target\.subscription_approved"/);
    const again = await jicofo(server, DEBIAN_HOST, false);
    try {
      await proxy.waitForLog(/"event":"target\.resource_up".*"resource":"focus"/);
      await conferenceRoundTrip(server, DEBIAN_HOST, again, "conf-2");
      const asked = again.received.filter((el) =>
        el.name === "presence" && el.attrs.type === "subscribe"
      );
      assert.deepEqual(asked.map(String), []);
    } finally {
      await again.stop();
    }
  } finally {
    await focus.stop();
    await proxy.kill();
  }

  // Rolling back: the file changes of the page's line (systemctl is not run here).
  const rollback = block("debian-rollback").text.trim().split(" && ")
    .filter((part) => !part.startsWith("sudo systemctl "));
  assert.equal(rollback.length, 2, "the rollback's parts besides systemctl changed");
  for (const part of rollback) await shellOk(adapt(part, here));
  const paths = debianPaths(here.root);
  await assert.rejects(
    Deno.stat(`${paths.confD}/focus-client-proxy.cfg.lua`),
    Deno.errors.NotFound,
  );
  // The package's file as it was, less the comment line, with the module's two lines at its end.
  const before = block("debian-before").text;
  const moduleLines = before.split("\n").slice(1).join("\n");
  assert.equal(
    await Deno.readTextFile(paths.hostFile),
    `${packageHostFile(DEBIAN_HOST).replace(before, "")}\n${moduleLines}`,
  );
  assert.equal(await postinstWouldRewrite(paths.hostFile), false);
});

test("docker-jitsi-meet: the override's Prosody side and config carry a conference request", async () => {
  const { globalConfig } = await readComposeOverride();
  const secret = "docker-component-secret";
  const httpPort = freePort();
  let componentPort = 0;
  await using server = await startProsody({
    layout: async (setup: LayoutSetup) => {
      componentPort = setup.componentPort;
      const custom = `${setup.dir}/prosody-plugins-custom`;
      const jitsi = `${setup.dir}/prosody-plugins`;
      await Deno.mkdir(custom);
      await Deno.mkdir(jitsi);
      await Deno.copyFile(
        `${REPO}deploy/docker/mod_client_proxy.lua`,
        `${custom}/mod_client_proxy.lua`,
      );
      await Deno.writeTextFile(
        `${jitsi}/mod_client_proxy.lua`,
        'error("Jitsi\'s own mod_client_proxy was loaded, not the custom one")\n',
      );
      return await writeDockerLayout(
        setup.dir,
        setup.globals,
        globalConfig.replaceAll("5347", String(setup.componentPort))
          .replace('component_interfaces = { "*" }', 'component_interfaces = { "127.0.0.1" }'),
        [custom, jitsi],
      );
    },
    env: { JICOFO_COMPONENT_SECRET: secret },
    users: [{ username: FOCUS_USER, password: PASSWORD, host: `auth.${DOCKER_DOMAIN}` }],
  });
  // Read as the service reads it (--expand-env), its server the test's, its names the defaults.
  const configText =
    (await Deno.readTextFile(`${REPO}deploy/docker/client-proxy/client-proxy.yaml`))
      .replace(":5347 ", `:${componentPort} `)
      .replace("127.0.0.1:9347", `127.0.0.1:${httpPort}`);
  const focus = await jicofo(server, DOCKER_DOMAIN);
  const proxy = await startProxyOnFile({
    configText,
    args: ["--expand-env"],
    env: { JICOFO_COMPONENT_SECRET: secret, XMPP_SERVER: "127.0.0.1" },
  });
  try {
    await proxy.waitForLog(/target\.resource_up .*resource=focus/);
    await conferenceRoundTrip(server, DOCKER_DOMAIN, focus, "conf-docker");
    // GLOBAL_CONFIG's line comes after the image's own, and wins (Prosody says so).
    assert.match(server.log(), /Duplicate option 'component_ports'/);
    assert.doesNotMatch(server.log(), /no component_secret/);
  } finally {
    await focus.stop();
    await proxy.kill();
  }
});
