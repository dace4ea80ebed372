/**
 * The HTTP side: the handler is called directly (no socket); one test puts
 * it on a socket and runs only with net permission (`deno task test`).
 */
import assert from "node:assert/strict";
import {
  createHandler,
  type MetricsSource,
  type Readiness,
  readyReport,
  serveHttp,
} from "../../src/ops/http.ts";
import { Metrics } from "../../src/ops/metrics.ts";
import { within } from "../support/bounded.ts";

const BASE = "http://127.0.0.1:9347";
const PROM = "text/plain; version=0.0.4; charset=utf-8";

function fakeMetrics(text = "# metrics\n"): MetricsSource {
  return { text: () => Promise.resolve(text), contentType: PROM };
}

function handler(states: Readiness[], metrics: MetricsSource = fakeMetrics()) {
  return createHandler({ metrics, readiness: () => states });
}

const READY: Readiness = { proxy: "a.example.org", online: true, resources: 2 };

function get(path: string, method = "GET"): Request {
  return new Request(`${BASE}${path}`, { method });
}

Deno.test("/healthz is 200 ok whatever the proxies' state", async () => {
  const res = await handler([{ ...READY, online: false }])(get("/healthz"));
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "ok\n");
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
});

Deno.test("/readyz is 200 when every proxy is online with a resource", async () => {
  const states = [READY, { proxy: "b.example.org", online: true, resources: 1 }];
  const res = await handler(states)(get("/readyz"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), {
    ready: true,
    proxies: [
      { proxy: "a.example.org", ready: true, online: true, resources: 2, reason: null },
      { proxy: "b.example.org", ready: true, online: true, resources: 1, reason: null },
    ],
  });
});

Deno.test("/readyz is 503 with the reason of each proxy that is not ready", async () => {
  const states: Readiness[] = [
    READY,
    { proxy: "b.example.org", online: false, resources: 0 },
    { proxy: "c.example.org", online: true, resources: 0 },
    { proxy: "d.example.org", online: true, resources: 3, standingBy: true },
    { proxy: "e.example.org", online: false, resources: 1 },
    { proxy: "f.example.org", online: false, resources: 0, refused: true },
    { proxy: "g.example.org", online: true, resources: 2, shuttingDown: true },
  ];
  const res = await handler(states)(get("/readyz"));
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), {
    ready: false,
    proxies: [
      { proxy: "a.example.org", ready: true, online: true, resources: 2, reason: null },
      {
        proxy: "b.example.org",
        ready: false,
        online: false,
        resources: 0,
        reason: "stream offline",
      },
      {
        proxy: "c.example.org",
        ready: false,
        online: true,
        resources: 0,
        reason: "no target resource online",
      },
      {
        proxy: "d.example.org",
        ready: false,
        online: true,
        resources: 3,
        reason: "standing by",
      },
      {
        proxy: "e.example.org",
        ready: false,
        online: false,
        resources: 1,
        reason: "stream offline",
      },
      {
        proxy: "f.example.org",
        ready: false,
        online: false,
        resources: 0,
        reason: "stream refused by the server",
      },
      {
        proxy: "g.example.org",
        ready: false,
        online: true,
        resources: 2,
        reason: "shutting down",
      },
    ],
  });
});

Deno.test("/readyz with no proxy at all is not ready", async () => {
  const res = await handler([])(get("/readyz"));
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { ready: false, proxies: [] });
  assert.deepEqual(readyReport([]), { ready: false, proxies: [] });
});

Deno.test("/readyz reads the state afresh on every request", async () => {
  let online = false;
  const handle = createHandler({
    metrics: fakeMetrics(),
    readiness: () => [{ proxy: "a.example.org", online, resources: 1 }],
  });
  assert.equal((await handle(get("/readyz"))).status, 503);
  online = true;
  assert.equal((await handle(get("/readyz"))).status, 200);
});

Deno.test("/status is 200 whatever the state, with each proxy's judgement and its resources", async () => {
  const resources = [
    { name: "jicofo-a", draining: true, pending: 2, keys: 17 },
    { name: "jicofo-b", draining: false, pending: 0, keys: 3 },
  ];
  const states: Readiness[] = [
    { ...READY, targetResources: resources },
    { proxy: "b.example.org", online: false, resources: 0 },
  ];
  const res = await handler(states)(get("/status"));
  assert.equal(res.status, 200, "not a probe: it says, it does not judge");
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    proxies: [
      {
        proxy: "a.example.org",
        ready: true,
        online: true,
        resources: 2,
        reason: null,
        target_resources: resources,
      },
      {
        proxy: "b.example.org",
        ready: false,
        online: false,
        resources: 0,
        reason: "stream offline",
        target_resources: [],
      },
    ],
  });
});

