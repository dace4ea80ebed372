/**
 * The program as a user runs it: `deno task start` with flags, exit codes
 * and what it prints; and `deno task compile`'s flags, short of building.
 * No server needed: none of these may connect.
 */
import assert from "node:assert/strict";
import { unplaced } from "../support/config.ts";
import { openSubscriberStore } from "../../src/ops/subscribers.ts";
import {
  leaking,
  SECRET_CASES,
  secretConfig,
  secretEnv,
  secretFiles,
} from "../support/secret_cases.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(
  args: string[],
  env: Record<string, string> = {},
  task = "start",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", task, ...args],
    cwd: ROOT,
    // Not under journald, whatever runs the tests, unless a test says so.
    env: { JOURNAL_STREAM: "", ...env },
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function withConfig(text: string, body: (file: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/client-proxy.yaml`, text);
    await body(`${dir}/client-proxy.yaml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const GOOD = `server: xmpp://127.0.0.1:5347
proxies:
  - domain: proxy.example.org
    secret: s3cret
    target_address: service@example.org
    request_timeout: 30s
`;

Deno.test("start --check on a good config: exit 0", async () => {
  await withConfig(GOOD, async (file) => {
    const { code, stdout } = await run(["--config", file, "--check"]);
    assert.equal(code, 0);
    assert.match(stdout, /ok \(1 proxy\)/);
  });
});

Deno.test("a bad config: every problem with file and key, exit 1 with --check, 78 without", async () => {
  const bad = `server: xmpp://127.0.0.1:5347
proxies:
  - domain: proxy.example.org
    secret: "sécret-value"
    target_address: svc@example.org/res
    request_timeout: 2 fortnights
`;
  await withConfig(bad, async (file) => {
    const checked = await run(["--config", file, "--check"]);
    assert.equal(checked.code, 1);
    assert.match(
      checked.stderr,
      new RegExp(`${file}:4:5: proxies\\[0\\]\\.secret: must be printable ASCII`),
    );
    assert.match(
      checked.stderr,
      /:5:5: proxies\[0\]\.target_address: expected a bare JID like service@example\.org, got "svc@example\.org\/res"/,
    );
    assert.match(checked.stderr, /:6:5: proxies\[0\]\.request_timeout: expected a duration/);
    assert.doesNotMatch(checked.stderr, /sécret-value/, "the secret is never printed");
    const started = await run(["--config", file]);
    assert.equal(started.code, 78);
    assert.doesNotMatch(started.stderr, /stream\.connecting/, "it did not try to connect");
  });
});

Deno.test("--check on bad secrets names each key and prints no secret: every case of the table", async () => {
  const schema = SECRET_CASES.filter((c) => !c.yaml);
  const yaml = SECRET_CASES.filter((c) => c.yaml);
  for (const cases of [schema, ...yaml.map((c) => [c])]) {
    await withConfig(secretConfig(cases).text, async (file) => {
      const dir = file.slice(0, file.lastIndexOf("/"));
      for (const [path, content] of Object.entries(secretFiles(cases))) {
        await Deno.mkdir(`${dir}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
        await Deno.writeTextFile(`${dir}/${path}`, content);
      }
      const env = { ...secretEnv(cases), CREDENTIALS_DIRECTORY: `${dir}/credentials` };
      const checked = await run(["--config", file, "--check"], env);
      assert.equal(checked.code, 1, checked.stderr);
      const lines = checked.stderr.trimEnd().split("\n");
      assert.deepEqual(leaking([checked.stdout, ...lines]), []);
      if (cases === schema) {
        cases.forEach((c, i) =>
          assert.ok(
            lines.some((line) => unplaced(line).startsWith(`${file}: proxies[${i}].${c.key}: `)),
            `${c.name}:\n${checked.stderr}`,
          )
        );
      } else for (const line of lines) assert.ok(line.startsWith(`${file}:`), line);
    });
  }
});

Deno.test("a config that cannot be read: under journald each line at priority err, exit 78", async () => {
  const bad = GOOD.replace("s3cret", "sécret").replace("30s", "2 fortnights");
  await withConfig(bad, async (file) => {
    const plain = await run(["--config", file]);
    assert.equal(plain.code, 78);
    assert.match(plain.stderr, new RegExp(`^${file}:4:5: proxies\\[0\\]\\.secret: `));
    assert.doesNotMatch(plain.stderr, /^</m, "no priority outside journald");

    const journald = await run(["--config", file], { JOURNAL_STREAM: "8:1" });
    assert.equal(journald.code, 78);
    const lines = journald.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, journald.stderr);
    for (const line of lines) assert.match(line, new RegExp(`^<3>${file}:\\d+:5: proxies`));

    const json = await run(["--config", file, "--log-format", "json"], { JOURNAL_STREAM: "8:1" });
    assert.equal(json.code, 78);
    const records = json.stderr.trimEnd().split("\n").map((line) => {
      assert.ok(line.startsWith("<3>{"), line);
      return JSON.parse(line.slice(3));
    });
    assert.deepEqual(records.map((r) => [r.level, r.logger, r.event]), [
      ["error", "main", "config.problem"],
      ["error", "main", "config.problem"],
    ]);
    assert.match(records[0].message, /proxies\[0\]\.secret: must be printable ASCII/);
    assert.match(records[1].message, /proxies\[0\]\.request_timeout: expected a duration/);
  });
});

Deno.test("a usage error under journald: the error at err, where the options are at info", async () => {
  const { code, stderr } = await run(["--frobnicate"], { JOURNAL_STREAM: "8:1" });
  assert.equal(code, 2);
  assert.match(stderr, /^<3>client-proxy: .*--frobnicate/);
  assert.match(stderr, /^<6>\(see client-proxy --help\)$/m);
  assert.deepEqual(stderr.split("\n").filter((l) => l !== "" && !/^<[36]>/.test(l)), []);
});

Deno.test("--check --live --json with a broken config: the problems as JSON on stdout too", async () => {
  await withConfig(
    `server: xmpp://127.0.0.1:5347\nproxies:\n  - domain: a.example\n`,
    async (file) => {
      const { code, stdout, stderr } = await run(["--check", "--live", "--json", "--config", file]);
      assert.equal(code, 1);
      const report = JSON.parse(stdout);
      assert.deepEqual([report.config, report.ok, report.exit, report.failed, report.proxies], [
        file,
        false,
        1,
        "config",
        [],
      ]);
      // The same lines as on stderr, in the same order.
      assert.deepEqual(report.problems, stderr.trim().split("\n"));
      assert.ok(report.problems.length >= 2, stdout);
    },
  );
});

Deno.test("broken YAML: line and column", async () => {
  await withConfig(`server: xmpp://127.0.0.1:5347\nproxies:\n  - domain: "open\n`, async (file) => {
    const { code, stderr } = await run(["--config", file, "--check"]);
    assert.equal(code, 1);
    assert.match(stderr, new RegExp(`${file}:\\d+:\\d+: `));
  });
});

Deno.test("a bad --log-level is a usage error (2); a bad CLIENT_PROXY_LOG_LEVEL a config error (78)", async () => {
  await withConfig(GOOD, async (file) => {
    const flag = await run(["--config", file, "--log-level", "loud"]);
    assert.equal(flag.code, 2);
    assert.match(
      flag.stderr,
      /--log-level: expected one of trace, debug, info, warning, error, fatal, got "loud"/,
    );
    const env = await run(["--config", file], { CLIENT_PROXY_LOG_LEVEL: "loud" });
    assert.equal(env.code, 78);
    assert.match(env.stderr, /CLIENT_PROXY_LOG_LEVEL: expected one of/);
  });
});

Deno.test("--check with a bad CLIENT_PROXY_LOG_LEVEL reports it and the config's problems: exit 1", async () => {
  await withConfig(GOOD.replace("service@example.org", "service@example.org/res"), async (file) => {
    const checked = await run(["--config", file, "--check"], { CLIENT_PROXY_LOG_LEVEL: "loud" });
    assert.equal(checked.code, 1);
    assert.match(checked.stderr, /CLIENT_PROXY_LOG_LEVEL: expected one of/);
    assert.match(checked.stderr, /proxies\[0\]\.target_address: expected a bare JID/);
  });
  await withConfig(GOOD, async (file) => {
    const checked = await run(["--config", file, "--check"], { CLIENT_PROXY_LOG_LEVEL: "loud" });
    assert.equal(checked.code, 1, "a good config does not make a bad environment pass");
    assert.doesNotMatch(checked.stdout, /ok/);
  });
});

Deno.test("CLIENT_PROXY_CONFIG names the config file; --config wins over it", async () => {
  await withConfig(GOOD, async (file) => {
    const fromEnv = await run(["--check"], { CLIENT_PROXY_CONFIG: file });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, new RegExp(`${file}: ok`));
    const flagWins = await run(["--check", "--config", file], {
      CLIENT_PROXY_CONFIG: "/nonexistent.yaml",
    });
    assert.equal(flagWins.code, 0, flagWins.stderr);
  });
});

Deno.test("no --config: the hint when ./client-proxy.yaml is missing, only its errors when it is broken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-cli-" });
  try {
    const check = async () => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-env", `${ROOT}main.ts`, "--check"],
        cwd: dir,
        env: { CLIENT_PROXY_CONFIG: "", JOURNAL_STREAM: "" },
        stdin: "null",
        signal: AbortSignal.timeout(30_000),
      }).output();
      return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
    };
    const missing = await check();
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^client-proxy\.yaml: cannot read: No such file\n/);
    assert.match(missing.stderr, /\(pass --config FILE or set CLIENT_PROXY_CONFIG; see --help\)/);
    await Deno.writeTextFile(`${dir}/client-proxy.yaml`, GOOD.replace("s3cret", "sécret"));
    const broken = await check();
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^client-proxy\.yaml:4:5: proxies\[0\]\.secret: /);
    assert.doesNotMatch(broken.stderr, /pass --config/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unknown flag: one line and a pointer to --help on stderr, exit 2; --help and --version exit 0", async () => {
  const bad = await run(["--frobnicate"]);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    "client-proxy: unknown option --frobnicate\n(see client-proxy --help)\n",
  );
  // Asked for JSON on the command line, the error is JSON too.
  const json = await run(["--log-format", "json", "--frobnicate"]);
  assert.equal(json.code, 2);
  const [record, ...more] = json.stderr.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual([record.level, record.event, record.message, more], [
    "error",
    "cli.usage_error",
    "client-proxy: unknown option --frobnicate",
    [],
  ]);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: client-proxy/);
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^client-proxy \d+\.\d+\.\d+/);
});

