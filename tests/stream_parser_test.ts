import { deepEqual, equal as assertEquals, ok as assert, throws } from "node:assert/strict";
import fc from "fast-check";
import { parseStanza, StreamParser } from "../src/stream_parser.ts";
import { readdress, serialize, xml, type XmlElement } from "../src/xml.ts";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'" +
  " xml:lang='en' xmlns='jabber:component:accept' id='s1d' from='proxy.localhost'>";
/** What Prosody and ejabberd send, and the odd corners XML allows. */
const STANZAS = [
  "<handshake/>",
  `<iq type='get' id='p1' to='proxy.localhost' from='a@localhost/r'><ping xmlns='urn:xmpp:ping'/></iq>`,
  `<iq id="q&amp;1" type="get" to="proxy.localhost/x" from="b@localhost/t&#233;l&#xE9;&apos;&quot;&gt;&lt;">` +
  `<query xmlns='http://jabber.org/protocol/disco#items' node='a>b'><item jid='x' name="it's"/>` +
  `<item jid='y'>t&lt;e&amp;xt &#x1F600;</item></query></iq>`,
  "<message from='u@localhost/r' to='proxy.localhost' type='chat'><body>1 > 0 &amp; <![CDATA[<not a tag>]]> ok</body>" +
  "<x xmlns='a'><x><x/></x></x></message>",
  "<presence from='service@localhost/one' to='proxy.localhost' ><priority >-1</priority ><c xmlns='caps' /></presence >",
  "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
];
const STREAM = HEADER + STANZAS.join("\n ") + "\t</stream:stream>";

interface Seen {
  start?: XmlElement;
  elements: XmlElement[];
  end: number;
  errors: Error[];
}

function feed(chunks: string[]): Seen {
  const parser = new StreamParser();
  const seen: Seen = { elements: [], end: 0, errors: [] };
  parser.on("start", (el: XmlElement) => (seen.start = el));
  parser.on("element", (el: XmlElement) => seen.elements.push(el));
  parser.on("end", () => seen.end++);
  parser.on("error", (error: Error) => seen.errors.push(error));
  for (const chunk of chunks) parser.write(chunk);
  return seen;
}

/** What xmpp.js's own parser makes of the same text: the reference. */
function reference(text: string): XmlElement[] {
  const parser = new xml.Parser();
  const elements: XmlElement[] = [];
  parser.on("element", (el) => elements.push(el));
  parser.write(text);
  return elements;
}

/** An element as a comparable value: name, attributes, children (parsed). */
function shape(node: XmlElement | string): unknown {
  if (typeof node === "string") return node;
  return [node.name, { ...node.attrs }, node.children.map(shape)];
}

Deno.test("stream parser: the same elements as xmpp.js's parser, however the text is cut", () => {
  const expected = reference(STREAM).map(shape);
  assertEquals(expected.length, STANZAS.length);
  const cuts: string[][] = [[STREAM], [...STREAM]];
  for (let at = 1; at < STREAM.length; at++) cuts.push([STREAM.slice(0, at), STREAM.slice(at)]);
  for (const chunks of cuts) {
    const seen = feed(chunks);
    deepEqual(seen.errors, [], `cut at ${chunks[0].length}`);
    assertEquals(seen.start?.attrs.id, "s1d");
    assertEquals(seen.start?.name, "stream:stream");
    assertEquals(seen.end, 1);
    deepEqual(seen.elements.map(shape), expected, `cut at ${chunks[0].length}`);
  }
});

