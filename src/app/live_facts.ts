/**
 * What the live check (`--check --live`) finds, as facts: one per line of
 * its output, each naming the step it belongs to, whether it holds, and
 * its details for `--json`. The exit status names the first step that
 * failed (the table is in src/app/cli.ts and docs/operating.md).
 */
import { EXIT } from "./cli.ts";

/** The steps of the check, in order, that have an exit code of their own. */
export type LiveStep = "connect" | "handshake" | "subscription" | "resources" | "disco";

/**
 * What a fact is about: a step, or what the check adds around them: an
 * instance found serving, its readiness, requests answered for nobody,
 * the goodbye.
 */
export type FactTopic = LiveStep | "serving" | "readiness" | "orphans" | "close";

/** One finding. */
export interface Fact {
  readonly step: FactTopic;
  readonly ok: boolean;
  /** The line the operator reads, after `<domain>: `. */
  readonly text: string;
  /** More for `--json`, next to `step`, `ok` and `text`. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The facts of one proxy. */
export interface ProxyReport {
  readonly proxy: string;
  readonly server: string;
  readonly facts: readonly Fact[];
}

/** The exit code of a failed fact: its step's, or 1 (the check could not be made). */
const STEP_EXIT: Readonly<Record<FactTopic, number>> = {
  connect: EXIT.unreachable,
  handshake: EXIT.refused,
  subscription: EXIT.unapproved,
  resources: EXIT.noResource,
  disco: EXIT.unanswered,
  serving: EXIT.failure,
  readiness: EXIT.failure,
  orphans: EXIT.failure,
  close: EXIT.failure,
};

/** The first fact that failed, over the proxies in order. */
export function firstFailure(reports: readonly ProxyReport[]): Fact | undefined {
  for (const report of reports) {
    const failed = report.facts.find((fact) => !fact.ok);
    if (failed) return failed;
  }
  return undefined;
}

/** The exit status: 0, or the code of the first fact that failed. */
export function exitCode(reports: readonly ProxyReport[]): number {
  const failed = firstFailure(reports);
  return failed === undefined ? EXIT.ok : STEP_EXIT[failed.step];
}

/** A fact as one line of text. */
export function factLine(proxy: string, fact: Fact): string {
  return `${proxy}: ${fact.text}`;
}

/** The last line of the text output. */
export function summaryLine(reports: readonly ProxyReport[]): string {
  const failed = firstFailure(reports);
  return failed === undefined
    ? "live check: all good"
    : `live check: failed at ${failed.step} (exit ${exitCode(reports)})`;
}

/** The whole output of `--json`: one document. */
export function jsonReport(file: string, reports: readonly ProxyReport[]): string {
  const failed = firstFailure(reports);
  return JSON.stringify(
    {
      config: file,
      ok: failed === undefined,
      exit: exitCode(reports),
      failed: failed?.step ?? null,
      proxies: reports.map((report) => ({
        proxy: report.proxy,
        server: report.server,
        ok: report.facts.every((fact) => fact.ok),
        facts: report.facts.map((fact) => ({
          step: fact.step,
          ok: fact.ok,
          text: fact.text,
          ...fact.details,
        })),
      })),
    },
    null,
    2,
  );
}

/**
 * `--json`'s document when the config has problems: no proxy was checked;
 * `failed` is `config` and `problems` holds each line said on stderr.
 */
export function jsonConfigReport(file: string, problems: readonly string[]): string {
  return JSON.stringify(
    { config: file, ok: false, exit: EXIT.failure, failed: "config", problems, proxies: [] },
    null,
    2,
  );
}
