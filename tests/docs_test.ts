/**
 * The documentation's relative links lead somewhere: every link in README.md,
 * docs/*.md and bench/README.md names a file or folder of the repository,
 * and a `#fragment` names a heading of the Markdown file it points to, as
 * GitHub makes anchors from headings. Local files only, no network.
 */
import assert from "node:assert/strict";

/** Where the repository's files are read from (tests pass a fake one). */
export interface Tree {
  /** The text of a file, or `undefined` when there is no such file. */
  read(path: string): Promise<string | undefined>;
  /** Whether a file or folder exists. */
  exists(path: string): Promise<boolean>;
}

/** A link as written in a Markdown file. */
export interface Link {
  readonly target: string;
  readonly line: number;
}

const ROOT_URL = "file:///repo/";

/**
 * GitHub's anchor for a heading: its text as rendered (code spans and links
 * reduced to their text), lower-cased, punctuation dropped except `-` and
 * `_`, each space a `-`.
 */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`+/g, "")
    .replace(/<[^>]*>/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The text with fenced code blocks blanked, lines kept (so that line numbers hold). */
function withoutCodeBlocks(markdown: string): string {
  let fence: string | undefined;
  return markdown.split("\n").map((line) => {
    const marker = line.match(/^\s*(`{3,}|~{3,})/)?.[1];
    if (fence === undefined) {
      if (marker === undefined) return line;
      fence = marker;
      return "";
    }
    if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) {
      fence = undefined;
    }
    return "";
  }).join("\n");
}

/** The anchors of a Markdown text's headings; a repeated one gets `-1`, `-2`, … as on GitHub. */
export function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const line of withoutCodeBlocks(markdown).split("\n")) {
    const heading = line.match(/^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    let anchor = base;
    for (let n = 1; found.has(anchor); n++) anchor = `${base}-${n}`;
    found.add(anchor);
  }
  return found;
}