Deno.test("stream parser: attributes are unescaped, content is kept as received", () => {
  const [, ping, disco, message] = feed([STREAM]).elements;
  deepEqual(disco.attrs, {
    id: "q&1",
    type: "get",
    to: "proxy.localhost/x",
    from: "b@localhost/télé'\"><",
  });
  // Forwarded untouched: the payload and the other attributes go out as they came.
  assertEquals(
    serialize(readdress(ping, { to: "svc@localhost/r", from: "proxy.localhost/a@localhost/r" })),
    `<iq type='get' id='p1' to="svc@localhost/r" from="proxy.localhost/a@localhost/r">` +
      `<ping xmlns='urn:xmpp:ping'/></iq>`,
  );
  // Values that need it are escaped; a new id means every attribute is written anew.
  assertEquals(
    serialize(readdress(disco, { to: "a'b@localhost/<", from: "proxy.localhost", id: "n&1" })),
    `<iq id="n&amp;1" type="get" to="a&apos;b@localhost/&lt;" from="proxy.localhost">` +
      `<query xmlns='http://jabber.org/protocol/disco#items' node='a>b'><item jid='x' name="it's"/>` +
      `<item jid='y'>t&lt;e&amp;xt &#x1F600;</item></query></iq>`,
  );
  assertEquals(
    serialize(message),
    `<message type='chat' to="proxy.localhost" from="u@localhost/r"><body>1 > 0 &amp; <![CDATA[<not a tag>]]> ok</body>` +
      "<x xmlns='a'><x><x/></x></x></message>",
  );
  const withXmlns = feed([
    HEADER + "<iq xmlns='jabber:component:accept' type='result' id='1'></iq>",
  ]);
  assertEquals(
    serialize(withXmlns.elements[0]),
    `<iq type='result' id='1' xmlns="jabber:component:accept"/>`,
  );
  assertEquals(
    serialize(readdress(withXmlns.elements[0], { to: "a@localhost/r", from: "proxy.localhost" })),
    `<iq type='result' id='1' to="a@localhost/r" from="proxy.localhost"/>`,
  );
});

Deno.test("stream parser: children are there when asked for, with their namespaces", () => {
  const seen = feed([STREAM]);
  const [, ping, disco, , presence, streamError] = seen.elements;
  assert(ping.getChild("ping", "urn:xmpp:ping"));
  assertEquals(disco.getChild("query")?.getChildren("item").length, 2);
  assertEquals(disco.getChild("query")?.getChildren("item")[1].getText(), "t<e&xt 😀");
  assertEquals(presence.getChildText("priority"), "-1");
  // xmpp.js tells a stream error by its prefix's namespace, from the header.
  assert(streamError.is("error", "http://etherx.jabber.org/streams"));
  assertEquals(
    streamError.getChild("conflict")?.attrs.xmlns,
    "urn:ietf:params:xml:ns:xmpp-streams",
  );
  assertEquals(ping.getChild("ping")?.parent, ping);
});

Deno.test("stream parser: a parsed element that is changed is serialised from its children", () => {
  const [, ping] = feed([STREAM]).elements;
  ping.children.push(xml("extra", { xmlns: "x" }));
  assertEquals(
    serialize(ping),
    `<iq type="get" id="p1" to="proxy.localhost" from="a@localhost/r"><ping xmlns="urn:xmpp:ping"/><extra xmlns="x"/></iq>`,
  );
  // The copy made before the change keeps the text as received.
  const [, other] = feed([STREAM]).elements;
  const forwarded = readdress(other, { to: "b@localhost", from: "proxy.localhost" });
  other.children.length = 0;
  assertEquals(
    serialize(forwarded),
    `<iq type='get' id='p1' to="b@localhost" from="proxy.localhost"><ping xmlns='urn:xmpp:ping'/></iq>`,
  );
});

Deno.test("stream parser: what XMPP forbids or XML does not allow is an error, and the stream stops there", () => {
  const bad = [
    "<iq><a></b></iq>",
    "<iq><!-- comment --></iq>",
    "<!-- comment -->",
    "<iq><?pi x?></iq>",
    "<iq id=1/>",
    "<iq id='1' type/>",
    "<iq id='&bogus;'/>",
    // XML 1.0 §2.2: characters no document may hold, even as references.
    "<iq id='a&#0;'/>",
    "<iq id='a&#xD800;'/>",
    "<iq id='a&#xFFFE;'/>",
    "<iq a='<'/>",
    "</iq>",
    "<iq></message>",
  ];
  for (const text of bad) {
    const seen = feed([HEADER, text + "<iq id='after'/>"]);
    assertEquals(seen.errors.length, 1, text);
    assertEquals(seen.errors[0].name, "XMLError", text);
    deepEqual(seen.elements, [], text);
  }
});

Deno.test("stream parser: raw tab, newline and CR LF in an attribute read as one space each; references keep theirs", () => {
  // Prosody writes a user's `&#10;` raw: the implementing client reads it
  // as a space, so the id its reply carries has one, and must match.
  const seen = feed([HEADER, "<iq id='a\nb\tc\r\nd' node='x&#10;y&#9;z' to='p' from='u'/>"]);
  const [el] = seen.elements;
  assertEquals(el.attrs.id, "a b c d");
  assertEquals(el.attrs.node, "x\ny\tz");
  // The forwarded copy keeps the text as it came: its reader normalises it the same way.
  const copy = serialize(readdress(el, { to: "t", from: "f" }));
  assertEquals(copy, `<iq id='a\nb\tc\r\nd' node='x&#10;y&#9;z' to="t" from="f"/>`);
  // (xmpp.js's own parser skips this rule of XML; the server does not.)
  deepEqual(feed([HEADER, copy]).elements.map((e) => e.attrs.id), ["a b c d"]);
});