Deno.test("/metrics serves the exposition with its content type", async () => {
  const metrics = new Metrics();
  metrics.connected("a.example.org");
  const res = await handler([READY], metrics)(get("/metrics"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), PROM);
  assert.match(await res.text(), /^client_proxy_connects_total\{proxy="a.example.org"\} 1$/m);
});

Deno.test("/metrics is 500 when producing it fails", async () => {
  const broken: MetricsSource = {
    text: () => Promise.reject(new Error("boom")),
    contentType: PROM,
  };
  const res = await handler([READY], broken)(get("/metrics"));
  assert.equal(res.status, 500);
  assert.equal(await res.text(), "metrics unavailable\n");
});

Deno.test("HEAD gives the status and headers without a body", async () => {
  const handle = handler([{ ...READY, online: false }]);
  for (
    const [path, status] of [
      ["/healthz", 200],
      ["/readyz", 503],
      ["/status", 200],
      ["/metrics", 200],
    ] as const
  ) {
    const res = await handle(get(path, "HEAD"));
    assert.equal(res.status, status, path);
    assert.equal(res.body, null, path);
    assert.ok(res.headers.get("content-type"), path);
  }
});

Deno.test("other methods are 405 with Allow", async () => {
  const handle = handler([READY]);
  for (const method of ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"]) {
    for (const path of ["/healthz", "/readyz", "/status", "/metrics"]) {
      const res = await handle(get(path, method));
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), "GET, HEAD");
      await res.body?.cancel();
    }
  }
});

Deno.test("other paths are 404, query strings are ignored", async () => {
  const handle = handler([READY]);
  for (
    const path of [
      "/",
      "/metrics/",
      "/healthz/x",
      "/READYZ",
      "/status/",
      "/favicon.ico",
      "/%2e%2e/",
    ]
  ) {
    const res = await handle(get(path));
    assert.equal(res.status, 404, path);
    assert.equal(await res.text(), "not found\n");
  }
  assert.equal((await handle(get("/healthz?verbose=1"))).status, 200);
  assert.equal((await handle(get("/metrics#x"))).status, 200);
});

const netGranted =
  (await Deno.permissions.query({ name: "net", host: "127.0.0.1" })).state === "granted";

Deno.test({
  name: "serveHttp serves the handler on a socket until aborted",
  ignore: !netGranted,
  async fn() {
    const controller = new AbortController();
    const listened: { host: string; port: number }[] = [];
    const server = serveHttp(
      { host: "127.0.0.1", port: 0 },
      handler([READY]),
      { signal: controller.signal, onListen: (address) => listened.push(address) },
    );
    const { port } = server.addr;
    try {
      assert.deepEqual(listened, [{ host: "127.0.0.1", port }]);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(await res.text(), "ok\n");
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`, {
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(ready.status, 200);
      await ready.body?.cancel();
    } finally {
      controller.abort();
      await within(server.finished, 5_000, "server.finished after abort");
    }
    // Closed: a new connection is refused (not left hanging: the signal bounds it).
    await assert.rejects(
      fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(5_000) }),
      (error: unknown) => error instanceof TypeError,
    );
  },
});

const runGranted = (await Deno.permissions.query({ name: "run" })).state === "granted";

Deno.test({
  name: "serveHttp prints nothing when it starts listening",
  // Deno.serve's default onListen writes from inside the runtime, past any
  // console replaced here: only a child process's output shows it.
  ignore: !netGranted || !runGranted,
  async fn() {
    const http = new URL("../../src/ops/http.ts", import.meta.url).href;
    const script = `import { serveHttp } from ${JSON.stringify(http)};
      const controller = new AbortController();
      const server = serveHttp(
        { host: "127.0.0.1", port: 0 },
        () => new Response("ok"),
        { signal: controller.signal },
      );
      const res = await fetch(\`http://127.0.0.1:\${server.addr.port}/\`);
      if (await res.text() !== "ok") throw new Error("unexpected body");
      controller.abort();
      await server.finished;`;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", "--allow-net=127.0.0.1", "--allow-read", script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(30_000),
    }).output();
    const decoder = new TextDecoder();
    const stdout = decoder.decode(output.stdout);
    const stderr = decoder.decode(output.stderr);
    assert.equal(output.code, 0, `exit ${output.code}: ${stderr}`);
    assert.equal(stdout, "");
    assert.equal(stderr, "");
  },
});

Deno.test({
  name: "serveHttp throws at once when the port is taken",
  ignore: !netGranted,
  async fn() {
    const first = serveHttp({ host: "127.0.0.1", port: 0 }, handler([READY]));
    try {
      assert.throws(
        () => serveHttp({ host: "127.0.0.1", port: first.addr.port }, handler([READY])),
        Deno.errors.AddrInUse,
      );
    } finally {
      await first.shutdown();
    }
  },
});
