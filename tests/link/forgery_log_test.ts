/**
 * The warnings of forged relays and pings (src/link/forgery_log.ts), on a
 * fake clock: one a minute per event and rule, with the count left out.
 */
import assert from "node:assert/strict";
import { ForgeryLog } from "../../src/link/forgery_log.ts";
import { logger } from "../../src/ops/log.ts";
import { captureLogs } from "../support/logs.ts";

const DOMAIN = "proxy.example.org";
const MINUTE = 60_000;

Deno.test("a flood of forged relays makes one warning a minute, the next one says how many were left out", () => {
  const logs = captureLogs();
  let clock = 0;
  const forgeries = new ForgeryLog(logger(DOMAIN), DOMAIN, () => clock);
  try {
    for (let i = 0; i < 1000; i++) {
      clock = i;
      // Each names another stream: what it names is the forger's to choose, no key.
      forgeries.say("relay", "no proof", `cp-ping-${i}-`);
    }
    assert.equal(logs.lines.length, 1, logs.lines.join(""));
    assert.match(
      logs.lines[0],
      / WARNING proxy\.example\.org stream\.forged_relay domain=proxy\.example\.org peer=cp-ping-0- rule="no proof"\n$/,
    );
    clock = MINUTE - 1;
    forgeries.say("relay", "no proof", "unnamed");
    assert.equal(logs.lines.length, 1, "still within the minute");
    clock = MINUTE;
    forgeries.say("relay", "no proof", "unnamed");
    assert.equal(logs.lines.length, 2);
    assert.match(logs.lines[1], / peer=unnamed rule="no proof" suppressed=1000\n$/);
  } finally {
    logs.restore();
  }
});

Deno.test("pings and relays, and each rule, have a minute of their own", () => {
  const logs = captureLogs();
  let clock = 0;
  const forgeries = new ForgeryLog(logger(DOMAIN), DOMAIN, () => clock);
  try {
    forgeries.say("relay", "no proof", "a");
    forgeries.say("ping", "no proof", "b");
    forgeries.say("ping", "proof used before", "c");
    forgeries.say("ping", "proof used before", "d");
    clock = 10;
    forgeries.say("relay", "proof does not match", "e");
    const said = logs.lines.map((line) =>
      / (stream\.forged_\w+) .*peer=(\w+)/.exec(line)!.slice(1)
    );
    assert.deepEqual(said, [
      ["stream.forged_relay", "a"],
      ["stream.forged_ping", "b"],
      ["stream.forged_ping", "c"],
      ["stream.forged_relay", "e"],
    ]);
    // No count on a first warning.
    assert.ok(logs.lines.every((line) => !line.includes("suppressed")));
  } finally {
    logs.restore();
  }
});

Deno.test("a stale proof's warning says the two hosts' clocks may be apart", () => {
  const logs = captureLogs();
  const forgeries = new ForgeryLog(logger(DOMAIN), DOMAIN, () => 0);
  try {
    forgeries.say("ping", "proof outside the validity window", "cp-ping-x-");
    forgeries.say("ping", "proof does not match", "cp-ping-x-");
    assert.equal(logs.lines.length, 2, logs.lines.join(""));
    assert.match(logs.lines[0], / hint="if another instance [^"]*clock[^"]*NTP\)"\n$/);
    assert.doesNotMatch(logs.lines[1], /hint=/);
  } finally {
    logs.restore();
  }
});
