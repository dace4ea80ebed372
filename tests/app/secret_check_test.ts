/**
 * A reload's new secret tried on a second connection (src/app/secret_check.ts),
 * against a component server played by the test: what each answer means, and
 * that what reaches the check beside the serving instance goes on to it,
 * proved with the secret that instance holds.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { checkSecret, judgeSecret } from "../../src/app/secret_check.ts";
import { type Proof, Prover } from "../../src/link/proof.ts";
import { readRelay } from "../../src/link/relay.ts";
import { pingFields, pingText } from "../../src/link/self_ping.ts";
import { parseXml } from "../../src/core/xml.ts";
import { answeringServer, DOMAIN } from "../support/component_peer.ts";
import { until } from "../support/tcp_peer.ts";

const OLD = "old-secret";
const NEW = "new-secret";
/** The serving instance: online since long ago, proving with the old secret. */
const SIBLING = "cp-ping-0123abcd-1000000000000-";
const serving = new Prover(DOMAIN, OLD);

function entry(server: string, secret: string): ProxyConfig {
  const parsed = parseConfig(
    `server: ${server}\nproxies:\n  - domain: ${DOMAIN}\n    secret: ${secret}\n` +
      "    target_address: service@example.org\n",
    { file: "test.yaml" },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config.proxies[0];
}

const check = (url: string) => checkSecret(entry(url, NEW), entry(url, OLD), false);

Deno.test("secret check: refused with a stream error, the condition is the verdict", async () => {
  for (const condition of ["not-authorized", "host-unknown"]) {
    const srv = answeringServer({ refuse: condition });
    try {
      assert.deepEqual(await check(srv.url), { kind: "refused", condition });
      assert.match(srv.text(), /<handshake>/, "the new secret's handshake was sent");
    } finally {
      srv.close();
    }
  }
});

Deno.test("secret check: conflict (Prosody, an instance serving) means the secret was accepted", async () => {
  const srv = answeringServer({ refuse: "conflict" });
  try {
    assert.deepEqual(await check(srv.url), { kind: "accepted" });
  } finally {
    srv.close();
  }
});

Deno.test("secret check: no server, no verdict", async () => {
  const verdict = await check("xmpp://127.0.0.1:1");
  assert.equal(verdict.kind, "unknown");
  assert.match(verdict.kind === "unknown" ? verdict.reason : "", /ECONNREFUSED/);
});

/**
 * Once the check is in: the server hands it a request (`r1`), then the
 * serving instance's ping, proved with the old secret.
 */
async function requestThenSiblingPing(srv: ReturnType<typeof answeringServer>): Promise<void> {
  await until(() => srv.text().includes("<handshake>"), "the handshake");
  await new Promise((resolve) => setTimeout(resolve, 50));
  await srv.write(`<iq type='get' id='r1' from='alice@example.org/r' to='${DOMAIN}'/>`);
  const id = `${SIBLING}1`;
  await srv.write(
    pingText(DOMAIN, id, serving.sign(pingFields("get", id, undefined), Date.now())),
  );
}

Deno.test("secret check: accepted beside the serving instance, what reaches it goes on, proved with the old secret", async () => {
  const srv = answeringServer();
  try {
    const verdict = check(srv.url);
    await requestThenSiblingPing(srv);
    // The serving instance (SIBLING, online since long ago) showed itself.
    assert.deepEqual(await verdict, { kind: "accepted", siblings: [["0123abcd", 1000000000000]] });
    const relays = [...srv.text().matchAll(/<message[^>]*>.*?<\/message>/gs)].flatMap((m) => {
      const relay = readRelay(
        parseXml(m[0]),
        DOMAIN,
        (fields: readonly string[], proof: Partial<Proof>) =>
          serving.check(fields, proof, Date.now()),
      );
      return relay?.kind === "relay" ? [relay.stanza.attrs.id] : [];
    });
    assert.deepEqual(relays, ["r1"], "relayed with a proof the serving instance accepts");
    assert.doesNotMatch(srv.text(), /type="error"/, "nothing answered in its stead");
  } finally {
    srv.close();
  }
});

Deno.test("secret check beside the proxy serving here: what reaches it goes straight to that proxy", async () => {
  const srv = answeringServer();
  try {
    const local: (string | undefined)[][] = [];
    const verdict = checkSecret(entry(srv.url, NEW), entry(srv.url, OLD), false, (stanza) => {
      const { type, id, from, to } = stanza.attrs;
      local.push([stanza.name, type, id, from, to]);
    });
    await requestThenSiblingPing(srv);
    assert.deepEqual(await verdict, { kind: "accepted", siblings: [["0123abcd", 1000000000000]] });
    assert.deepEqual(local, [["iq", "get", "r1", "alice@example.org/r", DOMAIN]]);
    assert.doesNotMatch(srv.text(), /<message/, "nothing relayed through the server");
    assert.doesNotMatch(srv.text(), /type="error"/, "nothing answered in its stead");
  } finally {
    srv.close();
  }
});

Deno.test("secret check: accepted with nobody serving, a request that reaches it is answered", async () => {
  const srv = answeringServer();
  try {
    const verdict = check(srv.url);
    await until(() => srv.text().includes("<handshake>"), "the handshake");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await srv.write(`<iq type='set' id='r2' from='alice@example.org/r' to='${DOMAIN}'/>`);
    assert.deepEqual(await verdict, { kind: "accepted" });
    const error = srv.text().match(/<iq[^>]*id="r2"[^>]*>.*?<\/iq>/s)?.[0];
    assert.ok(error, srv.text());
    const el = parseXml(error);
    assert.deepEqual([el.attrs.type, el.attrs.to, el.attrs.from], [
      "error",
      "alice@example.org/r",
      DOMAIN,
    ]);
    const condition = el.getChild("error");
    assert.equal(condition?.attrs.type, "wait");
    assert.ok(condition?.getChild("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  } finally {
    srv.close();
  }
});

Deno.test("judgeSecret: what a reload does with each verdict, by where its stream stands", () => {
  const serving = { online: true, refused: false, instance: "self0001", since: 2_000 };
  const standby = { online: false, refused: false, instance: "self0001" };
  /** A standby's look: online, its stream newer than the serving instance's. */
  const looking = { online: true, refused: false, instance: "self0001", since: 3_000 };
  const refusedStream = { online: false, refused: true, instance: "self0001" };
  const d = DOMAIN;
  assert.deepEqual(judgeSecret(d, { kind: "refused", condition: "not-authorized" }, serving), {
    kind: "fail",
    reason: "secret_refused",
    message: `the server refused the new secret of ${d} (not-authorized): the running stream ` +
      "keeps the old one",
  });
  // No verdict: a serving stream is not given up for it; one that does not serve is.
  const unknown = { kind: "unknown", reason: "no answer from the server" } as const;
  assert.deepEqual(judgeSecret(d, unknown, serving), {
    kind: "fail",
    reason: "secret_untried",
    message: `the new secret of ${d} could not be tried (no answer from the server): the ` +
      "running stream keeps the old one; send SIGHUP again",
  });
  for (const standing of [standby, refusedStream]) {
    assert.deepEqual(judgeSecret(d, unknown, standing), {
      kind: "go",
      warning: {
        event: "config.secret_untried",
        fields: { domain: d, reason: unknown.reason, action: "reloading without trying it" },
      },
    });
  }
  // Another instance proved itself with the old secret, up since before ours: a standby (or one
  // of its looks) waits for it to rotate first.
  const beside = { kind: "accepted", siblings: [["other001", 1_000]] } as const;
  for (const standing of [standby, looking]) {
    assert.deepEqual(judgeSecret(d, beside, standing), {
      kind: "fail",
      reason: "sibling_not_rotated",
      message: `another instance serves ${d} with the old secret: reload it first, then this one`,
    });
  }
  // Serving, a younger one is a standby's look; refused, the trial proved with the new secret.
  const look = { kind: "accepted", siblings: [["other001", 5_000]] } as const;
  assert.deepEqual(judgeSecret(d, look, serving), { kind: "go" });
  assert.deepEqual(judgeSecret(d, beside, refusedStream), { kind: "go" });
  // Its own secret refused (the server has the new one), the trial proves with the new: one that
  // answers with the old one's proof still holds it.
  const stranger = { kind: "accepted", strangers: [["other001", 1_000]] } as const;
  assert.equal(judgeSecret(d, stranger, refusedStream).kind, "fail");
  assert.equal(judgeSecret(d, stranger, standby).kind, "go");
  // Only itself beside the trial: nobody else to wait for.
  assert.deepEqual(judgeSecret(d, { kind: "accepted", siblings: [["self0001", 1_000]] }, standby), {
    kind: "go",
  });
  assert.deepEqual(judgeSecret(d, { kind: "accepted", lostAtClose: 2 }, serving), {
    kind: "go",
    warning: { event: "config.secret_tried", fields: { domain: d, lost_at_close: 2 } },
  });
});
