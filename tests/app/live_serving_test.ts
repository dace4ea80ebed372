/**
 * What the live check learns from a serving instance's HTTP listener
 * (src/app/live_serving.ts), with a fake `fetch`: its readiness, its
 * version, and what it says when it cannot be asked.
 */
import assert from "node:assert/strict";
import { askServing } from "../../src/app/live_serving.ts";
import { readyReport } from "../../src/ops/http.ts";

const DOMAIN = "proxy.example.org";
const HTTP = { host: "127.0.0.1", port: 9347 };

/** A listener whose /readyz says `ready` for `DOMAIN` with `resources`, and whose metrics carry a version. */
function listener(resources: number, asked: string[] = []): typeof fetch {
  return (input) => {
    const url = String(input);
    asked.push(url);
    if (url.endsWith("/metrics")) {
      return Promise.resolve(new Response('client_proxy_build_info{version="1.2.3"} 1\n'));
    }
    const report = readyReport([{ proxy: DOMAIN, online: true, resources }]);
    return Promise.resolve(
      new Response(JSON.stringify(report), { status: report.ready ? 200 : 503 }),
    );
  };
}

Deno.test("serving: a ready instance, its version and resources", async () => {
  const asked: string[] = [];
  const [fact] = await askServing(HTTP, DOMAIN, { timeoutMs: 1_000, fetch: listener(2, asked) });
  assert.deepEqual(asked, ["http://127.0.0.1:9347/readyz", "http://127.0.0.1:9347/metrics"]);
  assert.equal(fact.ok, true);
  assert.equal(fact.step, "readiness");
  assert.equal(
    fact.text,
    "the serving instance (version 1.2.3) is ready: stream online, 2 resources online",
  );
  assert.equal(fact.details?.version, "1.2.3");
  assert.equal(fact.details?.status, 200);
});

Deno.test("serving: no resource online fails the resources step", async () => {
  const [fact] = await askServing(HTTP, DOMAIN, { timeoutMs: 1_000, fetch: listener(0) });
  assert.equal(fact.ok, false);
  assert.equal(fact.step, "resources");
  assert.match(fact.text, /is not ready: no target resource online$/);
});

Deno.test("serving: another domain's listener, an unreachable one, or none configured", async () => {
  const [other] = await askServing(HTTP, "other.example.org", {
    timeoutMs: 1_000,
    fetch: listener(1),
  });
  assert.equal(other.ok, false);
  assert.match(other.text, /does not serve this domain/);

  const [down] = await askServing(HTTP, DOMAIN, {
    timeoutMs: 1_000,
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  assert.equal(down.ok, false);
  assert.equal(down.step, "readiness");
  assert.equal(
    down.text,
    "could not ask the serving instance at http://127.0.0.1:9347/readyz: connection refused",
  );

  const [none] = await askServing(undefined, DOMAIN, { timeoutMs: 1_000 });
  assert.equal(none.ok, true);
  assert.match(none.text, /^not asked: the config has no http: listener/);
});

Deno.test("serving: an IPv6 listener is asked in brackets", async () => {
  const asked: string[] = [];
  await askServing({ host: "::1", port: 9347 }, DOMAIN, {
    timeoutMs: 1_000,
    fetch: listener(1, asked),
  });
  assert.equal(asked[0], "http://[::1]:9347/readyz");
});
