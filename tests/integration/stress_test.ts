/**
 * The exactly-once promise under churn: several requesters keep many
 * requests in flight while implementing resources join and leave. Bounded
 * in count (20,000 requests) and time; loopback only.
 */
import assert from "node:assert/strict";
import { resultFor, type TestClient } from "../support/client.ts";
import { DOMAIN, NS_STANZAS, request, withWorld, type World } from "../support/world.ts";

const TOTAL = 20_000;
const REQUESTERS = 4;
const IN_FLIGHT = 40; // per requester
const CHURN_EVERY_MS = 150;

/** An implementing resource that answers after a short random delay. */
async function slowResource(world: World, name: string): Promise<TestClient> {
  const client = await world.resource(name, { answer: false });
  client.onRequest(async (iq) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
    return resultFor(iq);
  });
  return client;
}

withWorld(
  `stress: ${TOTAL} requests from ${REQUESTERS} requesters while resources come and go`,
  async (world) => {
    const online: TestClient[] = [];
    let serial = 0;
    for (let i = 0; i < 3; i++) online.push(await slowResource(world, `w${serial++}`));
    const requesters = await Promise.all(
      Array.from({ length: REQUESTERS }, (_, i) => world.client(`r${i}`, "load")),
    );

    let churns = 0;
    let running = true;
    const churn = (async () => {
      while (running) {
        await new Promise((resolve) => setTimeout(resolve, CHURN_EVERY_MS));
        if (!running) break;
        const leaving = online.splice(Math.floor(Math.random() * online.length), 1)[0];
        const joining = slowResource(world, `w${serial++}`);
        await leaving.stop();
        online.push(await joining);
        churns++;
      }
    })();

    const sent = requesters.map(() => new Map<string, string>()); // id -> type
    let next = 0;
    const deadline = Date.now() + 120_000;
    try {
      await Promise.all(requesters.map(async (client, r) => {
        const lane = async () => {
          while (next < TOTAL && Date.now() < deadline) {
            const n = next++;
            const id = `s${n}`;
            const type = n % 5 === 0 ? "set" : "get";
            sent[r].set(id, type);
            await client.request(request(id, { type }), { timeoutMs: 20_000 });
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
      }));
    } finally {
      // Even when a lane failed: no churn may go on past this test.
      running = false;
      await churn.catch(() => {});
    }

    // Check the invariant on everything each requester received.
    const outcomes: Record<string, number> = {};
    let replies = 0;
    for (const [r, client] of requesters.entries()) {
      const seen = new Map<string, number>();
      for (const el of client.received) {
        if (el.name !== "iq") continue;
        const id = el.attrs.id ?? "";
        assert.ok(sent[r].has(id), `requester ${r} got a reply it did not ask for: ${el}`);
        assert.equal(el.attrs.from, DOMAIN, String(el));
        seen.set(id, (seen.get(id) ?? 0) + 1);
        const error = el.getChild("error");
        const condition = error?.children.find((c) =>
          typeof c !== "string" && c.attrs.xmlns === NS_STANZAS && c.name !== "text"
        );
        const key = el.attrs.type === "result"
          ? "result"
          : `error:${typeof condition === "string" ? "?" : condition?.name}`;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        replies++;
      }
      for (const id of sent[r].keys()) {
        assert.equal(seen.get(id), 1, `requester ${r} request ${id}: ${seen.get(id) ?? 0} replies`);
      }
    }
    const requests = sent.reduce((n, m) => n + m.size, 0);
    assert.equal(requests, TOTAL, "every request was sent within the time bound");
    assert.equal(replies, TOTAL);
    // Errors are allowed (a set whose resource left), but most requests succeed.
    assert.ok((outcomes.result ?? 0) > TOTAL / 2, JSON.stringify(outcomes));
    console.log(
      `stress: ${requests} requests, ${replies} replies, each exactly once to its own requester; ` +
        `${churns} resource changes; outcomes ${JSON.stringify(outcomes)}`,
    );
  },
  {
    entry: { request_timeout: "10s" },
    users: Array.from({ length: REQUESTERS }, (_, i) => `r${i}`),
  },
);
