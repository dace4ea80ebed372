/** src/core/xml.ts: detached copies, and a serialised stanza parsed again. */
import assert from "node:assert/strict";
import { copyString, parseXml, serialize, xml } from "../../src/core/xml.ts";

const REQUEST = `<iq type="get" id="a-rather-long-id-0001" from="alice@example.org/phone-1234" ` +
  `to="proxy.example.org"><query xmlns="http://jabber.org/protocol/disco#info" node="x&amp;y">` +
  `text &lt;here&gt;</query></iq>`;

Deno.test("copyString: the same text, short or long", () => {
  const chunk = `${"x".repeat(1000)}alice@example.org/phone-1234${"y".repeat(1000)}`;
  const cut = chunk.slice(1000, 1028);
  assert.equal(copyString(cut), "alice@example.org/phone-1234");
  assert.equal(copyString("short"), "short");
  assert.equal(copyString(""), "");
});

Deno.test("serialize, then parseXml: the same stanza byte for byte (how a failover re-sends)", () => {
  const original = parseXml(REQUEST);
  const again = parseXml(serialize(original));
  assert.equal(serialize(again), serialize(original));
  assert.equal(again.attrs.id, "a-rather-long-id-0001");
  assert.equal(again.getChild("query")?.getText(), "text <here>");
  assert.equal(again.getChild("query")?.attrs.node, "x&y");
});

Deno.test("serialize: a tree nested 20,000 deep is written without running out of stack", () => {
  const root = xml("iq", { type: "get", id: "d" });
  let el = root;
  for (let i = 0; i < 20_000; i++) {
    const child = xml("a", i % 2 ? { n: `${i}` } : {});
    el.children.push(child);
    el = child;
  }
  el.children.push("x < y");
  const text = serialize(root);
  assert.ok(text.startsWith(`<iq type="get" id="d"><a><a n="1"><a><a n="3">`), text.slice(0, 80));
  assert.ok(text.endsWith(`<a n="19999">x &lt; y${"</a>".repeat(20_000)}</iq>`));
});
