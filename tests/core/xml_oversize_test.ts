/**
 * Stanzas over the size limit (src/core/xml_scan.ts, xml_content.ts and
 * xml_skip.ts): handed on with their start tag only, wherever the stream
 * is cut, never held past the limit, and the stream goes on after them.
 * The limit is in bytes of UTF-8, whatever the text.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { StreamScanner } from "../../src/core/xml_scan.ts";
import { isOversized, type XmlElement } from "../../src/core/xml.ts";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'" +
  " xmlns='jabber:component:accept' id='s1d' from='proxy.localhost'>";
const LIMIT = 100;
const BEFORE = "<iq type='result' id='before' to='proxy.localhost' from='a@localhost/r'/>";
const AFTER = "<iq type='get' id='after'><ping xmlns='urn:xmpp:ping'/></iq>";
const ADDRESSED = "type='get' id='big' to='proxy.localhost' from='a@localhost/r'";
const ATTRS = { type: "get", id: "big", to: "proxy.localhost", from: "a@localhost/r" };
const filler = (n: number) => "x&amp;y ]]> /> ".repeat(Math.ceil(n / 15)).slice(0, n);

/** Oversized stanzas, with whether their start tag alone is over the limit. */
const BIG: ReadonlyArray<readonly [string, string, boolean]> = [
  ["plain", `<iq ${ADDRESSED}><query xmlns='q'>${filler(300)}</query></iq>`, false],
  [
    "nested, CDATA, quotes",
    `<iq ${ADDRESSED}>` + "<a n='1'>".repeat(30) + `<![CDATA[ ]] ]]] <not a='>'> ]]]]>` +
    `<x a='/>' b="'>/" c = ']]>'/><y/><z></z >` + filler(50) + "</a >".repeat(30) +
    `<![CDATA[]]><b/></iq >`,
    false,
  ],
  ["a big start tag", `<iq ${ADDRESSED} thumb='${"t/>".repeat(100)}'><ping/></iq>`, true],
  ["a big empty stanza", `<iq ${ADDRESSED} thumb="${"'/".repeat(150)}" />`, true],
  ["cut before its own `>`", `<iq ${ADDRESSED} thumb='${"t".repeat(200)}'/>`, true],
];

interface Seen {
  elements: XmlElement[];
  errors: Error[];
  /** The most text held after any write. */
  held: number;
}

function feed(chunks: readonly string[], spillAt?: number, limit = LIMIT): Seen {
  const seen: Seen = { elements: [], errors: [], held: 0 };
  const scanner = new StreamScanner({
    start() {},
    element: (el) => seen.elements.push(el),
    end() {},
    error: (error) => seen.errors.push(error as Error),
  }, { spillAt, maxStanza: () => limit });
  for (const chunk of chunks) {
    scanner.write(chunk);
    seen.held = Math.max(seen.held, scanner.held);
  }
  return seen;
}

/** The ways a text is cut: at every offset in two, and one character at a time. */
function cuts(text: string): string[][] {
  const all = [[text], [...text]];
  for (let at = 1; at < text.length; at++) all.push([text.slice(0, at), text.slice(at)]);
  return all;
}

function checkRead(seen: Seen, bigStart: boolean, what: string): void {
  deepEqual(seen.errors, [], what);
  deepEqual(
    seen.elements.map((el) => el.attrs.id),
    ["before", seen.elements[1]?.attrs.id, "after"],
    what,
  );
  const [before, big, after] = seen.elements;
  equal(isOversized(before), false, what);
  equal(isOversized(after), false, what);
  ok(after.getChild("ping", "urn:xmpp:ping"), what);
  equal(isOversized(big), true, what);
  equal(big.name, "iq", what);
  deepEqual(big.children, [], what);
  // Its start tag read, even when the start tag alone went over the limit
  // before it ended (held a little longer for that).
  const attrs = { ...big.attrs };
  deepEqual({ type: attrs.type, id: attrs.id, to: attrs.to, from: attrs.from }, ATTRS, what);
  if (bigStart) ok((attrs.thumb ?? "").length > 0, what);
}

