import assert from "node:assert/strict";
import { DEFAULT_CONFIG, parseCommand } from "../src/cli.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("cli: --config, --check and --log-level", () => {
  assert.deepEqual(parseCommand(["--config", "a.yaml", "--check", "--log-level", "debug"]), {
    kind: "run",
    config: "a.yaml",
    check: true,
    logLevel: "debug",
  });
  assert.deepEqual(parseCommand(["-c", "b.yaml"]), {
    kind: "run",
    config: "b.yaml",
    check: false,
    logLevel: undefined,
  });
});

Deno.test("cli: the config path comes from the flag, else CLIENT_PROXY_CONFIG, else the default", () => {
  const fromEnv = env({ CLIENT_PROXY_CONFIG: "/etc/client-proxy/config.yaml" });
  assert.equal(
    (parseCommand(["--config", "flag.yaml"], fromEnv) as { config: string }).config,
    "flag.yaml",
  );
  assert.equal(
    (parseCommand([], fromEnv) as { config: string }).config,
    "/etc/client-proxy/config.yaml",
  );
  assert.equal((parseCommand([], env({})) as { config: string }).config, DEFAULT_CONFIG);
});

Deno.test("cli: help and version", () => {
  assert.deepEqual(parseCommand(["--help"]), { kind: "help" });
  assert.deepEqual(parseCommand(["-h", "--config", "x"]), { kind: "help" });
  assert.deepEqual(parseCommand(["--version"]), { kind: "version" });
});

Deno.test("cli: unknown flags, stray arguments and bad levels are usage errors naming them", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /--bogus/],
    [["stray"], /stray/],
    [["--config"], /--config/],
    [["--log-level", "loud"], /--log-level: expected one of trace, debug, info.*got "loud"/],
  ];
  for (const [args, message] of cases) {
    const command = parseCommand(args);
    assert.equal(command.kind, "usage_error", args.join(" "));
    assert.match((command as { message: string }).message, message);
  }
});
