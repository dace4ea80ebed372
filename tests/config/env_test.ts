/** Settings precedence: flags > environment > config file > default. */
import assert from "node:assert/strict";
import {
  DEFAULT_CONFIG_PATH,
  ENV_NAMES,
  resolveSettings,
  type Settings,
  settingsFields,
  type SettingsInput,
} from "../../src/config/env.ts";

const LEVELS = "trace, debug, info, warning, error, fatal";

function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => Object.hasOwn(vars, name) ? vars[name] : undefined;
}

function resolve(input: Partial<SettingsInput> & { vars?: Record<string, string> }): Settings {
  const result = resolveSettings({
    flags: input.flags ?? {},
    env: input.env ?? envOf(input.vars ?? {}),
    fileLogLevel: input.fileLogLevel,
    fileLogFormat: input.fileLogFormat,
  });
  assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
  return result.settings;
}

function errors(input: Partial<SettingsInput> & { vars?: Record<string, string> }): string[] {
  const result = resolveSettings({
    flags: input.flags ?? {},
    env: input.env ?? envOf(input.vars ?? {}),
    fileLogLevel: input.fileLogLevel,
    fileLogFormat: input.fileLogFormat,
  });
  assert.ok(!result.ok, "expected errors");
  return [...result.errors];
}

Deno.test("nothing given: the defaults", () => {
  assert.deepEqual(resolve({}), {
    configPath: { value: "client-proxy.yaml", source: "default", from: "default" },
    logLevel: { value: "info", source: "default", from: "default" },
    logFormat: { value: "text", source: "default", from: "default" },
  });
  assert.equal(DEFAULT_CONFIG_PATH, "client-proxy.yaml");
});

/**
 * The precedence table, one row per combination: which sources are given
 * (f = flag, e = environment, c = config file) and which one wins.
 */
const table: [given: string, winner: "flag" | "env" | "file" | "default"][] = [
  ["", "default"],
  ["c", "file"],
  ["e", "env"],
  ["ec", "env"],
  ["f", "flag"],
  ["fc", "flag"],
  ["fe", "flag"],
  ["fec", "flag"],
];

for (const [given, winner] of table) {
  Deno.test(`log level and format from "${given}": ${winner} wins`, () => {
    const vars: Record<string, string> = {};
    if (given.includes("e")) {
      vars.CLIENT_PROXY_LOG_LEVEL = "warning";
      vars.CLIENT_PROXY_LOG_FORMAT = "json";
    }
    const settings = resolve({
      flags: given.includes("f") ? { logLevel: "trace", logFormat: "text" } : {},
      vars,
      fileLogLevel: given.includes("c") ? "error" : undefined,
      fileLogFormat: given.includes("c") ? "json" : undefined,
    });
    const expected = {
      flag: {
        level: "trace",
        format: "text",
        levelFrom: "--log-level",
        formatFrom: "--log-format",
      },
      env: {
        level: "warning",
        format: "json",
        levelFrom: "CLIENT_PROXY_LOG_LEVEL",
        formatFrom: "CLIENT_PROXY_LOG_FORMAT",
      },
      file: { level: "error", format: "json", levelFrom: "log_level", formatFrom: "log_format" },
      default: { level: "info", format: "text", levelFrom: "default", formatFrom: "default" },
    }[winner];
    assert.deepEqual(settings.logLevel, {
      value: expected.level,
      source: winner,
      from: expected.levelFrom,
    });
    assert.deepEqual(settings.logFormat, {
      value: expected.format,
      source: winner,
      from: expected.formatFrom,
    });
  });
}

Deno.test("config path: --config > CLIENT_PROXY_CONFIG > client-proxy.yaml", () => {
  const vars = { CLIENT_PROXY_CONFIG: "/etc/client-proxy/env.yaml" };
  assert.deepEqual(resolve({ flags: { config: "flag.yaml" }, vars }).configPath, {
    value: "flag.yaml",
    source: "flag",
    from: "--config",
  });
  assert.deepEqual(resolve({ vars }).configPath, {
    value: "/etc/client-proxy/env.yaml",
    source: "env",
    from: "CLIENT_PROXY_CONFIG",
  });
  assert.deepEqual(resolve({}).configPath, {
    value: "client-proxy.yaml",
    source: "default",
    from: "default",
  });
});