for (const [name, big, bigStart] of BIG) {
  Deno.test(`oversize: ${name}, cut anywhere, is handed on with its start tag only`, () => {
    ok(big.length > LIMIT);
    const stream = BEFORE + big + " \n" + AFTER;
    for (const spillAt of [undefined, 1, 40]) {
      for (const chunks of cuts(stream)) {
        const what = `cut at ${chunks[0].length} of ${chunks.length}, spilled from ${spillAt}`;
        const seen = feed([HEADER, ...chunks], spillAt);
        checkRead(seen, bigStart, what);
        // Never more held than the limit, whatever the chunking, or than
        // the start tag when it alone is over the limit.
        const thumb = big.indexOf("thumb=") + 6;
        const most = bigStart ? big.indexOf(">", big.indexOf(big[thumb], thumb + 1)) + 1 : LIMIT;
        ok(seen.held <= most, `${what}: held ${seen.held}`);
      }
    }
  });
}

Deno.test("oversize: a start tag far over the limit keeps its whole attributes, holding no more than 16 Ki past it", () => {
  const huge = "t".repeat(100_000);
  for (const order of ["before", "after"]) {
    const tag = order === "before"
      ? `<iq ${ADDRESSED} thumb='${huge}'/>`
      : `<iq thumb='${huge}' ${ADDRESSED}/>`;
    const chunks = [HEADER, BEFORE, ...tag.match(/[^]{1,4096}/g)!, AFTER];
    const seen = feed(chunks, undefined, LIMIT);
    deepEqual(seen.errors, [], order);
    deepEqual(seen.elements.map((el) => [el.attrs.id, isOversized(el)]), [
      ["before", false],
      [order === "before" ? "big" : undefined, true],
      ["after", false],
    ]);
    // What was whole when the grace ran out is kept: all of it, or nothing after the huge value.
    const expected = order === "before" ? ATTRS : {};
    const { type, id, to, from } = seen.elements[1].attrs;
    deepEqual(JSON.parse(JSON.stringify({ type, id, to, from })), expected, order);
    ok(seen.held <= LIMIT + 16_384 + 4_096, `${order}: held ${seen.held}`);
  }
  // The grace is in bytes, as the limit is: three-byte text is held a third as far.
  const wide = `<iq ${ADDRESSED} thumb='${"中".repeat(100_000)}'/>`;
  const seen = feed([HEADER, ...wide.match(/[^]{1,4096}/g)!, AFTER], undefined, LIMIT);
  deepEqual(seen.elements.map((el) => [el.attrs.id, isOversized(el)]), [
    ["big", true],
    ["after", false],
  ]);
  ok(seen.held * 3 <= LIMIT + 16_384 + 3 * 4_096, `held ${seen.held} characters`);
});

Deno.test("oversize: an end tag whose `>` does not come within the limit is a stream error, holding nothing", () => {
  const spaces = Array.from({ length: 20 }, () => " ".repeat(1_000));
  const seen = feed([HEADER, BEFORE, "</stream:stream", ...spaces], undefined, LIMIT);
  equal(seen.errors.length, 1);
  equal(seen.errors[0].message, "an end tag over max_stanza_size");
  ok(seen.held <= LIMIT + 1_000, `held ${seen.held}`);
  // Within the limit, spaces before its `>` are fine.
  const fine = feed([HEADER, "</stream:stream", "   ", ">"], undefined, LIMIT);
  deepEqual(fine.errors, []);
});

