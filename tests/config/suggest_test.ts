/** src/config/suggest.ts: what an unknown key probably meant, with the whole file's messages. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";

const FILE = "f.yaml";

function errors(text: string): string[] {
  const result = parseConfig(text, { file: FILE });
  assert.ok(!result.ok);
  return result.errors;
}

Deno.test("unknown keys: a typo, Prosody's names, a proxy's key at the top", () => {
  const text = [
    "sevrer: xmpp://127.0.0.1:5347", // 1
    "component_ports: 5347", // 2
    "component_secret: s3cret", // 3
    "target_address: service@example.org", // 4
    "proxies:", // 5
    "  - domain: proxy.example.org", // 6
    "    component_secret: s3cret", // 7
    "    target_adress: service@example.org", // 8
    "    rate_limit: { rate: 1/s, brust: 2 }", // 9
    "    wholly_unknown: 1", // 10
    "",
  ].join("\n");
  assert.deepEqual(errors(text), [
    `${FILE}:1:1: sevrer: unknown key: did you mean \`server\`?`,
    `${FILE}:2:1: component_ports: unknown key: Prosody's component_ports is \`server\` here`,
    `${FILE}:3:1: component_secret: unknown key: Prosody's component_secret is \`secret\`, in each entry of \`proxies\``,
    `${FILE}:4:1: target_address: unknown key: it belongs to each entry of \`proxies\``,
    // A missing key has no place of its own: at the top, none; in a proxy, its entry's.
    `${FILE}: server: expected a server address like xmpp://127.0.0.1:5347, 127.0.0.1:5347 or 127.0.0.1 (required because proxies[0] has no server of its own), got nothing (the key is missing)`,
    `${FILE}:6:5: proxies[0].target_address: expected a bare JID like service@example.org, got nothing (the key is missing)`,
    `${FILE}:6:5: proxies[0]: expected exactly one of secret, secret_env, secret_file or secret_credential, got none`,
    `${FILE}:7:5: proxies[0].component_secret: unknown key: Prosody's component_secret is \`secret\` here`,
    `${FILE}:8:5: proxies[0].target_adress: unknown key: did you mean \`target_address\`?`,
    `${FILE}:9:30: proxies[0].rate_limit.brust: unknown key: did you mean \`burst\`?`,
    `${FILE}:10:5: proxies[0].wholly_unknown: unknown key`,
  ]);
});
