/**
 * The size of text on the wire: its length in UTF-8, counted from its
 * UTF-16 code units, without encoding it. Used where a limit is set in
 * bytes (RFC 7622 §3: 1023 bytes per JID part; `max_stanza_size`).
 */

/**
 * The UTF-8 length of `text` from `from` to `to`. Each half of a surrogate
 * pair counts 2, so that a pair is its 4 bytes and the counts of the pieces
 * of a text add up to the count of the whole, wherever it is cut. (A lone
 * surrogate, which no decoded text holds, counts 2 too.)
 */
export function utf8Length(text: string, from = 0, to = text.length): number {
  let bytes = to - from;
  for (let i = from; i < to; i++) {
    const unit = text.charCodeAt(i);
    // 1 more for U+0080–U+07FF and each surrogate, 2 more for the rest of the BMP.
    if (unit >= 0x80) bytes += unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}
