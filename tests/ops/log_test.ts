/** src/ops/log.ts: the text and JSON lines, the level threshold, and reconfiguring. */
import assert from "node:assert/strict";
import { resetSync } from "@logtape/logtape";
import { LOG_LEVELS, type LogFormat, type LogLevel } from "../../src/config/log_options.ts";
import { logger, logs, setupLogging } from "../../src/ops/log.ts";

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Sets up logging at `level` and returns the lines written, as they are written. */
function capture(level: LogLevel, format?: LogFormat): string[] {
  const lines: string[] = [];
  setupLogging(level, { format, write: (line) => lines.push(line) });
  return lines;
}

/**
 * Back to how a test file starts: the module's default threshold (info) and
 * logtape unconfigured, so nothing is written anywhere.
 */
function restore(): void {
  setupLogging("info", { write: () => {} });
  resetSync();
}

/** A text line without its timestamp (checked to be one). */
function untimed(line: string): string {
  const space = line.indexOf(" ");
  assert.match(line.slice(0, space), TIME);
  return line.slice(space + 1);
}

Deno.test("text: time, level, logger, event, then key=value, one line each", () => {
  const lines = capture("info");
  try {
    logger("main").info("stream.online", { domain: "proxy.example.org", attempt: 2 });
    logger("proxy.example.org").warning("stream.offline", { ok: false });
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => line.endsWith("\n") && line.indexOf("\n") === line.length - 1));
    assert.equal(
      untimed(lines[0]),
      "INFO    main stream.online domain=proxy.example.org attempt=2\n",
    );
    assert.equal(untimed(lines[1]), "WARNING proxy.example.org stream.offline ok=false\n");
  } finally {
    restore();
  }
});

Deno.test("text: values with spaces, quotes, `=` or nothing are quoted", () => {
  const lines = capture("info");
  try {
    logger("main").info("e", {
      plain: "alice@example.org/phone",
      space: "a b",
      quote: 'say "hi"',
      equals: "a=b",
      empty: "",
      newline: "one\ntwo",
      tab: "a\tb",
    });
    assert.equal(
      untimed(lines[0]),
      `INFO    main e plain=alice@example.org/phone space="a b" quote="say \\"hi\\""` +
        ` equals="a=b" empty="" newline="one\\ntwo" tab="a\\tb"\n`,
    );
  } finally {
    restore();
  }
});

Deno.test("text: undefined properties are left out; others are written as JSON", () => {
  const lines = capture("info");
  try {
    logger("main").info("e", {
      gone: undefined,
      none: null,
      n: 1.5,
      list: [1, 2],
      spaced: { a: "b c" },
    });
    assert.equal(
      untimed(lines[0]),
      `INFO    main e none=null n=1.5 list=[1,2] spaced="{\\"a\\":\\"b c\\"}"\n`,
    );
    assert.ok(!lines[0].includes("gone"));
  } finally {
    restore();
  }
});

Deno.test("json: one object per line with time, level, logger, event and the properties", () => {
  const lines = capture("debug", "json");
  try {
    logger("proxy.example.org").debug("stream.online", { domain: "proxy.example.org", n: 3 });
    logger("main").error("stream.refused", { hint: 'a "quoted"\nhint', gone: undefined });
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.ok(line.endsWith("\n"));
      assert.equal(line.indexOf("\n"), line.length - 1, "one line per record");
    }
    const [first, second] = lines.map((line) => JSON.parse(line));
    assert.match(first.time, TIME);
    assert.deepEqual({ ...first, time: undefined }, {
      time: undefined,
      level: "debug",
      logger: "proxy.example.org",
      event: "stream.online",
      domain: "proxy.example.org",
      n: 3,
    });
    // JSON.stringify drops undefined, as the text format does.
    assert.deepEqual(Object.keys(second), ["time", "level", "logger", "event", "hint"]);
    assert.equal(second.level, "error");
    assert.equal(second.hint, 'a "quoted"\nhint');
  } finally {
    restore();
  }
});

Deno.test("threshold: records below the level are not written, and logs() agrees", () => {
  for (const level of LOG_LEVELS) {
    const lines = capture(level);
    try {
      const log = logger("main");
      for (const at of LOG_LEVELS) {
        lines.length = 0;
        log[at]("e");
        const expected = LOG_LEVELS.indexOf(at) >= LOG_LEVELS.indexOf(level);
        assert.equal(lines.length, expected ? 1 : 0, `${at} at level ${level}`);
        assert.equal(logs(at), expected, `logs(${at}) at level ${level}`);
      }
    } finally {
      restore();
    }
  }
});

