/**
 * The config file from disk: the only part of src/config/ that does I/O.
 * It reads the file and hands Deno's file and environment readers to the
 * pure parser for the secrets.
 */
import { parseConfig } from "./parse.ts";
import { fileLabel, reason } from "./problems.ts";
import { CREDENTIALS_ENV } from "./secrets.ts";
import type { ConfigResult } from "./types.ts";

/**
 * Reads the file then parseConfig, using Deno.readTextFileSync /
 * Deno.env.get; a missing/unreadable file is an error result
 * (`"client-proxy.yaml: cannot read: No such file"`), never a throw.
 * Needs read access to the file and its secret files, env access to its
 * `secret_env` names (and CREDENTIALS_DIRECTORY for `secret_credential`,
 * unless `credentialsDir` stands for it),
 * and (for npm:yaml) `LOG_TOKENS` and `LOG_STREAM`.
 */
export function loadConfig(
  file: string,
  options: { readonly credentialsDir?: string; readonly expandEnv?: boolean } = {},
): ConfigResult {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    return { ok: false, errors: [`${fileLabel(file)}: cannot read: ${reason(error)}`] };
  }
  return parseConfig(text, {
    file,
    ...(options.expandEnv ? { expandEnv: (name: string) => Deno.env.get(name) } : {}),
    readFile: (path) => Deno.readTextFileSync(path),
    getEnv: (name) =>
      name === CREDENTIALS_ENV && options.credentialsDir !== undefined
        ? options.credentialsDir
        : Deno.env.get(name),
  });
}
