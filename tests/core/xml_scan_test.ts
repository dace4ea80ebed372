/**
 * The stream scanner (src/core/xml_scan.ts) against xmpp.js's own parser,
 * however the stream is cut into chunks, and against what XML forbids.
 */
import { deepEqual, equal as assertEquals, ok as assert, throws } from "node:assert/strict";
import fc from "fast-check";
import { parseStanza, StreamScanner } from "../../src/core/xml_scan.ts";
import { readdress, serialize, xml, type XmlElement } from "../../src/core/xml.ts";
import { xmppXmlParser } from "../support/xmpp_xml.ts";

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
  // (Text after a CDATA section is left to xml_tree_test: ltx drops it.)
  "<message from='u@localhost/r' to='proxy.localhost' type='chat'><body>1 > 0 &amp; <![CDATA[<not a tag>]]></body>" +
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

function feed(chunks: string[], options?: { spillAt?: number }): Seen {
  const seen: Seen = { elements: [], end: 0, errors: [] };
  const scanner = new StreamScanner({
    start: (el) => (seen.start = el),
    element: (el) => seen.elements.push(el),
    end: () => seen.end++,
    error: (error) => seen.errors.push(error as Error),
  }, options);
  for (const chunk of chunks) scanner.write(chunk);
  return seen;
}

