/**
 * The keys of a TLS link to the server (`server: xmpps://…`): `tls_ca`, a
 * PEM file of certificates to trust besides the system's (read and checked
 * when the config is, so that a missing or wrong file is a config error,
 * not a failed connection at 3 a.m.), and `tls_server_name`, the name the
 * server's certificate must carry. Both may be set at the top level and
 * per proxy, like `server`; both need an `xmpps://` server.
 */
import { z } from "zod";
import { isHostname } from "../core/jid.ts";
import { describe, fileLabel, reason } from "./problems.ts";
import type { SecretSources } from "./secrets.ts";
import { isIpAddress, resolvePath } from "./values.ts";

/** `tls_ca` as read: where it is, and what it holds. */
export interface CaFile {
  readonly path: string;
  /** The PEM text, certificates only (checked). */
  readonly pem: string;
}

/** The keys of this module, in a sentence. */
export const TLS_KEYS = ["tls_ca", "tls_server_name"] as const;

export const SERVER_NAME_EXPECTED =
  "expected the name in the server's certificate, like xmpp.example.org";

/** A PEM block: its label and its base64 body. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** `tls_ca: PATH`, relative to the config file: read now, refused unless it holds certificates. */
export function caField(sources: SecretSources) {
  return z.string({ error: (issue) => `expected a file path, got ${describe(issue.input)}` })
    .min(1, { error: "expected a file path, got an empty string", abort: true })
    .transform((given, ctx): CaFile => {
      const path = resolvePath(sources.configDir, given);
      const push = (message: string) => {
        ctx.issues.push({ code: "custom", input: undefined, message });
        return { path, pem: "" };
      };
      let text: string;
      try {
        text = sources.readFile(path);
      } catch (error) {
        return push(`expected a readable PEM file, got ${fileLabel(path)}: ${reason(error)}`);
      }
      const problem = pemProblem(text);
      return problem === undefined
        ? { path, pem: text }
        : push(`${problem}, got ${fileLabel(path)}`);
    });
}

/** `tls_server_name`: a host name or an IP address, lowercased. */
export function serverNameField() {
  const error = (issue: { input?: unknown }) =>
    `${SERVER_NAME_EXPECTED}, got ${describe(issue.input)}`;
  return z.string({ error })
    .refine((text) => isHostname(text.toLowerCase()) || isIpAddress(text), { error })
    .transform((text) => text.toLowerCase());
}

/**
 * What is wrong with a `tls_ca` file's text, if anything: it must hold at
 * least one certificate, and nothing but certificates (a private key has
 * no business on the proxy's side).
 */
export function pemProblem(text: string): string | undefined {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) {
    return "expected a PEM file with a certificate (-----BEGIN CERTIFICATE-----)";
  }
  for (const [, label, body] of blocks) {
    if (label !== "CERTIFICATE") {
      return `expected a PEM file with certificates only, not a ${label.toLowerCase()}`;
    }
    if (!isDer(body)) return "expected a PEM file whose certificates decode (bad base64 or DER)";
  }
  return undefined;
}

/**
 * Whether a PEM body is canonical base64 (as TLS libraries read it: padded,
 * no stray bits) of one DER SEQUENCE spanning it, as a certificate is.
 */
function isDer(body: string): boolean {
  const base64 = body.replace(/\s+/g, "");
  let bytes: string;
  try {
    bytes = atob(base64);
  } catch {
    return false;
  }
  if (btoa(bytes) !== base64 || bytes.length < 2 || bytes.charCodeAt(0) !== 0x30) return false;
  // X.690 §8.1.3: the length in one byte, or 0x80 + n and then n bytes.
  const first = bytes.charCodeAt(1);
  let length = first;
  let header = 2;
  if (first >= 0x80) {
    const count = first - 0x80;
    if (count < 1 || count > 4) return false;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes.charCodeAt(2 + i);
    header += count;
  }
  return header + length === bytes.length;
}
