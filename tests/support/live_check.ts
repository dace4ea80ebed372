/**
 * `client-proxy --check --live --json` run as an operator runs it, and its
 * JSON document read back (tests/integration/live_check_test.ts, tls_test.ts).
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** One fact of the JSON document. */
export interface Fact {
  step: string;
  ok: boolean;
  text: string;
  [detail: string]: unknown;
}

/** What a run of the check gave: its exit code, its JSON document, its words. */
export interface Run {
  code: number;
  facts: Fact[];
  doc: { ok: boolean; exit: number; failed: string | null };
  output: string;
}

/**
 * Runs `client-proxy --check --live --json` on `file`: with the start
 * task's flags, or (`scoped`) with those `deno task compile --print-flags`
 * bakes into a binary scoped to the config; `env` added to its environment.
 */
export async function liveCheck(
  file: string,
  options: { timeout?: string; scoped?: boolean; env?: Record<string, string> } = {},
): Promise<Run> {
  const args = ["--check", "--live", "--json", "--timeout", options.timeout ?? "5s"];
  const command = options.scoped
    ? ["run", ...await scopedFlags(file), "main.ts"]
    : ["task", "--quiet", "start"];
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...command, ...args, "--config", file],
    cwd: ROOT,
    ...(options.env ? { env: options.env } : {}),
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const words = `${stdout}\n${new TextDecoder().decode(output.stderr)}`;
  let doc;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`no JSON document (exit ${output.code}):\n${words}`);
  }
  const facts: Fact[] = doc.proxies.flatMap((proxy: { facts: Fact[] }) => proxy.facts);
  return { code: output.code, facts, doc, output: words };
}

async function scopedFlags(file: string): Promise<string[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "compile", "--print-flags", "--config", file],
    cwd: ROOT,
    stdin: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const flags = new TextDecoder().decode(output.stdout).trim().split("\n");
  // The scoped set, not the start task's unscoped one.
  assert.ok(flags.some((flag) => flag.startsWith("--allow-net=")), flags.join(" "));
  assert.ok(!flags.includes("--allow-net"), flags.join(" "));
  return flags;
}

/** The steps of the facts, with their outcome. */
export function steps(run: Run): string[] {
  return run.facts.map((fact) => `${fact.step}:${fact.ok ? "ok" : "failed"}`);
}
