/**
 * Escaping for XML 1.0 output: what a parser would read otherwise as
 * markup, and the white space it would normalise, written as references.
 */

const ATTR_SPECIAL = /[&<>"'\t\n\r]/;
const TEXT_SPECIAL = /[&<>\r]/;
const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};
const escapeChar = (char: string) => ESCAPES[char];

/**
 * Character data: `&`, `<`, `>`, and a carriage return, which a parser
 * would read as a line feed (XML 1.0 §2.11).
 */
export function escapeText(text: string): string {
  return TEXT_SPECIAL.test(text) ? text.replace(/[&<>\r]/g, escapeChar) : text;
}

/**
 * An attribute value: also both quotes, and tab, line feed and carriage
 * return, which a parser would read as spaces (XML 1.0 §3.3.3).
 */
export function escapeAttr(text: string): string {
  return ATTR_SPECIAL.test(text) ? text.replace(/[&<>"'\t\n\r]/g, escapeChar) : text;
}