/** What xmpp.js's own parser makes of the same text: the reference. */
function reference(text: string): XmlElement[] {
  const parser = xmppXmlParser();
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

Deno.test("xml scan: the same elements as xmpp.js's parser, however the text is cut", () => {
  const expected = reference(STREAM).map(shape);
  assertEquals(expected.length, STANZAS.length);
  const cuts: string[][] = [[STREAM], [...STREAM]];
  for (let at = 1; at < STREAM.length; at++) cuts.push([STREAM.slice(0, at), STREAM.slice(at)]);
  // Spilled: as a big stanza's text is set aside, here whatever its size.
  for (const spillAt of [undefined, 1, 40]) {
    for (const chunks of cuts) {
      const seen = feed(chunks, { spillAt });
      const what = `cut at ${chunks[0].length}, spilled from ${spillAt}`;
      deepEqual(seen.errors, [], what);
      assertEquals(seen.start?.attrs.id, "s1d");
      assertEquals(seen.start?.name, "stream:stream");
      assertEquals(seen.end, 1);
      deepEqual(seen.elements.map(shape), expected, what);
    }
  }
});

Deno.test("xml scan: attributes are unescaped, content is kept as received", () => {
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
    `<message type='chat' to="proxy.localhost" from="u@localhost/r"><body>1 > 0 &amp; <![CDATA[<not a tag>]]></body>` +
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

Deno.test("xml scan: children are there when asked for, with their namespaces", () => {
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

Deno.test("xml scan: a parsed element that is changed is serialised from its children", () => {
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

Deno.test("xml scan: what XMPP forbids or XML does not allow is an error, and the stream stops there", () => {
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
    "<iq>< a='1'>x</iq>",
    "< a='1'/>",
  ];
  for (const text of bad) {
    const seen = feed([HEADER, text + "<iq id='after'/>"]);
    assertEquals(seen.errors.length, 1, text);
    assertEquals(seen.errors[0].name, "XMLError", text);
    deepEqual(seen.elements, [], text);
    // The same error however the text is cut, spilled or not.
    const rest = text + "<iq id='after'/>";
    for (const spillAt of [undefined, 1]) {
      for (let at = 1; at < rest.length; at++) {
        const cut = feed([HEADER, rest.slice(0, at), rest.slice(at)], { spillAt });
        deepEqual(cut.errors.map(String), seen.errors.map(String), `${text} cut at ${at}`);
        deepEqual(cut.elements, [], text);
      }
      const bytes = feed([HEADER, ...rest], { spillAt });
      deepEqual(bytes.errors.map(String), seen.errors.map(String), `${text} in 1-byte chunks`);
    }
  }
});

Deno.test("xml scan: raw tab, newline and CR LF in an attribute read as one space each; references keep theirs", () => {
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

Deno.test("xml scan: generated stanzas, cut anywhere, read as xmpp.js reads them", () => {
  fc.assert(
    fc.property(
      fc.array(tree, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (stanzas, cutSeeds) => {
        const stream = HEADER + stanzas.map((el) => serialize(el)).join(" ");
        const cuts = [...new Set(cutSeeds.map((n) => n % stream.length))].sort((a, b) => a - b);
        const chunks = [0, ...cuts].map((at, i, all) => stream.slice(at, all[i + 1]));
        const seen = feed(chunks);
        // Spilled at every chunk (as a big stanza is): the same (unread) elements.
        const spilled = feed(chunks, { spillAt: 1 });
        deepEqual(spilled.errors, []);
        deepEqual(spilled.elements.map(outside), seen.elements.map(outside));
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

// --- big stanzas in small chunks ----------------------------------------------

/** A seeded PRNG (mulberry32): the same chunk sizes on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `text` in chunks of `size` characters, or of 1 to `size` drawn with `seed`. */
function chunked(text: string, size: number, seed?: number): string[] {
  const random = seed === undefined ? undefined : prng(seed);
  const chunks: string[] = [];
  for (let at = 0; at < text.length;) {
    const length = random ? 1 + Math.floor(random() * size) : size;
    chunks.push(text.slice(at, at + length));
    at += length;
  }
  return chunks;
}

/** An element as what the router and the wire see of it. */
function outside(el: XmlElement): unknown {
  return [el.name, { ...el.attrs }, serialize(readdress(el, { to: "t", from: "f" }))];
}

/** About `n` characters of text, cut after a whole `x&amp;y ]] > ` (a cut reference is not XML). */
const filler = (n: number) => "x&amp;y ]] > ".repeat(Math.floor(n / 13));
/** Hundreds of KB: deep-ish nesting, CDATA, big attribute values, text, a huge start tag. */
const BIG_PAYLOAD = "<a n='1'>".repeat(1_000) + filler(40_000) + "</a>".repeat(1_000) +
  `<body>${filler(100_000)}<![CDATA[<not a tag> ]] ]]]${filler(60_000)}]]></body>` +
  `<big data='${'v">&amp;'.repeat(50_000)}' other="${">".repeat(1000)}"/>` +
  `<huge ${Array.from({ length: 4_000 }, (_, i) => `a${i}='${i}'`).join(" ")}>in</huge >` +
  "<x:y xmlns:x='u'><z/><z></z ></x:y>";
const BIG = `<message to='proxy.localhost' from='u@localhost/r' id='big' ` +
  `thumb='${"t".repeat(100_000)}' type="chat">${BIG_PAYLOAD}</message>`;
const AFTER = "<iq id='after' type='get'><ping xmlns='urn:xmpp:ping'/></iq>";

Deno.test("xml scan: a big stanza in small chunks reads as in one write", () => {
  assert(BIG.length > 500_000);
  const whole = feed([HEADER, BIG + " " + AFTER]);
  deepEqual(whole.errors, []);
  assertEquals(whole.elements.length, 2);
  const expected = whole.elements.map(outside);
  assertEquals(whole.elements[0].attrs.thumb?.length, 100_000);
  // Parsed children too, once (xmpp.js's parser as the reference).
  // (As JSON: deepEqual recurses too deep for the nesting.)
  assertEquals(
    JSON.stringify(merged(whole.elements[0])),
    JSON.stringify(merged(reference(HEADER + BIG)[0])),
  );
  const feeds: Array<[string, string[]]> = [
    ["100-byte chunks", chunked(BIG + " " + AFTER, 100)],
    ["1-byte chunks around the ends", [
      ...BIG.slice(0, 20_000),
      BIG.slice(20_000, -20_000),
      ...BIG.slice(-20_000) + " " + AFTER,
    ]],
    ["the rest in one chunk", [BIG.slice(0, 300_000), BIG.slice(300_000) + " " + AFTER]],
  ];
  for (const seed of [1, 2, 3]) {
    feeds.push([`random chunks up to 300 (seed ${seed})`, chunked(BIG + " " + AFTER, 300, seed)]);
  }
  feeds.push(["random chunks up to 20,000", chunked(BIG + " " + AFTER, 20_000, 4)]);
  for (const [what, chunks] of feeds) {
    const seen = feed([HEADER, ...chunks]);
    deepEqual(seen.errors, [], what);
    deepEqual(seen.elements.map(outside), expected, what);
  }
});

Deno.test("xml scan: bad XML in a big stanza in small chunks is the error it is in one write", () => {
  const deep = "<a n='1'>".repeat(1_000) + filler(50_000);
  const big = (s: string) => `<iq id='1' thumb='${"t".repeat(50_000)}'>${s}</iq>`;
  const bad = [
    // A mismatched end tag deep inside, its open tag long spilled.
    big(deep + "</a>".repeat(500) + "</b>" + "</a>".repeat(500)),
    big(deep + "</a>".repeat(999) + "</iq>"),
    big(deep + "</a>".repeat(1_000) + "</a></iq>"),
    big(deep + "<b x='1'>" + filler(50_000) + "</c></a></iq>"),
    big(deep + "<!-- comment -->"),
    big(deep + "<?pi x?>"),
    // Start tags: in the stanza's own, an inner big one, one without a name.
    `<iq id='1' thumb='${"t".repeat(50_000)}<'/>`,
    `<iq id='1' thumb='${"t".repeat(50_000)}' <'/>`,
    `<iq id=1 thumb='${"t".repeat(50_000)}'>${deep}</iq>`,
    big(`${deep}<big data="${"d".repeat(50_000)}<"/>`),
    big(`${deep}<big data='${"d".repeat(50_000)}' < />`),
    big(`${deep}< data='${"d".repeat(50_000)}'>`),
    big(`<![CDATA[${filler(50_000)}]]><![CDAT[x]]>`),
  ];
  for (const text of bad) {
    const stream = text + "<iq id='after'/>";
    const whole = feed([HEADER, stream]);
    assertEquals(whole.errors.length, 1, text.slice(-40));
    assertEquals(whole.errors[0].name, "XMLError");
    for (
      const chunks of [chunked(stream, 100), chunked(stream, 500, 7), chunked(stream, 5_000, 8)]
    ) {
      const seen = feed([HEADER, ...chunks]);
      deepEqual(seen.errors.map(String), whole.errors.map(String), text.slice(-40));
      deepEqual(seen.elements, []);
    }
  }
});
