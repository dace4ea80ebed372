/** Reading the Prometheus text exposition, for tests that check metric values. */

/** `series{labels}` → value, from the exposition's sample lines. */
export function samples(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    map.set(line.slice(0, space), line.slice(space + 1));
  }
  return map;
}
