import assert from "node:assert/strict";
import { EXIT, parseCommand, USAGE } from "../../src/app/cli.ts";

Deno.test("cli: --config, --check, --log-level and --log-format", () => {
  assert.deepEqual(
    parseCommand(["--config", "a.yaml", "--check", "--log-level", "debug", "--log-format", "json"]),
    {
      kind: "run",
      check: true,
      credentialsDir: undefined,
      expandEnv: false,
      flags: { config: "a.yaml", logLevel: "debug", logFormat: "json" },
    },
  );
  assert.deepEqual(parseCommand(["-c", "b.yaml"]), {
    kind: "run",
    check: false,
    credentialsDir: undefined,
    expandEnv: false,
    flags: { config: "b.yaml", logLevel: undefined, logFormat: undefined },
  });
});

Deno.test("cli: --credentials-dir stands for $CREDENTIALS_DIRECTORY", () => {
  const command = parseCommand(["--check", "--credentials-dir", "/run/creds"]);
  assert.equal(command.kind === "run" && command.credentialsDir, "/run/creds");
});

Deno.test("cli: --expand-env asks for the environment in the config's values", () => {
  const command = parseCommand(["--expand-env", "-c", "c.yaml"]);
  assert.equal(command.kind === "run" && command.expandEnv, true);
  assert.match(USAGE, /--expand-env +put environment variables into the config's values/);
});

Deno.test("cli: help and version", () => {
  assert.deepEqual(parseCommand(["--help"]), { kind: "help" });
  assert.deepEqual(parseCommand(["-h", "--config", "x"]), { kind: "help" });
  assert.deepEqual(parseCommand(["--version"]), { kind: "version" });
});

Deno.test("cli: unknown flags and stray arguments are usage errors naming them, in a line", () => {
  const cases: Array<[string[], string]> = [
    [["--bogus"], "unknown option --bogus"],
    [["-x", "--check"], "unknown option -x"],
    [["stray"], 'unexpected argument "stray": every option starts with --'],
    [["--config"], "--config needs a value"],
    [["-c"], "--config needs a value"],
    [["--check=yes"], "--check takes no value"],
  ];
  for (const [args, message] of cases) {
    assert.deepEqual(parseCommand(args), { kind: "usage_error", message }, args.join(" "));
  }
});

Deno.test("cli: a usage error carries the --log-format asked for, to be said in it", () => {
  assert.deepEqual(parseCommand(["--log-format", "json", "--bogus"]), {
    kind: "usage_error",
    message: "unknown option --bogus",
    logFormat: "json",
  });
  const json = parseCommand(["--json", "--log-format=json"]);
  assert.equal(json.kind === "usage_error" && json.logFormat, "json");
  // After `--`, nothing is an option.
  const after = parseCommand(["--bogus", "--", "--log-format", "json"]);
  assert.equal(after.kind === "usage_error" && after.logFormat, undefined);
});

Deno.test("cli: --check --live, its timeout and --json; `check` is --check", () => {
  assert.deepEqual(parseCommand(["--check", "--live", "-c", "a.yaml"]), {
    kind: "run",
    check: true,
    credentialsDir: undefined,
    expandEnv: false,
    flags: { config: "a.yaml", logLevel: undefined, logFormat: undefined },
    live: { timeoutMs: 10_000, json: false },
  });
  assert.deepEqual(
    parseCommand(["check", "--live", "--timeout", "2.5s", "--json"]),
    parseCommand(["--check", "--live", "--timeout", "2500ms", "--json"]),
  );
  const command = parseCommand(["check", "--live", "--timeout", "3s", "--json"]);
  assert.deepEqual(command.kind === "run" && [command.check, command.live], [
    true,
    { timeoutMs: 3_000, json: true },
  ]);
  assert.deepEqual(parseCommand(["check"]), {
    kind: "run",
    check: true,
    credentialsDir: undefined,
    expandEnv: false,
    flags: { config: undefined, logLevel: undefined, logFormat: undefined },
  });
});

Deno.test("cli: --live without --check, its flags without --live, a bad timeout: usage errors", () => {
  const cases: Array<[string[], RegExp]> = [
    [["--live"], /--live goes with --check/],
    [["--check", "--json"], /--json goes with --check --live/],
    [["--timeout", "5s"], /--timeout goes with --check --live/],
    [["--check", "--live", "--timeout", "soon"], /--timeout: expected a duration.*"soon"/],
    [["--check", "--live", "--timeout", "0s"], /--timeout: expected a duration above zero/],
    [["check", "extra"], /unexpected argument "extra"/],
    [["live", "--check"], /unexpected argument "live"/],
  ];
  for (const [args, message] of cases) {
    const command = parseCommand(args);
    assert.equal(command.kind, "usage_error", args.join(" "));
    assert.match((command as { message: string }).message, message);
  }
});

Deno.test("cli: --help has the live check's exit codes", () => {
  for (
    const code of [
      EXIT.unreachable,
      EXIT.refused,
      EXIT.unapproved,
      EXIT.noResource,
      EXIT.unanswered,
    ]
  ) {
    assert.match(USAGE, new RegExp(`^  ${code}  `, "m"));
  }
  assert.match(USAGE, /client-proxy --check --live --config FILE/);
});