Deno.test("each setting is resolved on its own", () => {
  const settings = resolve({
    flags: { logFormat: "json" },
    vars: { CLIENT_PROXY_LOG_LEVEL: "debug" },
    fileLogLevel: "error",
  });
  assert.equal(settings.configPath.source, "default");
  assert.equal(settings.logLevel.source, "env");
  assert.equal(settings.logLevel.value, "debug");
  assert.equal(settings.logFormat.source, "flag");
  assert.equal(settings.logFormat.value, "json");
});

Deno.test("an empty environment variable counts as unset", () => {
  const settings = resolve({
    vars: { CLIENT_PROXY_CONFIG: "", CLIENT_PROXY_LOG_LEVEL: "", CLIENT_PROXY_LOG_FORMAT: "" },
    fileLogLevel: "warning",
  });
  assert.equal(settings.configPath.value, "client-proxy.yaml");
  assert.equal(settings.logLevel.from, "log_level");
  assert.equal(settings.logFormat.from, "default");
});

Deno.test("bad values are errors, all of them at once", () => {
  assert.deepEqual(
    errors({
      flags: { logLevel: "verbose", logFormat: "xml", config: "" },
      vars: { CLIENT_PROXY_LOG_LEVEL: "loud", CLIENT_PROXY_LOG_FORMAT: "yaml" },
    }),
    [
      `--config: expected a file path, got an empty string`,
      `--log-level: expected one of ${LEVELS}, got "verbose"`,
      `CLIENT_PROXY_LOG_LEVEL: expected one of ${LEVELS}, got "loud"`,
      `--log-format: expected one of text, json, got "xml"`,
      `CLIENT_PROXY_LOG_FORMAT: expected one of text, json, got "yaml"`,
    ],
  );
});

Deno.test("a bad variable is an error even when a flag overrides it", () => {
  assert.deepEqual(
    errors({ flags: { logLevel: "debug" }, vars: { CLIENT_PROXY_LOG_LEVEL: "loud" } }),
    [`CLIENT_PROXY_LOG_LEVEL: expected one of ${LEVELS}, got "loud"`],
  );
});

Deno.test("a long or odd value is quoted and cut short", () => {
  const [error] = errors({ vars: { CLIENT_PROXY_LOG_LEVEL: `x\n${"y".repeat(200)}` } });
  assert.equal(
    error,
    `CLIENT_PROXY_LOG_LEVEL: expected one of ${LEVELS}, got "x\\n${"y".repeat(75)}..."`,
  );
});

Deno.test("an environment that cannot be read is reported per variable", () => {
  const env = (name: string) => {
    if (name === ENV_NAMES.logLevel) return undefined;
    throw new Deno.errors.NotCapable(`Requires env access to "${name}"`);
  };
  assert.deepEqual(errors({ env }), [
    "CLIENT_PROXY_CONFIG: cannot read: not allowed by Deno's permissions (--allow-env)",
    "CLIENT_PROXY_LOG_FORMAT: cannot read: not allowed by Deno's permissions (--allow-env)",
  ]);
});

Deno.test("only the three variables are read", () => {
  const read: string[] = [];
  resolve({
    env: (name) => {
      read.push(name);
      return undefined;
    },
  });
  assert.deepEqual(read.sort(), [
    "CLIENT_PROXY_CONFIG",
    "CLIENT_PROXY_LOG_FORMAT",
    "CLIENT_PROXY_LOG_LEVEL",
  ]);
});

Deno.test("settingsFields gives one log line's properties", () => {
  const settings = resolve({
    flags: { logLevel: "debug" },
    vars: { CLIENT_PROXY_CONFIG: "/etc/cp.yaml" },
    fileLogFormat: "json",
  });
  assert.deepEqual(settingsFields(settings), {
    config: "/etc/cp.yaml",
    config_from: "CLIENT_PROXY_CONFIG",
    log_level: "debug",
    log_level_from: "--log-level",
    log_format: "json",
    log_format_from: "log_format",
  });
});

Deno.test("a log level or format from a flag or the environment is read in any case", () => {
  const settings = resolve({
    flags: { logFormat: "JSON" },
    vars: { CLIENT_PROXY_LOG_LEVEL: "WARN" },
  });
  assert.equal(settings.logLevel.value, "warning");
  assert.equal(settings.logFormat.value, "json");
});