Deno.test("oversize: at the limit a stanza is kept whole; one character more, and it is not", () => {
  const at = (n: number) => {
    const open = `<iq ${ADDRESSED}>`;
    const text = open + "x".repeat(n - open.length - "</iq>".length) + "</iq>";
    equal(text.length, n);
    return feed([HEADER, text]).elements[0];
  };
  equal(isOversized(at(LIMIT)), false);
  equal(at(LIMIT).children.length, 1);
  equal(isOversized(at(LIMIT + 1)), true);
});

Deno.test("oversize: 5 MB in 64 KB chunks is skipped holding nothing past the limit", () => {
  const scannerLimit = 64 * 1024;
  const seen: XmlElement[] = [];
  const scanner = new StreamScanner({
    start() {},
    element: (el) => seen.push(el),
    end() {},
    error: (error) => {
      throw error;
    },
  }, { maxStanza: () => scannerLimit });
  scanner.write(HEADER + `<iq ${ADDRESSED}><data xmlns='d'>`);
  const chunk = `<b n='1'>${filler(65_000)}<![CDATA[${filler(500)}]]></b>`;
  let held = 0;
  for (let sent = 0; sent < 5_000_000; sent += chunk.length) {
    scanner.write(chunk);
    held = Math.max(held, scanner.held);
  }
  // Deep nesting in the skipped part costs nothing either.
  scanner.write("<n>".repeat(200_000) + "</n>".repeat(200_000));
  scanner.write("</data></iq>" + AFTER);
  ok(held <= scannerLimit, `held ${held}`);
  deepEqual(seen.map((el) => [el.attrs.id, isOversized(el)]), [["big", true], ["after", false]]);
});

Deno.test("oversize: what XMPP forbids in the skipped part is still an error, however it is cut", () => {
  const bad = [
    `<iq ${ADDRESSED}>${filler(200)}<!-- comment --></iq>`,
    `<iq ${ADDRESSED}>${filler(200)}<?pi x?></iq>`,
    `<iq ${ADDRESSED}>${filler(200)}<a b='<'/></iq>`,
    `<iq ${ADDRESSED}>${filler(200)}<a <b/></iq>`,
    `<iq ${ADDRESSED}>${filler(200)}< a='1'>x</ a></iq>`,
    `<iq ${ADDRESSED} x='${filler(200)}<'/>`,
  ];
  for (const text of bad) {
    for (const chunks of cuts(text + AFTER)) {
      const seen = feed([HEADER, ...chunks]);
      equal(seen.errors.length, 1, `${text.slice(-30)} cut at ${chunks[0].length}`);
      equal(seen.errors[0].name, "XMLError");
      deepEqual(seen.elements.filter((el) => el.attrs.id === "after"), []);
    }
  }
});

Deno.test("oversize: without a limit, nothing is oversized", () => {
  const seen: XmlElement[] = [];
  const scanner = new StreamScanner({
    start() {},
    element: (el) => seen.push(el),
    end() {},
    error: (error) => {
      throw error;
    },
  });
  scanner.write(HEADER + BIG[0][1]);
  equal(isOversized(seen[0]), false);
  equal(seen[0].getChild("query")?.getText().length, 300 - 20 * 4);
});

// --- the limit in bytes -------------------------------------------------------

/** Text of 1, 2, 3 and 4 bytes a character (the last: a surrogate pair, two code units). */
const UNITS: ReadonlyArray<readonly [string, string, number]> = [
  ["ASCII", "x", 1],
  ["2-byte é", "é", 2],
  ["3-byte €", "€", 3],
  ["3-byte CJK", "日", 3],
  ["4-byte emoji", "😀", 4],
];

/** `bytes` bytes of `unit` (`size` bytes each), and ASCII for what is left over. */
function textOf(unit: string, size: number, bytes: number): string {
  return unit.repeat(Math.floor(bytes / size)) + "x".repeat(bytes % size);
}

/**
 * A get of exactly `bytes` bytes of UTF-8, half its text of `unit` in an
 * attribute value and half in the payload.
 */
