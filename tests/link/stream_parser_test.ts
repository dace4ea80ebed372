/**
 * The stream parser as xmpp.js uses it: the scanner's findings as events
 * (what they are is tested in tests/core/xml_scan_test.ts).
 */
import { deepEqual, equal as assertEquals, throws } from "node:assert/strict";
import { StreamParser } from "../../src/link/stream_parser.ts";
import type { XmlElement } from "../../src/core/xml.ts";

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'" +
  " xml:lang='en' xmlns='jabber:component:accept' id='s1d' from='proxy.localhost'>";

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

Deno.test("stream parser: the header, each stanza, the end and bad XML as xmpp.js's Parser events", () => {
  const events: string[] = [];
  const parser = new StreamParser();
  parser.on("start", (el: XmlElement) => events.push(`start ${el.name} ${el.attrs.id}`));
  parser.on("element", (el: XmlElement) => events.push(`element ${el.name} ${el.attrs.id}`));
  parser.on("end", (el: XmlElement) => events.push(`end ${el.name}`));
  parser.on("error", (error: Error) => events.push(`error ${error.name}`));
  parser.write(HEADER + "<iq id='1'/><message id='2'><body>hi</body></message></stream:stream>");
  parser.end("<iq id='after'/>");
  deepEqual(events, [
    "start stream:stream s1d",
    "element iq 1",
    "element message 2",
    "end stream:stream",
  ]);
  const bad = new StreamParser();
  const errors: Error[] = [];
  bad.on("error", (error: Error) => errors.push(error));
  bad.end(HEADER + "<iq><!-- no --></iq>");
  deepEqual(errors.map((error) => error.name), ["XMLError"]);
});
