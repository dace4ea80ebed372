/**
 * The worker's runtime (src/app/runtime.ts) with a fake HTTP listener and
 * fake streams: a reload is all or nothing, and counted.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import type { Config } from "../../src/config/types.ts";
import type { Link, LinkOptions } from "../../src/link/connection.ts";
import { formatAddress, type HttpAddress } from "../../src/ops/http.ts";
import { Runtime } from "../../src/app/runtime.ts";
import type { Logging } from "../../src/app/worker_protocol.ts";
import { bounded } from "../support/bounded.ts";

const LOGGING: Logging = { level: "fatal", format: "text", fields: {} };
// Ports of the fake listener: none is ever bound. This one is "in use".
const TAKEN = 9002;

function config(options: { http?: number; secret: string }): Config {
  const parsed = parseConfig(
    `server: xmpp://127.0.0.1:5347
${options.http === undefined ? "" : `http: 127.0.0.1:${options.http}`}
proxies:
  - domain: proxy.example.org
    secret: ${options.secret}
    target_address: service@example.org
`,
    { file: "test.yaml" },
  );
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  return parsed.config;
}

/** What the fakes saw, in order, and the handler of the last listener bound. */
class Fakes {
  readonly events: string[] = [];
  handler: ((req: Request) => Promise<Response>) | undefined;
  readonly runtime = new Runtime({
    serve: (address: HttpAddress, handler) => {
      const at = formatAddress(address);
      if (address.port === TAKEN) throw new Deno.errors.AddrInUse("Address already in use");
      this.events.push(`listen ${at}`);
      this.handler = handler;
      return {
        shutdown: () => {
          this.events.push(`close ${at}`);
          return Promise.resolve();
        },
      };
    },
    openLink: (options: LinkOptions): Link => {
      this.events.push(`connect ${options.secret}`);
      return {
        state: "connecting",
        send: () => {},
        stop: () => {
          this.events.push(`disconnect ${options.secret}`);
          return Promise.resolve();
        },
        retune: () => {},
      };
    },
  });

  /** `client_proxy_config_reloads_total` by result, as /metrics says. */
  async reloads(): Promise<Record<string, number>> {
    const response = await this.handler!(new Request("http://127.0.0.1/metrics"));
    const text = await response.text();
    const count = (result: string) =>
      Number(
        text.match(
          new RegExp(`^client_proxy_config_reloads_total\\{result="${result}"\\} (\\d+)$`, "m"),
        )?.[1],
      );
    return { ok: count("ok"), failed: count("failed") };
  }
}

Deno.test("a reload whose HTTP address is taken changes nothing; the next one is compared with the old config", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "old" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["listen 127.0.0.1:9001", "connect old"]);

    await assert.rejects(
      fakes.runtime.reload(config({ http: TAKEN, secret: "new" }), LOGGING),
      /the HTTP listener cannot listen on 127\.0\.0\.1:9002: Address already in use/,
    );
    assert.deepEqual(fakes.events.splice(0), [], "the old listener and stream stay, untouched");
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 1 });

    // Against the config in force (port 9001, old secret): only the secret changed.
    await fakes.runtime.reload(config({ http: 9001, secret: "new" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["disconnect old", "connect new"]);
    assert.deepEqual(await fakes.reloads(), { ok: 1, failed: 1 });
    await fakes.runtime.stop("SIGTERM");
  }));

Deno.test("a reload binds the new HTTP address before it closes the old one", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    fakes.events.splice(0);
    await fakes.runtime.reload(config({ http: 9003, secret: "s" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["listen 127.0.0.1:9003", "close 127.0.0.1:9001"]);
    // Without `http:` the listener goes, and nothing else moves.
    await fakes.runtime.reload(config({ secret: "s" }), LOGGING);
    assert.deepEqual(fakes.events.splice(0), ["close 127.0.0.1:9003"]);
    await fakes.runtime.stop("SIGTERM");
  }));

Deno.test("a reload the main thread refused counts as failed", () =>
  bounded(5_000, async () => {
    const fakes = new Fakes();
    await fakes.runtime.start(config({ http: 9001, secret: "s" }), LOGGING);
    fakes.runtime.reloadRefused();
    fakes.runtime.reloadRefused();
    assert.deepEqual(await fakes.reloads(), { ok: 0, failed: 2 });
    await fakes.runtime.stop("SIGTERM");
  }));
