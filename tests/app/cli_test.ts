import assert from "node:assert/strict";
import { parseCommand } from "../../src/app/cli.ts";

Deno.test("cli: --config, --check, --log-level and --log-format", () => {
  assert.deepEqual(
    parseCommand(["--config", "a.yaml", "--check", "--log-level", "debug", "--log-format", "json"]),
    {
      kind: "run",
      check: true,
      credentialsDir: undefined,
      flags: { config: "a.yaml", logLevel: "debug", logFormat: "json" },
    },
  );
  assert.deepEqual(parseCommand(["-c", "b.yaml"]), {
    kind: "run",
    check: false,
    credentialsDir: undefined,
    flags: { config: "b.yaml", logLevel: undefined, logFormat: undefined },
  });
});

Deno.test("cli: --credentials-dir stands for $CREDENTIALS_DIRECTORY", () => {
  const command = parseCommand(["--check", "--credentials-dir", "/run/creds"]);
  assert.equal(command.kind === "run" && command.credentialsDir, "/run/creds");
});

Deno.test("cli: help and version", () => {
  assert.deepEqual(parseCommand(["--help"]), { kind: "help" });
  assert.deepEqual(parseCommand(["-h", "--config", "x"]), { kind: "help" });
  assert.deepEqual(parseCommand(["--version"]), { kind: "version" });
});

Deno.test("cli: unknown flags and stray arguments are usage errors naming them", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /--bogus/],
    [["stray"], /stray/],
    [["--config"], /--config/],
  ];
  for (const [args, message] of cases) {
    const command = parseCommand(args);
    assert.equal(command.kind, "usage_error", args.join(" "));
    assert.match((command as { message: string }).message, message);
  }
});
