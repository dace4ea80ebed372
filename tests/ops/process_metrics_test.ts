/** The process's own metrics: its version, start, memory and reloads, read from /metrics. */
import assert from "node:assert/strict";
import { Metrics } from "../../src/ops/metrics.ts";
import { samples } from "../support/exposition.ts";

Deno.test("build info, start time and the last reload's result and time", async () => {
  const metrics = new Metrics();
  metrics.process({ version: "9.8.7", startedAt: 1_700_000_000_000 });
  let got = samples(await metrics.text());
  assert.equal(got.get(`client_proxy_build_info{version="9.8.7"}`), "1");
  assert.equal(got.get("process_start_time_seconds"), "1700000000");
  assert.equal(got.get("client_proxy_config_last_reload_successful"), "1");
  assert.equal(got.get("client_proxy_config_last_reload_success_timestamp_seconds"), "1700000000");
  assert.ok(Number(got.get("process_resident_memory_bytes")) > 1_000_000);
  metrics.reloaded("failed", 1_700_000_060_000);
  got = samples(await metrics.text());
  assert.equal(got.get("client_proxy_config_last_reload_successful"), "0");
  assert.equal(got.get("client_proxy_config_last_reload_success_timestamp_seconds"), "1700000000");
  metrics.reloaded("ok", 1_700_000_120_000);
  got = samples(await metrics.text());
  assert.equal(got.get("client_proxy_config_last_reload_successful"), "1");
  assert.equal(got.get("client_proxy_config_last_reload_success_timestamp_seconds"), "1700000120");
});

Deno.test("reloads are counted by result, each at 0 before the first", async () => {
  const metrics = new Metrics();
  const before = samples(await metrics.text());
  assert.equal(before.get('client_proxy_config_reloads_total{result="ok"}'), "0");
  assert.equal(before.get('client_proxy_config_reloads_total{result="failed"}'), "0");
  metrics.reloaded("failed");
  metrics.reloaded("ok");
  metrics.reloaded("failed");
  const after = samples(await metrics.text());
  assert.equal(after.get('client_proxy_config_reloads_total{result="ok"}'), "1");
  assert.equal(after.get('client_proxy_config_reloads_total{result="failed"}'), "2");
});
