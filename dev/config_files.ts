/**
 * The files made from the config's code, so that they cannot drift from it:
 * deploy/client-proxy.schema.json (the JSON schema editors read, from the
 * zod schema) and src/app/example_config.ts (the sample config
 * deploy/client-proxy.yaml, which `client-proxy --example-config` prints).
 * `deno task config:files` writes them; tests/config/config_files_test.ts
 * fails when one is stale.
 */
import { configJsonSchema } from "../src/config/json_schema.ts";

/** The files, by path from the repository's root. */
export const SCHEMA_FILE = "deploy/client-proxy.schema.json";
export const SAMPLE_FILE = "deploy/client-proxy.yaml";
export const SAMPLE_MODULE = "src/app/example_config.ts";

/** The module that carries the sample config into the program. */
export function sampleModule(sample: string): string {
  return [
    "// Made by `deno task config:files` from deploy/client-proxy.yaml: do not edit.",
    "",
    "/** The commented sample config that `--example-config` prints. */",
    `export const EXAMPLE_CONFIG = ${JSON.stringify(sample)};`,
    "",
  ].join("\n");
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  const sample = await Deno.readTextFile(new URL(SAMPLE_FILE, root));
  await Deno.writeTextFile(new URL(SCHEMA_FILE, root), configJsonSchema());
  await Deno.writeTextFile(new URL(SAMPLE_MODULE, root), sampleModule(sample));
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", new URL(SCHEMA_FILE, root).pathname, new URL(SAMPLE_MODULE, root).pathname],
  });
  const { code } = await fmt.output();
  console.log(`${SCHEMA_FILE}, ${SAMPLE_MODULE}: written${code === 0 ? "" : " (deno fmt failed)"}`);
  Deno.exit(code);
}
