/**
 * The code blocks of a Markdown page that a test takes as they are written,
 * each marked by an HTML comment before its fence (blank lines between are
 * allowed, as Markdown formatters put one there): `<!-- test: NAME -->`. A runbook's files and commands are then tested as
 * a reader copies them, not as a copy kept in the test.
 */

/** One marked block: its name, its info string's language and its text. */
export interface DocBlock {
  readonly name: string;
  readonly lang: string;
  /** The lines between the fences, the fence's indentation removed, with a final newline. */
  readonly text: string;
  /** The line of the marker (1-based), for messages. */
  readonly line: number;
}

const MARKER = /^\s*<!-- test: ([\w.-]+) -->\s*$/;
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;

/** Every marked block of `markdown` by name; a marker without a block, or a name used twice, throws. */
export function markedBlocks(markdown: string): Map<string, DocBlock> {
  const lines = markdown.split("\n");
  const blocks = new Map<string, DocBlock>();
  for (let i = 0; i < lines.length; i++) {
    const name = lines[i].match(MARKER)?.[1];
    if (name === undefined) continue;
    let at = i + 1;
    while (at < lines.length && lines[at].trim() === "") at++;
    const open = lines[at]?.match(FENCE);
    if (!open) throw new Error(`line ${i + 1}: <!-- test: ${name} --> is not followed by a fence`);
    const [, indent, fence, lang] = open;
    const body: string[] = [];
    let j = at + 1;
    for (; j < lines.length; j++) {
      const line = lines[j];
      const close = line.match(FENCE);
      if (close && close[2][0] === fence[0] && close[2].length >= fence.length && !close[3]) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if (j === lines.length) throw new Error(`line ${i + 1}: the block "${name}" is not closed`);
    if (blocks.has(name)) throw new Error(`line ${i + 1}: a second block named "${name}"`);
    blocks.set(name, { name, lang, text: body.join("\n") + "\n", line: i + 1 });
    i = j;
  }
  return blocks;
}

/** The block `name` of `blocks`; throws naming the page when there is none. */
export function blockNamed(blocks: Map<string, DocBlock>, name: string, page: string): DocBlock {
  const block = blocks.get(name);
  if (block === undefined) throw new Error(`${page}: no block marked <!-- test: ${name} -->`);
  return block;
}