Deno.test("setupLogging again: the new level, format and writer replace the old", () => {
  const first = capture("error");
  try {
    const log = logger("main");
    log.info("before");
    assert.equal(first.length, 0);
    assert.equal(logs("info"), false);

    const second = capture("debug", "json");
    log.info("after");
    log.debug("detail");
    assert.equal(first.length, 0, "the first writer gets nothing any more");
    assert.deepEqual(second.map((line) => JSON.parse(line).event), ["after", "detail"]);
    assert.equal(logs("debug"), true);
    assert.equal(logs("trace"), false);

    const third = capture("warning");
    log.info("quiet");
    log.warning("loud");
    assert.equal(second.length, 2);
    assert.equal(third.length, 1);
    assert.equal(untimed(third[0]), "WARNING main loud\n");
  } finally {
    restore();
  }
});

Deno.test("text: control characters from the wire are escaped, never written raw", () => {
  const lines = capture("info");
  try {
    logger("main").warning("stanza.dropped", { id: "a\x1b[31mred", c1: "x\x9by", del: "\x7f" });
    assert.equal(
      untimed(lines[0]),
      'WARNING main stanza.dropped id="a\\u001b[31mred" c1="x\\u009by" del="\\u007f"\n',
    );
  } finally {
    restore();
  }
});

Deno.test("text: line and paragraph separators and bidi controls are escaped, never written raw", () => {
  const lines = capture("info");
  try {
    // An address that would show as "evil.example" typed backwards, or as a second line.
    const peer = "\u202egpj.exe\u202c\u2066x\u2069\u200e\u200f\u061c";
    logger("main").warning("stanza.dropped", { peer, next: "a\u2028ERROR b\u2029c" });
    assert.equal(
      untimed(lines[0]),
      'WARNING main stanza.dropped peer="\\u202egpj.exe\\u202c\\u2066x\\u2069\\u200e\\u200f\\u061c"' +
        ' next="a\\u2028ERROR b\\u2029c"\n',
    );
    // Plain non-ASCII stays as it is, unquoted.
    logger("main").info("x", { peer: "straße.example" });
    assert.equal(untimed(lines[1]), "INFO    main x peer=straße.example\n");
  } finally {
    restore();
  }
});

Deno.test("JSON: the same characters are written as escapes, and read back as they were", () => {
  const lines = capture("info", "json");
  try {
    const peer = "\u202eevil\u2028\u2066\u200f\x9b";
    logger("main").warning("stanza.dropped", { peer });
    assert.doesNotMatch(
      lines[0],
      /[\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\x7f-\x9f]/,
    );
    assert.equal(JSON.parse(lines[0]).peer, peer);
  } finally {
    restore();
  }
});

Deno.test("JSON: a property cannot overwrite the fixed fields; an Error is its message", () => {
  const lines = capture("info", "json");
  try {
    logger("main").info("stream.error", {
      event: "forged",
      level: "fatal",
      reason: new Error("refused"),
      big: 10n,
    });
    const line = JSON.parse(lines[0]);
    assert.equal(line.event, "stream.error");
    assert.equal(line.level, "info");
    assert.equal(line.reason, "refused");
    assert.equal(line.big, "10");
  } finally {
    restore();
  }
});

Deno.test("text: an Error is written as its message, a bigint as its digits", () => {
  const lines = capture("info");
  try {
    logger("main").info("x", { reason: new Error("no route"), big: 10n });
    assert.equal(untimed(lines[0]), 'INFO    main x reason="no route" big=10\n');
  } finally {
    restore();
  }
});

Deno.test("journal: each line starts with its syslog priority, which journald strips", () => {
  const lines: string[] = [];
  setupLogging("trace", { journal: true, write: (line) => lines.push(line) });
  try {
    const log = logger("main");
    log.trace("a");
    log.debug("b");
    log.info("c");
    log.warning("d");
    log.error("e");
    log.fatal("f");
    assert.deepEqual(lines.map((line) => line.slice(0, 3)), [
      "<7>",
      "<7>",
      "<6>",
      "<4>",
      "<3>",
      "<2>",
    ]);
    assert.match(untimed(lines[4].slice(3)), /^ERROR +main e\n$/);
    lines.length = 0;
    setupLogging("info", { journal: true, format: "json", write: (line) => lines.push(line) });
    log.error("e");
    assert.equal(lines[0].slice(0, 3), "<3>");
    assert.equal(JSON.parse(lines[0].slice(3)).event, "e");
  } finally {
    restore();
  }
});