Deno.test("presence with a state_dir that does not exist: a clear error naming it, no start", async () => {
  await withConfig(
    GOOD.replace("proxies:", "state_dir: /nonexistent/client-proxy-state\nproxies:") +
      "    presence: true\n",
    async (file) => {
      const said = `${file}: state_dir: expected an existing directory, got ` +
        "/nonexistent/client-proxy-state, which does not exist (create it, writable by the user " +
        "the proxy runs as)\n";
      const checked = await run(["--config", file, "--check"]);
      assert.equal(checked.code, 1);
      assert.equal(checked.stderr, said);
      const started = await run(["--config", file]);
      assert.equal(started.code, 78);
      assert.equal(started.stderr, said);
    },
  );
});

Deno.test("--check with a state_dir leaves it as it was, and opens a database already there", async () => {
  const state = await Deno.makeTempDir({ prefix: "client-proxy-state-" });
  try {
    await withConfig(
      GOOD.replace("proxies:", `state_dir: ${state}\nproxies:`) + "    presence: true\n",
      async (file) => {
        const checked = await run(["--config", file, "--check"]);
        assert.equal(checked.code, 0, checked.stderr);
        assert.deepEqual([...Deno.readDirSync(state)], [], "nothing written by --check");
        // With the database there, --check opens it, and still exits 0.
        openSubscriberStore(state).close();
        assert.equal((await run(["--config", file, "--check"])).code, 0);
        assert.deepEqual([...Deno.readDirSync(state)].map((e) => e.name), ["client-proxy.sqlite"]);
      },
    );
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("compile --config: the scoped flags for that config, and the commands, without building", async () => {
  await withConfig(
    GOOD.replace("proxies:", `http: 127.0.0.1:9347\nproxies:`).replace(
      "secret: s3cret",
      "secret_env: MY_SECRET",
    ),
    async (file) => {
      const dir = file.slice(0, file.lastIndexOf("/"));
      const printed = await run(["--print-flags", "--config", file], {}, "compile");
      assert.equal(printed.code, 0, printed.stderr);
      assert.deepEqual(printed.stdout.trim().split("\n"), [
        "--allow-net=127.0.0.1:5347,127.0.0.1:9347",
        `--allow-read=${dir}`,
        "--allow-env=CLIENT_PROXY_CONFIG,CLIENT_PROXY_LOG_LEVEL,CLIENT_PROXY_LOG_FORMAT,JOURNAL_STREAM," +
        "LOG_TOKENS,LOG_STREAM,MY_SECRET",
        "--v8-flags=--max-semi-space-size=1",
        "--unstable-worker-options",
      ]);
      const planned = await run(["--dry-run", "--target", "all", "--config", file], {}, "compile");
      assert.equal(planned.code, 0, planned.stderr);
      const commands = planned.stdout.trim().split("\n");
      assert.equal(commands.length, 4);
      for (const command of commands) {
        assert.match(command, /^deno compile --allow-net=127\.0\.0\.1:5347,127\.0\.0\.1:9347 /);
        assert.match(
          command,
          / --unstable-worker-options --target [a-z0-9_-]+ -o dist\/client-proxy-/,
        );
      }
    },
  );
});

Deno.test("compile: a bad config (every problem) is 1, a bad target a usage error (2)", async () => {
  await withConfig(GOOD.replace("service@example.org", "service@example.org/res"), async (file) => {
    const bad = await run(["--print-flags", "--config", file], {}, "compile");
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr.trim(),
      `${file}:5:5: proxies[0].target_address: expected a bare JID like service@example.org, ` +
        `got "service@example.org/res"`,
    );
  });
  const target = await run(["--dry-run", "--target", "windows"], {}, "compile");
  assert.equal(target.code, 2);
  assert.match(
    target.stderr,
    /--target: expected all or one of x86_64-unknown-linux-gnu, .*got "windows"/,
  );
  const unknown = await run(["--bogus"], {}, "compile");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown option '--bogus'[\s\S]*Usage: deno task compile/);
});
