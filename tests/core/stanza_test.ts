/** src/core/stanza.ts: the error replies and presences the proxy writes, and reading a condition. */
import assert from "node:assert/strict";
import {
  errorCondition,
  errorReply,
  NS_STANZAS,
  presence,
  requestError,
} from "../../src/core/stanza.ts";
import { lazyElement, parseXml, serialize, xml } from "../../src/core/xml.ts";

const NS = "urn:ietf:params:xml:ns:xmpp-stanzas";

Deno.test("NS_STANZAS: RFC 6120's namespace of stanza errors", () => {
  assert.equal(NS_STANZAS, NS);
});

Deno.test("errorReply: exactly the stanza a requester receives", () => {
  const reply = errorReply(
    "iq",
    { to: "alice@example.org/phone", from: "proxy.example.org", id: "q1" },
    { type: "cancel", condition: "service-unavailable" },
  );
  assert.equal(
    serialize(reply),
    `<iq type="error" id="q1" to="alice@example.org/phone" from="proxy.example.org">` +
      `<error type="cancel"><service-unavailable xmlns="${NS}"/></error></iq>`,
  );
});

Deno.test("errorReply: with a text, after the condition, escaped", () => {
  const reply = errorReply(
    "message",
    { to: "bob@example.org", from: "proxy.example.org", id: "m-7" },
    { type: "wait", condition: "resource-constraint", text: "too many <requests> & such" },
  );
  assert.equal(
    serialize(reply),
    `<message type="error" id="m-7" to="bob@example.org" from="proxy.example.org">` +
      `<error type="wait"><resource-constraint xmlns="${NS}"/>` +
      `<text xmlns="${NS}">too many &lt;requests&gt; &amp; such</text></error></message>`,
  );
});

Deno.test("errorReply: no id in, no id out", () => {
  const reply = errorReply(
    "presence",
    { to: "alice@example.org", from: "proxy.example.org", id: undefined },
    { type: "modify", condition: "bad-request" },
  );
  assert.equal(
    serialize(reply),
    `<presence type="error" to="alice@example.org" from="proxy.example.org">` +
      `<error type="modify"><bad-request xmlns="${NS}"/></error></presence>`,
  );
});

Deno.test("errorReply: the error is the only child (the payload is not echoed)", () => {
  const reply = errorReply(
    "iq",
    { to: "a@b/c", from: "proxy.example.org", id: "1" },
    { type: "auth", condition: "forbidden", text: "no" },
  );
  assert.equal(reply.children.length, 1);
  const error = reply.getChild("error");
  assert.ok(error);
  // The error element is in the stream's namespace: no xmlns of its own.
  assert.deepEqual(error.attrs, { type: "auth" });
  assert.deepEqual(
    error.children.map((c) => typeof c === "string" ? c : `${c.name} ${c.attrs.xmlns}`),
    [`forbidden ${NS}`, `text ${NS}`],
  );
  assert.equal(error.getChildText("text", NS), "no");
});

Deno.test("errorReply: the attributes can be read back after a round trip", () => {
  const reply = parseXml(serialize(errorReply(
    "iq",
    { to: 'alice@example.org/a"b', from: "proxy.example.org", id: "x&y" },
    { type: "cancel", condition: "remote-server-timeout" },
  )));
  assert.equal(reply.attrs.type, "error");
  assert.equal(reply.attrs.id, "x&y");
  assert.equal(reply.attrs.to, 'alice@example.org/a"b');
  assert.equal(errorCondition(reply), "remote-server-timeout");
});

Deno.test("presence: available has no type; others carry theirs", () => {
  const addressing = { to: "svc@example.org", from: "proxy.example.org" };
  assert.equal(
    serialize(presence(undefined, addressing)),
    `<presence to="svc@example.org" from="proxy.example.org"/>`,
  );
  assert.equal(
    serialize(presence("unavailable", addressing)),
    `<presence type="unavailable" to="svc@example.org" from="proxy.example.org"/>`,
  );
  assert.equal(
    serialize(presence("subscribe", addressing)),
    `<presence type="subscribe" to="svc@example.org" from="proxy.example.org"/>`,
  );
});

