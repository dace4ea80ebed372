/**
 * A proxy's shared secret, from exactly one of four keys: `secret` (inline),
 * `secret_env: NAME`, `secret_file: PATH` and `secret_credential: NAME`
 * (systemd's `LoadCredential=`). Each key only says where the secret is;
 * reading it and checking it is one path for all four. Files and variables
 * are read through the injected {@link SecretSources}, so parsing stays pure.
 *
 * No message shows what is written under these keys, nor what it leads to
 * (a path, a variable's name, a file's content): a secret pasted in place
 * of a name or a path would be logged. Messages name the key and what was
 * expected.
 */
import { join } from "node:path";
import { z } from "zod";
import { expecting, reason } from "./problems.ts";
import { resolvePath } from "./values.ts";

/** Where secrets are read from while the schema parses (src/config/load.ts gives Deno's). */
export interface SecretSources {
  /** The config file's directory: `secret_file` paths are relative to it. */
  readonly configDir: string;
  /** Reads a `secret_file` or `secret_credential`; throws when it cannot. */
  readonly readFile: (path: string) => string;
  /** Reads an environment variable; `undefined` when unset, a throw when not allowed. */
  readonly getEnv: (name: string) => string | undefined;
}

/** A secret with where it came from, for `readPaths` / `envNames`. */
export interface ResolvedSecret {
  readonly value: string;
  readonly path?: string;
  readonly env?: string;
}

/** The keys a proxy's secret may come from; a proxy has exactly one. */
export const SECRET_KEYS = ["secret", "secret_env", "secret_file", "secret_credential"] as const;
/** {@link SECRET_KEYS} in a sentence. */
export const SECRET_KEYS_TEXT = "secret, secret_env, secret_file or secret_credential";
/** Where systemd says the unit's credentials are (`secret_credential`). */
export const CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY";

/** What the handshake can carry: XEP-0114 hashes the secret as latin1. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ASCII_MESSAGE = "must be printable ASCII (XEP-0114 handshake hashes it as latin1)";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// What systemd accepts as a credential name, less the odd characters a
// pasted secret would have; a leading dot (`.`, `..`) is refused.
const CREDENTIAL_NAME = /^[A-Za-z0-9_@:+-][A-Za-z0-9_.@:+-]{0,254}$/;

/** Pushes a problem on the key being parsed. */
type Push = (message: string) => void;

/** A secret's text and where it was found, worded for messages. */
interface Found extends ResolvedSecret {
  /** `the file it names`, …; absent for an inline secret, which YAML made one line already. */
  readonly where?: string;
}

/** How one key is written, and how it finds its secret (`undefined` once a problem is pushed). */
interface SecretKey {
  readonly written: z.ZodString;
  readonly find: (written: string, sources: SecretSources, push: Push) => Found | undefined;
}

// Whatever is written may be the secret pasted in the wrong place: a
// message names its type only.
const envNameError = expecting("expected an environment variable name like PROXY_SECRET", true);
const credentialNameError = expecting(
  "expected a credential name like client-proxy.secret (systemd LoadCredential=)",
  true,
);
const pathError = expecting("expected a file path", true);