Deno.test("parseStanza: one stanza as the stream reads it, however deep its payload", () => {
  const deep = "<a>".repeat(20_000) + "</a>".repeat(20_000);
  const el = parseStanza(`<iq type='get' id='d' to='x' from='y'>${deep}</iq>`);
  assertEquals(el.attrs.id, "d");
  assertEquals(
    serialize(readdress(el, { to: "t", from: "f" })),
    `<iq type='get' id='d' to="t" from="f">${deep}</iq>`,
  );
  throws(() => parseStanza("<iq><a></iq>"), /XMLError|unexpected|match/i);
});

Deno.test("stream parser: a stanza waits for the rest of its text; whitespace keepalives are ignored", () => {
  const parser = new StreamParser();
  const elements: XmlElement[] = [];
  parser.on("element", (el: XmlElement) => elements.push(el));
  parser.write(HEADER + " \n <iq id='1' type='get'><ping xmlns='urn:xmpp:ping'/>");
  assertEquals(elements.length, 0);
  parser.write("</iq> ");
  parser.write(" ");
  assertEquals(elements.length, 1);
  assertEquals(elements[0].attrs.id, "1");
});

// --- generated streams ------------------------------------------------------

const names = fc.constantFrom("iq", "message", "presence", "query", "x", "item", "body", "st:a");
const attrNames = fc.constantFrom("id", "to", "from", "type", "xml:lang", "node", "jid", "xmlns");
// Anything a JID, id or body may hold, markup characters and line ends included.
const text = fc.string({
  unit: fc.constantFrom("a", "é", "☎", "𝄞", "<", ">", "&", "'", '"', "\t", "\n", "\r", " ", "]]>"),
});
const tree: fc.Arbitrary<XmlElement> = fc.letrec<{ el: XmlElement }>((tie) => ({
  el: fc.record({
    name: names,
    attrs: fc.dictionary(attrNames, text, { maxKeys: 5 }),
    children: fc.array(fc.oneof({ depthSize: "small" }, text, tie("el")), { maxLength: 4 }),
  }).map(({ name, attrs, children }) => xml(name, attrs, ...children)),
})).el;

/** Adjacent text nodes merged: how text is cut into nodes is no difference. */
function merged(node: XmlElement | string): unknown {
  if (typeof node === "string") return node;
  const children: unknown[] = [];
  for (const child of node.children) {
    const last = children.length - 1;
    if (typeof child === "string" && typeof children[last] === "string") children[last] += child;
    else if (typeof child !== "string" || child !== "") children.push(merged(child));
  }
  return [node.name, { ...node.attrs }, children];
}

Deno.test("stream parser: generated stanzas, cut anywhere, read as xmpp.js reads them", () => {
  fc.assert(
    fc.property(
      fc.array(tree, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (stanzas, cutSeeds) => {
        const stream = HEADER + stanzas.map((el) => serialize(el)).join(" ");
        const cuts = [...new Set(cutSeeds.map((n) => n % stream.length))].sort((a, b) => a - b);
        const chunks = [0, ...cuts].map((at, i, all) => stream.slice(at, all[i + 1]));
        const seen = feed(chunks);
        deepEqual(seen.errors, []);
        deepEqual(seen.elements.map(merged), reference(stream).map(merged));
        // And what is forwarded unread is the stanza as it was written.
        deepEqual(
          seen.elements.map((el) => reference(HEADER + serialize(el)).map(merged)[0]),
          stanzas.map(merged),
        );
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("stream parser: what a listener throws goes to the writer, not to the stream as bad XML", () => {
  const parser = new StreamParser();
  const errors: Error[] = [];
  parser.on("error", (error: Error) => errors.push(error));
  parser.on("element", () => {
    throw new Error("listener bug");
  });
  parser.write(HEADER);
  throws(() => parser.write("<iq id='1'/>"), /listener bug/);
  deepEqual(errors, []);
});