Deno.test("errorCondition: the defined condition of a received error", () => {
  const stanza = parseXml(
    `<iq type="error" id="1"><error type="cancel">` +
      `<item-not-found xmlns="${NS}"/></error></iq>`,
  );
  assert.equal(errorCondition(stanza), "item-not-found");
});

Deno.test("errorCondition: text, whitespace and other namespaces are skipped", () => {
  // An application-specific condition and a text before the defined one.
  const stanza = parseXml(
    `<iq type="error" id="1">\n  <error type="wait">\n` +
      `    <text xmlns="${NS}">busy</text>\n` +
      `    <too-busy xmlns="urn:example:app"/>\n` +
      `    <resource-constraint xmlns="${NS}"/>\n  </error>\n</iq>`,
  );
  assert.equal(errorCondition(stanza), "resource-constraint");
});

Deno.test("errorCondition: undefined without a defined condition", () => {
  const cases = [
    `<iq type="result" id="1"><query xmlns="jabber:iq:version"/></iq>`,
    `<iq type="error" id="1"/>`,
    `<iq type="error" id="1"><error type="cancel"/></iq>`,
    `<iq type="error" id="1"><error type="cancel"><text xmlns="${NS}">x</text></error></iq>`,
    `<iq type="error" id="1"><error type="cancel"><bad-request xmlns="urn:other"/></error></iq>`,
    `<iq type="error" id="1"><error type="cancel"><bad-request/></error></iq>`,
  ];
  for (const text of cases) assert.equal(errorCondition(parseXml(text)), undefined, text);
});

Deno.test("errorCondition: of each reply errorReply builds", () => {
  for (const condition of ["conflict", "jid-malformed", "not-acceptable"] as const) {
    const reply = errorReply("iq", { to: "a@b", from: "c", id: "1" }, {
      type: "cancel",
      condition,
      text: "why",
    });
    assert.equal(errorCondition(reply), condition);
  }
});

Deno.test("errorCondition: of a stanza as read from the stream (children not yet parsed)", () => {
  const stanza = lazyElement("iq", { type: "error", id: "1" }, {
    inner: `<error type="cancel"><recipient-unavailable xmlns="${NS}"/></error>`,
    parent: null,
  });
  assert.equal(errorCondition(stanza), "recipient-unavailable");
  const empty = lazyElement("iq", { type: "result", id: "1" }, { inner: "", parent: null });
  assert.equal(errorCondition(empty), undefined);
  // Built by hand, like the proxy's own stanzas.
  assert.equal(errorCondition(xml("iq", { type: "error" }, xml("error", {}))), undefined);
});

Deno.test("requestError: a get or set with a sender is answered from where it was sent; nothing else", () => {
  const error = { type: "wait", condition: "service-unavailable", text: "later" } as const;
  const get = parseXml(`<iq type="get" id="g" from="a@example.org/r" to="d.example/x"><q/></iq>`);
  assert.equal(
    String(requestError(get, "d.example", error)),
    '<iq type="error" id="g" to="a@example.org/r" from="d.example/x"><error type="wait">' +
      '<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>' +
      '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">later</text></error></iq>',
  );
  const noTo = parseXml(`<iq type="set" id="s" from="a@example.org/r"/>`);
  assert.equal(requestError(noTo, "d.example", error)?.attrs.from, "d.example");
  for (
    const text of [
      `<iq type="result" id="r" from="a@example.org/r"/>`,
      `<iq type="error" id="e" from="a@example.org/r"/>`,
      `<iq type="get" id="n"/>`,
      `<message type="chat" from="a@example.org/r"/>`,
    ]
  ) assert.equal(requestError(parseXml(text), "d.example", error), undefined, text);
});