const KEYS: Readonly<Record<typeof SECRET_KEYS[number], SecretKey>> = {
  secret: {
    written: z.string({
      error: expecting("expected a string (quote secrets that YAML would read as numbers)", true),
    }).min(1, { error: expecting("expected a non-empty string", true), abort: true }),
    find: (value) => ({ value }),
  },
  secret_env: {
    written: z.string({ error: envNameError }).regex(ENV_NAME, { error: envNameError }),
    find: (name, sources, push) => {
      const value = readVariable(sources, name, push, { named: false });
      return value === undefined
        ? undefined
        : { value, env: name, where: "the environment variable it names" };
    },
  },
  secret_file: {
    written: z.string({ error: pathError }).min(1, { error: pathError, abort: true }),
    find: (given, sources, push) =>
      readSecretFile(sources, resolvePath(sources.configDir, given), "file", push),
  },
  secret_credential: {
    written: z.string({ error: credentialNameError })
      .regex(CREDENTIAL_NAME, { error: credentialNameError }),
    find: (name, sources, push) => {
      const dir = readVariable(sources, CREDENTIALS_ENV, push, {
        named: true,
        emptyIsUnset: true,
        hint: " (systemd sets it for a unit with LoadCredential=; to check outside the unit: " +
          "systemd-run -P -p LoadCredential=NAME:PATH client-proxy --check --config FILE, " +
          "or client-proxy --check --credentials-dir DIR)",
      });
      if (dir === undefined) return undefined;
      const found = readSecretFile(sources, join(dir, name), "credential file", push);
      return found === undefined ? undefined : { ...found, env: CREDENTIALS_ENV };
    },
  },
};

/** The four secret keys of a proxy's schema, each optional (one is required: schema.ts). */
export function secretFields(sources: SecretSources) {
  const field = (key: SecretKey) =>
    key.written.transform((written, ctx): ResolvedSecret => {
      // Not the input: the issue carries the message only.
      const push = (message: string) =>
        ctx.issues.push({ code: "custom", input: undefined, message });
      const found = key.find(written, sources, push);
      if (found === undefined) return { value: "" };
      const problem = secretProblem(found.value, found.where);
      if (problem !== undefined) push(problem);
      const { where: _, ...resolved } = found;
      return resolved;
    }).optional();
  return {
    secret: field(KEYS.secret),
    secret_env: field(KEYS.secret_env),
    secret_file: field(KEYS.secret_file),
    secret_credential: field(KEYS.secret_credential),
  };
}

/**
 * The environment variable `name`, or `undefined` once the reason is pushed:
 * unreadable, unset, or (with `emptyIsUnset`) empty. Only a `named` one
 * (a fixed name, not one the config wrote) is named in the message.
 */
function readVariable(
  sources: SecretSources,
  name: string,
  push: Push,
  options: { readonly named: boolean; readonly emptyIsUnset?: boolean; readonly hint?: string },
): string | undefined {
  const shown = options.named ? ` ${name}` : "";
  let value: string | undefined;
  try {
    value = sources.getEnv(name);
  } catch (error) {
    push(`expected a readable environment variable${shown}, got ${reason(error, !options.named)}`);
    return undefined;
  }
  if (value === undefined || (options.emptyIsUnset && value === "")) {
    const variable = options.named
      ? `the environment variable${shown}`
      : "the environment variable it names";
    push(`expected ${variable} to be set${options.hint ?? ""}, got it unset`);
    return undefined;
  }
  return value;
}

/** The secret in the file at `path`, or `undefined` once the reason is pushed. */
function readSecretFile(
  sources: SecretSources,
  path: string,
  what: "file" | "credential file",
  push: Push,
): Found | undefined {
  let content: string;
  try {
    content = sources.readFile(path);
  } catch (error) {
    push(`expected a readable ${what}, got an unreadable one (${reason(error, true)})`);
    return undefined;
  }
  // Editors add a final newline; a secret never ends in one.
  const value = content.replace(/\r?\n$/, "");
  return { value, path, where: `the ${what} it names` };
}

/** What is wrong with a secret, if anything; never the secret itself. */
function secretProblem(value: string, where: string | undefined): string | undefined {
  if (where !== undefined) {
    if (value === "") return `expected ${where} to hold a non-empty secret, got an empty value`;
    if (value.charCodeAt(0) === 0xfeff) {
      return `${where} starts with a byte order mark (BOM): save it without one`;
    }
    if (/[\r\n]/.test(value)) {
      return `${where} holds more than one line: a secret is one line (a final newline is dropped)`;
    }
  }
  return PRINTABLE_ASCII.test(value) ? undefined : ASCII_MESSAGE;
}
