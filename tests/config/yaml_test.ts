/** src/config/yaml.ts: YAML syntax problems at their line:column, with no source text quoted. */
import assert from "node:assert/strict";
import { readYaml } from "../../src/config/yaml.ts";
import { FILE, testRejected, yamlOf } from "../support/config.ts";

testRejected([
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
  ["http unquoted IPv6 is a YAML error", yamlOf({ http: "[::1]:9347" }), [
    `${FILE}:2:12: Unexpected scalar at node end`,
  ]],
]);

Deno.test("an unclosed quote is placed where it opens, not at the end of the file", () => {
  for (const quote of ['"', "'"]) {
    const text = `server: xmpp://127.0.0.1:5347\nproxies:\n  - domain: a.example\n` +
      `    secret: ${quote}s3cret-marker\n    target_address: s@example.org\n`;
    const result = readYaml(text, "f.yaml");
    assert.ok(!result.ok);
    assert.deepEqual(result.errors, [
      `f.yaml:4:13: Missing closing ${quote}quote: this quote is never closed`,
    ]);
  }
});
