/**
 * The addresses and ids a scenario's world is drawn from: few, so that
 * they collide, and odd, so that escaping, case folding, byte counting or
 * splitting gets exercised.
 */
import fc from "fast-check";

export const DOMAINS = ["proxy.example.org", "kiosk.example.net"] as const;
export const TARGETS = ["service@example.org", "bot@kiosk-users.example.net"] as const;

const ASCII = [..."abcdefghijklmnopqrstuvwxyz0123456789"];
/** Characters that escaping, case folding, byte counting or splitting could get wrong. */
const ODD = [..." /@:<>&\"'é☎𝄞ſ\u00a0\u200b\u2028\u202e\u212a\u0130\ufeff\ufffd", "]]>"];
const LOCAL_ODD = ["é", "☎", "𝄞", "ſ", "\u212a", "ß", "Ω", ".", "_", "-", "K", "Z"];

/** Any character an XML document can carry, controls excepted. */
const anyChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0xa0, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xfffd }),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
).map((cp) => String.fromCodePoint(cp));

const resourceChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ASCII) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD) },
  { weight: 1, arbitrary: anyChar },
);
/** A resourcepart a server could stamp: no controls, at most 1023 bytes. */
export const resourcePart = fc.string({ unit: resourceChar, minLength: 1, maxLength: 10 });
const localPart = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ASCII) },
    { weight: 1, arbitrary: fc.constantFrom(...LOCAL_ODD) },
  ),
  minLength: 1,
  maxLength: 8,
});
const domainPart = fc.constantFrom(
  "example.org",
  "example.net",
  "example.com",
  "bücher.example",
  "xn--bcher-kva.example",
  "a.b.c.d.example",
  "localhost",
  "127.0.0.1",
  "[::1]",
);
/** A JID as a server would stamp it in `from`: valid, but with odd bytes. */
export const stampedJid = fc.record({
  local: fc.option(localPart, { nil: undefined }),
  domain: domainPart,
  resource: fc.option(resourcePart, { nil: undefined }),
}).map(({ local, domain, resource }) =>
  `${local === undefined ? "" : `${local}@`}${domain}${
    resource === undefined ? "" : `/${resource}`
  }`
);

/** Requesters worth having in every pool: case variants, lookalikes, our own domain, long ones. */
export function specialRequesters(domain: string, target: string): string[] {
  const [local, targetDomain] = target.split("@");
  return [
    "alice@example.org/phone",
    "ALICE@example.org/phone",
    "alice@example.org/Phone",
    "alice@example.org",
    "bob@example.net/télé☎𝄞",
    "example.com",
    "example.com/admin",
    domain,
    `${domain}/loop`,
    `x@${domain}/y`,
    "eve@example.org/a/b/c",
    `q@example.org/<&"'> ]]>`,
    `${target}.evil/x`,
    `ſ${local}@${targetDomain}/x`,
    `${local}@evil.${targetDomain}/x`,
    // Which the router must take as the target itself:
    `${target.toUpperCase()}/intruder`,
    `${target}/intruder`,
    target,
    target.replace("k", "\u212a") + "/kelvin",
    // Either side of the 1023-byte limit of the mod_client_proxy form:
    `d@example.org/${"r".repeat(1023 - 14)}`,
    `d@example.org/${"r".repeat(1024 - 14)}`,
    `dave@example.org/${"é".repeat(503)}`, // 1023 bytes, 520 characters
    `dave@example.org/${"é".repeat(504)}`, // 1025 bytes, 521 characters
    `g@example.org/${"𝄞".repeat(253)}`, // 1026 bytes, 520 UTF-16 units
    `${"l".repeat(1023)}@example.org/${"r".repeat(1023)}`,
  ];
}

/** Ids: common ones (so they collide), odd characters and whitespace, very long ones. */
export const idArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom("1", "2", "3", "a", "undefined", "", "0", " id ", "null"),
  },
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.oneof(resourceChar, fc.constantFrom("\t", "\n", "\r")),
      maxLength: 8,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(1024, 4096, 65_536), fc.constantFrom("i", "é", "𝄞"))
      .map(([n, c]) => c.repeat(n)),
  },
);

/** The target's resource names: short and colliding, the longest allowed, or odd. */
export const resourceNameArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("a", "b", "c", "phone", "Phone", "wéird/☎ 𝄞", " ", ""),
  },
  { weight: 1, arbitrary: fc.constant("r".repeat(1023)) },
  { weight: 2, arbitrary: resourcePart },
);
