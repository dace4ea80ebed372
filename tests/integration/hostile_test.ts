/**
 * Hostile peers (issue 16) against a real Prosody: what a requester and the
 * implementing client could make the proxy do before, and cannot now.
 */
import assert from "node:assert/strict";
import { resultFor } from "../support/client.ts";
import { assertError, DOMAIN, NS_STANZAS, request, TARGET, withWorld } from "../support/world.ts";
import { xml, type XmlElement } from "../../src/core/xml.ts";

/** A resource long enough that the requester's address needs a token. */
const LONG = "r".repeat(1010);

withWorld(
  "hole 1: a late reply from before a restart never reaches another requester",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    const alice = await world.client("alice", LONG);
    const lost = alice.request(request("1"), { timeoutMs: 20_000 }).catch(() => undefined);
    const forAlice = await impl.waitFor((el) => el.attrs.id === "1", { includePast: true });
    assert.match(forAlice.attrs.from ?? "", new RegExp(`^${DOMAIN}//[0-9a-z]+$`));

    // The proxy dies with Alice's request; a new one starts.
    await world.proxy.kill();
    await world.startProxy(world.lastEntry, world.lastTop);
    await world.proxy.waitForLog(/target\.resource_up .*resource=a/);

    // Bob forces the long form too, with the same id.
    const bob = await world.client("bob", LONG);
    const bobsReply = bob.request(request("1"), { timeoutMs: 10_000 });
    bobsReply.catch(() => {}); // awaited below; a failing check must not leave it unhandled
    const forBob = await impl.waitFor(
      (el) => el.attrs.id === "1" && el.attrs.from !== forAlice.attrs.from,
    );
    assert.notEqual(forBob.attrs.from, forAlice.attrs.from);

    // The implementing client answers Alice's request late: nobody gets it.
    await impl.send(resultFor(forAlice, xml("secret", { xmlns: "urn:test" }, "for alice")));
    await world.proxy.waitForLog(/stanza\.dropped .*reason=unmatched/);
    // Bob gets his own answer, and only that.
    await impl.send(resultFor(forBob, xml("answer", { xmlns: "urn:test" }, "for bob")));
    const reply = await bobsReply;
    assert.equal(reply.attrs.type, "result");
    assert.equal(reply.getChildText("answer", "urn:test"), "for bob");
    assert.deepEqual(
      bob.received.filter((el) => el.getChild("secret", "urn:test")).map(String),
      [],
    );
    void lost;
  },
);

withWorld(
  "hole 2: a relay sent to <domain>/<domain>. is refused, and nothing it carries is delivered",
  async (world) => {
    const impl = await world.resource("a", { answer: false });
    const alice = await world.client("alice", "r");
    const reply = alice.request(request("q"), { timeoutMs: 10_000 });
    reply.catch(() => {}); // awaited below; a failing check must not leave it unhandled
    const held = await impl.waitFor((el) => el.attrs.id === "q", { includePast: true });
    // The implementing client tries to make the proxy deliver, as if a
    // sibling had relayed it, a result with any `from` it likes.
    const forged = xml(
      "iq",
      { type: "result", id: "q", from: `${TARGET}/other`, to: held.attrs.from },
      xml("forged", { xmlns: "urn:test" }),
    );
    for (const spelling of [`${DOMAIN}.`, DOMAIN.toUpperCase(), "ｐｒｏｘｙ.localhost"]) {
      const refused = impl.waitFor((el) =>
        el.name === "message" && el.attrs.id === spelling && el.attrs.type === "error"
      );
      await impl.send(
        xml(
          "message",
          { id: spelling, to: `${DOMAIN}/${spelling}` },
          xml("relay", { xmlns: "urn:xmpp:client-proxy:relay:0" }, forged),
        ),
      );
      const error = (await refused).getChild("error");
      assert.ok(error?.getChild("jid-malformed", NS_STANZAS), String(error));
      // A ping shaped like a sibling's, to the same address: refused too.
      const ping = await impl.request(
        xml(
          "iq",
          { type: "get", to: `${DOMAIN}/${spelling}` },
          xml("ping", { xmlns: "urn:xmpp:ping" }),
        ),
      );
      assert.equal(ping.attrs.type, "error", String(ping));
      assert.ok(ping.getChild("error")?.getChild("jid-malformed", NS_STANZAS), String(ping));
    }
    // Alice's request is still pending, and gets the real answer only.
    await impl.send(resultFor(held, xml("answer", { xmlns: "urn:test" }, "real")));
    const got = await reply;
    assert.equal(got.getChildText("answer", "urn:test"), "real");
    assert.deepEqual(alice.received.filter((el) => el.getChild("forged", "urn:test")), []);
    // The proxy never took a sibling's presence from it.
    assert.doesNotMatch(world.proxy.log(), /stream\.(sibling|hand_over|stand)/);
  },
  { entry: { messages: "forward", allow_target_requests: true } },
);

withWorld(
  "hole 4: deny patterns match however they are spelled (ß, full-width, trailing dot)",
  async (world) => {
    await world.resource("a");
    const attempts: Array<[string, XmlElement]> = [];
    for (const user of ["strasse", "bob", "alice"]) {
      const client = await world.client(user, "r");
      attempts.push([user, await client.request(request(`from-${user}`))]);
    }
    const [[, strasse], [, bob], [, alice]] = attempts;
    assertError(strasse, { id: "from-strasse", type: "auth", condition: "forbidden" });
    assertError(bob, { id: "from-bob", type: "auth", condition: "forbidden" });
    assert.equal(alice.attrs.type, "result", String(alice));
  },
  { entry: { deny: ["Straße@localhost", "ＢＯＢ@ＬＯＣＡＬＨＯＳＴ."] }, users: ["strasse"] },
);
