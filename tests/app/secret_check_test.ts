/**
 * A reload's new secret tried on a second connection (src/app/secret_check.ts),
 * against a component server played by the test: what each answer means, and
 * that what reaches the check beside the serving instance goes on to it,
 * proved with the secret that instance holds.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { ProxyConfig } from "../../src/config/types.ts";
import { checkSecret } from "../../src/app/secret_check.ts";
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

const check = (url: string) => checkSecret(entry(url, NEW), entry(url, OLD));

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

Deno.test("secret check: accepted beside the serving instance, what reaches it goes on, proved with the old secret", async () => {
  const srv = answeringServer();
  try {
    const verdict = check(srv.url);
    // The server hands the check a request, then the serving instance's ping (old secret).
    await until(() => srv.text().includes("<handshake>"), "the handshake");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await srv.write(`<iq type='get' id='r1' from='alice@example.org/r' to='${DOMAIN}'/>`);
    const id = `${SIBLING}1`;
    await srv.write(
      pingText(DOMAIN, id, serving.sign(pingFields("get", id, undefined), Date.now())),
    );
    assert.deepEqual(await verdict, { kind: "accepted" });
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
