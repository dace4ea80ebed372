/**
 * src/core/xml_tree.ts and the elements of src/core/xml.ts: content read as
 * a tree, what it refuses, and the part of ltx's interface that the router
 * and xmpp.js read (names with prefixes, namespaces declared above).
 */
import assert from "node:assert/strict";
import {
  lazyElement,
  parseXml,
  readdress,
  serialize,
  xml,
  type XmlElement,
} from "../../src/core/xml.ts";
import { parseStanza } from "../../src/core/xml_scan.ts";

/** An element as a comparable value: name, attributes, children. */
function shape(node: XmlElement | string): unknown {
  if (typeof node === "string") return node;
  return [node.name, { ...node.attrs }, node.children.map(shape)];
}

Deno.test("xml tree: text, references, CDATA; comments and instructions skipped", () => {
  const el = parseXml(
    "<body a='x&#9;y\tz'>1 &lt; 2 &amp;&#x1F600;<![CDATA[<not a tag> &amp;]]> after<!-- note --><?pi x?>" +
      "<b/>end</body>",
  );
  assert.deepEqual(shape(el), [
    "body",
    // A raw tab reads as a space (XML 1.0 §3.3.3); a reference keeps its character.
    { a: "x\ty z" },
    ["1 < 2 &\u{1F600}", "<not a tag> &amp;", " after", ["b", {}, []], "end"],
  ]);
  assert.equal(el.getText(), "1 < 2 &\u{1F600}<not a tag> &amp; afterend");
});

Deno.test("xml tree: what is not well-formed throws, naming the fault", () => {
  const bad: Array<[string, RegExp]> = [
    ["<a><b></a></b>", /end tag that matches no start tag/],
    ["<a><b></b>", /<a> not closed/],
    ["<a>x &unknown; y</a>", /bad reference &/],
    ["<a>x & y</a>", /bad reference &/],
    ["<a>&#0;</a>", /bad reference/],
    ["<a><!DOCTYPE a></a>", /declaration/],
    ["<a><![CDATA[x</a>", /not closed/],
    ["<a b='1' c></a>", /without a value/],
    ["<a b=1></a>", /without quotes/],
    ["<a b='<'/>", /< in an attribute value/],
    ["<a", /tag not closed/],
    ["< a/>", /without a name/],
    ["just text", /no element/],
  ];
  for (const [text, why] of bad) assert.throws(() => parseXml(text), why, text);
});

Deno.test("xml tree: nested 100,000 deep, parsed without running out of stack", () => {
  const depth = 100_000;
  const el = parseXml("<a>".repeat(depth) + "x" + "</a>".repeat(depth));
  let at: XmlElement = el;
  for (let i = 1; i < depth; i++) at = at.children[0] as XmlElement;
  assert.deepEqual(at.children, ["x"]);
  assert.equal(serialize(el), "<a>".repeat(depth) + "x" + "</a>".repeat(depth));
});

Deno.test("xml tree: names with prefixes, namespaces declared on an ancestor", () => {
  const header = xml("stream:stream", {
    "xmlns:stream": "http://etherx.jabber.org/streams",
    xmlns: "jabber:component:accept",
  });
  const error = lazyElement("stream:error", {}, {
    inner: "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" +
      "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>taken</text>",
    parent: header,
  });
  // What xmpp.js asks of a stream error (@xmpp/connection, @xmpp/error).
  assert.ok(error.is("error", "http://etherx.jabber.org/streams"));
  assert.ok(!error.is("error", "jabber:component:accept"));
  const shaped = error as XmlElement & { getChildElements(): XmlElement[] };
  const [condition, text] = shaped.getChildElements();
  assert.equal(condition.name, "conflict");
  assert.ok(text.is("text"));
  assert.equal((text as XmlElement & { text(): string }).text(), "taken");
  assert.equal(error.getChildText("see-other-host"), null);

  const iq = parseStanza(
    "<iq xmlns='jabber:component:accept' type='result' id='1'>" +
      "<q:query xmlns:q='jabber:iq:version'><q:name>bot</q:name></q:query><x xmlns='y'/></iq>",
  );
  assert.equal(iq.getChild("query", "jabber:iq:version")?.getChildText("name"), "bot");
  assert.equal(iq.getChild("query", "jabber:component:accept"), undefined);
  // Unprefixed children inherit the stanza's namespace, as ltx reads them.
  assert.equal(iq.getChildren("x").length, 1);
  assert.ok(iq.getChild("x", "y")?.is("x", "y"));
});

Deno.test("xml: the builder leaves out null attributes and empty text, and adopts its children", () => {
  const child = xml("ping", { xmlns: "urn:xmpp:ping" });
  const iq = xml("iq", { type: "get", id: undefined, n: 3, to: null }, "", child, "t");
  assert.deepEqual(iq.attrs, { type: "get", n: "3" });
  assert.deepEqual(iq.children.map(shape), [["ping", { xmlns: "urn:xmpp:ping" }, []], "t"]);
  assert.equal(child.parent, iq);
  assert.equal(serialize(iq), `<iq type="get" n="3"><ping xmlns="urn:xmpp:ping"/>t</iq>`);
  assert.equal(`${iq}`, serialize(iq));
});

Deno.test("xml: a stanza read from the stream is parsed once, when first asked, and written as it came", () => {
  const text = "<message type='chat'><body>x &amp; y</body><x/></message>";
  const stanza = parseStanza(text);
  assert.equal(serialize(stanza), text);
  const body = stanza.getChild("body");
  assert.equal(body?.getText(), "x & y");
  assert.equal(body?.parent, stanza);
  assert.equal(stanza.getChild("body"), body);
  // Parsed, it is written from its tree.
  assert.equal(serialize(stanza), `<message type="chat"><body>x &amp; y</body><x/></message>`);
});

Deno.test("xml: a payload that is not XML reads as no children, and is still forwarded as it came", () => {
  // The scanner checks tags, not references or attribute syntax in a payload.
  for (
    const payload of ["<body>x &nope; y</body>", "<body>fish & chips</body>", "<c a='1'b='2'/>"]
  ) {
    const text = `<message type='chat'>${payload}</message>`;
    const stanza = parseStanza(text);
    assert.deepEqual(stanza.children, [], payload);
    assert.equal(stanza.getChild("body"), undefined);
    assert.equal(serialize(stanza), text);
    assert.equal(
      serialize(readdress(stanza, { to: "t", from: "f" })),
      `<message type='chat' to="t" from="f">${payload}</message>`,
    );
  }
});