function stanzaOf(
  unit: string,
  size: number,
  bytes: number,
): { text: string; value: string; payload: string } {
  const frame = `<iq type='get' id='big' v=''><b></b></iq>`.length;
  const half = Math.floor((bytes - frame) / 2);
  const value = textOf(unit, size, half);
  const payload = textOf(unit, size, bytes - frame - half);
  const text = `<iq type='get' id='big' v='${value}'><b>${payload}</b></iq>`;
  equal(new TextEncoder().encode(text).length, bytes);
  return { text, value, payload };
}

for (const [name, unit, size] of UNITS) {
  Deno.test(`oversize: ${name}, cut anywhere: exactly the limit in bytes is kept, a byte more is not`, () => {
    for (const bytes of [LIMIT, LIMIT + 1]) {
      const { text, value, payload } = stanzaOf(unit, size, bytes);
      const stream = BEFORE + text + AFTER;
      for (const spillAt of [undefined, 1, 40]) {
        // At every code unit (between the halves of a pair too), and a code point at a time.
        for (const chunks of [...cuts(stream), [...stream]]) {
          const what = `${bytes} bytes, cut at ${
            chunks[0].length
          } of ${chunks.length}, spilled from ${spillAt}`;
          const seen = feed([HEADER, ...chunks], spillAt);
          deepEqual(seen.errors, [], what);
          deepEqual(seen.elements.map((el) => el.attrs.id), ["before", "big", "after"], what);
          const big = seen.elements[1];
          equal(isOversized(big), bytes > LIMIT, what);
          if (bytes > LIMIT) {
            deepEqual(big.children, [], what);
          } else {
            equal(big.attrs.v, value, what);
            equal(big.getChild("b")?.getText(), payload, what);
          }
          ok(seen.held <= LIMIT, `${what}: held ${seen.held}`);
        }
      }
    }
  });
}

Deno.test("oversize: half the limit in characters of 3-byte text is over it (1.5 times, in bytes)", () => {
  const limit = 1024 * 1024;
  const text = `<iq type='get' id='big'><b>${"€".repeat(limit / 2 - 40)}</b></iq>`;
  ok(text.length <= limit / 2);
  for (
    const chunks of [[text + AFTER], chunked(text + AFTER, 64 * 1024), chunked(text + AFTER, 1000)]
  ) {
    const seen = feed([HEADER, ...chunks], undefined, limit);
    deepEqual(seen.errors, []);
    deepEqual(seen.elements.map((el) => [el.attrs.id, isOversized(el)]), [["big", true], [
      "after",
      false,
    ]]);
    ok(seen.held <= limit / 3 + 1024, `held ${seen.held} characters`);
  }
});

/** `text` in chunks of `size` code units. */
function chunked(text: string, size: number): string[] {
  const chunks: string[] = [];
  for (let at = 0; at < text.length; at += size) chunks.push(text.slice(at, at + size));
  return chunks;
}

Deno.test("oversize: a stanza near the limit in bytes, in small chunks, is measured once, not at every chunk", () => {
  // 2 MB of mostly ASCII text: between a third of the limit and the limit in
  // characters, so measured, for some 2,700 chunks of 512. Measured again from
  // its start at each (2,700 × 1.3 MB), it takes seconds; once, milliseconds.
  const limit = 2 * 1024 * 1024;
  for (const bytes of [limit, limit + 1]) {
    const { text } = stanzaOf("x".repeat(99) + "€", 102, bytes);
    const chunks = chunked(text + AFTER, 512);
    const started = performance.now();
    const seen = feed([HEADER, ...chunks], undefined, limit);
    const ms = performance.now() - started;
    deepEqual(seen.errors, []);
    deepEqual(seen.elements.map((el) => [el.attrs.id, isOversized(el)]), [
      ["big", bytes > limit],
      ["after", false],
    ]);
    ok(ms < 2_000, `${bytes} bytes in ${chunks.length} chunks took ${ms.toFixed(0)} ms`);
  }
});