/** Inline links and images, and reference definitions, outside code blocks and code spans. */
export function links(markdown: string): Link[] {
  // A code span closes with a run of as many backticks as opened it, within its paragraph.
  const text = withoutCodeBlocks(markdown).replace(
    /(?<!`)(`+)(?!`)(?:(?!\n[ \t]*\n)[\s\S])*?(?<!`)\1(?!`)/g,
    (span) => span.replace(/[^\n]/g, " "),
  );
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  const found: Link[] = [];
  for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    found.push({ target: match[1], line: lineOf(match.index) });
  }
  for (const match of text.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) {
    found.push({ target: match[1], line: lineOf(match.index) });
  }
  return found;
}

/** Whether a link leaves the repository (a URL with a scheme: https:, mailto:, …). */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");
}

/**
 * What is wrong with each relative link of the Markdown file at `path`
 * (relative to the repository's root): one line per broken link, empty when
 * all resolve.
 */
export async function brokenLinks(tree: Tree, path: string): Promise<string[]> {
  const markdown = await tree.read(path);
  if (markdown === undefined) return [`${path}: no such file`];
  const problems: string[] = [];
  for (const { target, line } of links(markdown)) {
    if (isExternal(target)) continue;
    const where = `${path}:${line}: ${target}`;
    const url = new URL(target, new URL(path, ROOT_URL));
    if (!url.href.startsWith(ROOT_URL)) {
      problems.push(`${where}: outside the repository`);
      continue;
    }
    const file = decodeURIComponent(url.pathname.slice(new URL(ROOT_URL).pathname.length));
    if (file !== path && !(await tree.exists(file.replace(/\/$/, "") || "."))) {
      problems.push(`${where}: no such file`);
      continue;
    }
    const fragment = decodeURIComponent(url.hash.slice(1));
    if (fragment === "" || !file.endsWith(".md")) continue;
    const headings = anchors((await tree.read(file)) ?? "");
    if (!headings.has(fragment)) problems.push(`${where}: no heading #${fragment} in ${file}`);
  }
  return problems;
}

const ROOT = new URL("../", import.meta.url);

/** The repository on disk. */
const disk: Tree = {
  async read(path) {
    try {
      return await Deno.readTextFile(new URL(path, ROOT));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  },
  async exists(path) {
    try {
      await Deno.stat(new URL(path, ROOT));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  },
};

/** README.md, bench/README.md and every Markdown file in docs/. */
async function documentation(): Promise<string[]> {
  const files = ["README.md", "bench/README.md"];
  for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
    if (entry.isFile && entry.name.endsWith(".md")) files.push(`docs/${entry.name}`);
  }
  return files.sort();
}

Deno.test("every relative link in README.md, docs/ and bench/README.md resolves", async () => {
  const files = await documentation();
  assert.ok(files.includes("docs/README.md"), `docs/ has its index: ${files.join(", ")}`);
  let checked = 0;
  const problems: string[] = [];
  for (const file of files) {
    const text = await disk.read(file);
    checked += links(text ?? "").filter((link) => !isExternal(link.target)).length;
    problems.push(...await brokenLinks(disk, file));
  }
  assert.ok(checked >= files.length, `${checked} relative links in ${files.length} files`);
  assert.deepEqual(problems, []);
});

Deno.test("README.md links to every page of docs/", async () => {
  const readme = (await disk.read("README.md")) ?? "";
  const linked = new Set(links(readme).map((link) => link.target.split("#")[0]));
  const missing = (await documentation())
    .filter((file) => file.startsWith("docs/") && !linked.has(file));
  assert.deepEqual(missing, []);
});

/** A table's separator row: `| --- | :-: |`. */
const SEPARATOR = /^\|(\s*:?-+:?\s*\|)+\s*$/;

/** Tables whose separator row is repeated (a row of dashes on the page): `file:line`. */
export function doubledSeparators(file: string, text: string): string[] {
  const lines = text.split("\n");
  return lines.flatMap((line, i) =>
    i > 0 && SEPARATOR.test(line) && SEPARATOR.test(lines[i - 1]) ? [`${file}:${i + 1}`] : []
  );
}

Deno.test("no table in the documentation repeats its separator row", async () => {
  const found: string[] = [];
  for (const file of await documentation()) {
    found.push(...doubledSeparators(file, (await disk.read(file)) ?? ""));
  }
  assert.deepEqual(found, []);
  assert.deepEqual(
    doubledSeparators("x.md", "| a | b |\n| --- | :-: |\n| --- | --- |\n| c | d |\n"),
    [
      "x.md:3",
    ],
  );
});

/** A repository of a few files in memory. */
function tree(files: Record<string, string>): Tree {
  return {
    read: (path) => Promise.resolve(files[path]),
    exists: (path) =>
      Promise.resolve(
        path in files || Object.keys(files).some((file) => file.startsWith(`${path}/`)),
      ),
  };
}

Deno.test("a missing file, a missing heading and a way out of the repository are reported", async () => {
  const docs = tree({
    "README.md": [
      "# Title",
      "See [the guide](docs/guide.md#the-long-way-round), [gone](docs/gone.md),",
      "[a bad anchor](docs/guide.md#nowhere), [a folder](docs/), [self](#title),",
      "[not here](#missing), [out](../elsewhere.md) and [the web](https://example.org/x.md).",
      "`[in code](docs/gone.md)` and ``a ` in code`` before [after](docs/gone-too.md)",
      "```md",
      "[in a block](docs/gone.md)",
      "```",
      "[ref]: docs/also-gone.md",
    ].join("\n"),
    "docs/guide.md": "# Guide\n\n## The long way round\n",
  });
  assert.deepEqual(await brokenLinks(docs, "README.md"), [
    "README.md:2: docs/gone.md: no such file",
    "README.md:3: docs/guide.md#nowhere: no heading #nowhere in docs/guide.md",
    "README.md:4: #missing: no heading #missing in README.md",
    "README.md:4: ../elsewhere.md: outside the repository",
    "README.md:5: docs/gone-too.md: no such file",
    "README.md:9: docs/also-gone.md: no such file",
  ]);
});

Deno.test("anchors are made as GitHub makes them", () => {
  assert.equal(
    slug("The implementing account's subscription"),
    "the-implementing-accounts-subscription",
  );
  assert.equal(slug("`standby_peer` (ejabberd)"), "standby_peer-ejabberd");
  assert.equal(
    slug("`allow_target_requests: true`: the implementing client talks first"),
    "allow_target_requests-true-the-implementing-client-talks-first",
  );
  assert.equal(slug("Latency at M=1, W=1"), "latency-at-m1-w1");
  assert.equal(slug("See [the guide](guide.md) — twice"), "see-the-guide--twice");
  assert.deepEqual(
    [...anchors("# Notes\n\n```sh\n# not a heading\n```\n\n## Notes\n### Notes ##\n")],
    ["notes", "notes-1", "notes-2"],
  );
});
