/**
 * Each config key's zod field: what it takes, what it becomes, and the
 * message when it is something else (`expected …, got …`). The schema
 * (schema.ts) puts them together.
 */
import { z } from "zod";
import { parseAffinityShape, SHAPE_EXPECTED } from "../core/affinity_key.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { readOption } from "./log_options.ts";
import { describe, expecting, expectingAddress } from "./problems.ts";
import type { HttpListen, RateLimitConfig, ServerAddress } from "./types.ts";
import {
  DURATION_EXPECTED,
  HTTP_EXPECTED,
  isAccessPattern,
  MAX_DURATION_MS,
  parseListen,
  parsePeer,
  parseRate,
  parseResourceName,
  parseServer,
  parseSize,
  PATTERN_EXPECTED,
  PEER_EXPECTED,
  RATE_EXPECTED,
  RESOURCE_EXPECTED,
  SERVER_EXPECTED,
  SIZE_EXPECTED,
} from "./values.ts";

/** What a duration's input is, for the JSON schema (its check is the transform's). */
const DURATION_META = {
  description: "a duration: 500ms, 2s, 1.5s, 1m, 1h, or a number of milliseconds",
  type: ["string", "number"],
} as never;

const SIZE_META = {
  description: "a size in bytes: 65536, or with a unit: 512KB, 1MB, 1.5MiB",
  type: ["string", "number"],
} as never;

const RATE_META = {
  description: "a rate: 20/s, 100/m or 1000/h",
  type: "string",
  pattern: "^\\s*(\\d+(\\.\\d+)?|\\.\\d+)\\s*/\\s*[smh]\\s*$",
} as never;

export function serverField() {
  const error = expectingAddress(SERVER_EXPECTED);
  return z.string({ error })
    .refine((text) => parseServer(text) !== undefined, { error })
    .transform((text) => parseServer(text) as ServerAddress);
}

/** `standby_peer: http://HOST:PORT`: an origin, no path. */
export function peerField() {
  const error = expectingAddress(PEER_EXPECTED);
  return z.string({ error })
    .refine((text) => parsePeer(text) !== undefined, { error })
    .transform((text) => parsePeer(text) as ServerAddress);
}

/** `http: HOST:PORT`; the port is required (there is no usual one). */
export function httpField() {
  const error = expecting(HTTP_EXPECTED);
  return z.string({ error })
    .refine((text) => parseListen(text) !== undefined, { error })
    .transform((text) => parseListen(text) as HttpListen);
}

/** A duration from `minMs` up to what a timer can wait. */
export function durationField(minMs: number) {
  return readField(
    DURATION_META,
    (input) => {
      const ms = typeof input === "string" || typeof input === "number"
        ? parseDuration(input)
        : undefined;
      return ms !== undefined && ms >= minMs && ms <= MAX_DURATION_MS ? ms : undefined;
    },
    // Only a duration out of range is said as one.
    (input) =>
      (typeof input === "string" || typeof input === "number") &&
        parseDuration(input) !== undefined
        ? `expected a duration from ${formatDuration(minMs)} to ${formatDuration(MAX_DURATION_MS)}`
        : DURATION_EXPECTED,
  );
}

/** A size in bytes: `1MB`, `512KB`, `65536`. */
export function sizeField() {
  return readField(SIZE_META, parseSize, () => SIZE_EXPECTED);
}

/**
 * A value `read` from whatever the YAML gave (undefined: not one), each
 * failure said as `expected(input)`, got what it was. `meta` says in the
 * JSON schema what the input may be, which the transform alone cannot.
 */
export function readField<T>(
  meta: never,
  read: (input: unknown) => T | undefined,
  expected: (input: unknown) => string,
) {
  return z.unknown().meta(meta).transform((input, ctx) => {
    const value = read(input);
    if (value === undefined) {
      ctx.issues.push({
        code: "custom",
        input,
        message: `${expected(input)}, got ${describe(input)}`,
      });
      return z.NEVER;
    }
    return value;
  });
}

export function countField() {
  const error = expecting("expected an integer >= 1");
  return z.number({ error }).int({ error }).min(1, { error });
}

/** `log_level`, `log_format`: one of `values`, in any case or by an alias (log_options.ts). */
export function logOptionField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.preprocess(
    (value) => typeof value === "string" ? readOption(values, value) ?? value : value,
    enumField(values),
  );
}

export function enumField<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: expecting(`expected one of ${values.join(", ")}`),
  });
}

/** `allow` / `deny`: a list of requester patterns, each checked, lowercased. */
export function patternListField(key: "allow" | "deny") {
  const listExpected = key === "allow"
    ? 'expected a non-empty list of patterns like ["@example.org"] (leave allow out to allow everyone)'
    : 'expected a list of patterns like ["@evil.example"]';
  const error = expecting(PATTERN_EXPECTED);
  const list = z.array(
    z.string({ error })
      .refine(isAccessPattern, { error })
      .transform((text) => text.toLowerCase()),
    { error: expecting(listExpected) },
  );
  return key === "allow" ? list.min(1, { error: expecting(listExpected) }) : list;
}

/** `affinity`: a list of request shapes, each checked on its own (the message names it). */
export function affinityField() {
  const error = expecting(SHAPE_EXPECTED);
  return z.array(
    z.string({ error })
      .refine((text) => parseAffinityShape(text) !== undefined, { error })
      .transform((text) => Object.freeze(parseAffinityShape(text)!)),
    {
      error: expecting(
        `expected a list of request shapes like ["{http://jitsi.org/protocol/focus}conference@room"]`,
      ),
    },
  );
}

/** `drain`: resources of the target, as the server stamps them. */
export function drainField() {
  const error = expecting(RESOURCE_EXPECTED);
  return z.array(
    z.string({ error }).min(1, { error, abort: true })
      .refine((text) => parseResourceName(text) !== undefined, { error })
      .transform((text) => parseResourceName(text)!),
    { error: expecting('expected a list of resources like ["jicofo-1"]') },
  );
}

/** `rate_limit: { rate: 20/s, burst: 40 }`. */
export function rateLimitField() {
  return z.strictObject({
    rate: readField(RATE_META, parseRate, () => RATE_EXPECTED),
    burst: countField().optional(),
  }, {
    error: expecting("expected a mapping like { rate: 20/s, burst: 40 }"),
  }).transform(({ rate, burst }): RateLimitConfig =>
    Object.freeze({
      perSecond: rate.perSecond,
      burst: burst ?? Math.max(1, Math.ceil(rate.count)),
    })
  );
}
