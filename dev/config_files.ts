/**
 * The files made from the config's code, so that they cannot drift from it:
 * deploy/client-proxy.schema.json (the JSON schema editors read, from the
 * zod schema) and src/app/example_config.ts (the sample config
 * deploy/client-proxy.yaml, which `client-proxy --example-config` prints).
 * `deno task config:files` writes them; tests/config/config_files_test.ts
 * fails when one is stale.
 */
import { z } from "zod";
import { configSchema } from "../src/config/schema.ts";

/** The files, by path from the repository's root. */
export const SCHEMA_FILE = "deploy/client-proxy.schema.json";
export const SAMPLE_FILE = "deploy/client-proxy.yaml";
export const SAMPLE_MODULE = "src/app/example_config.ts";

/** The JSON schema of a config file, as written (before the values are read). */
export function jsonSchema(): string {
  // The secret readers are never called: only the shape is asked for.
  const schema = configSchema({ configDir: ".", readFile: () => "", getEnv: () => undefined });
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return JSON.stringify(
    {
      ...json,
      $id: "https://github.com/client-proxy/client-proxy/deploy/client-proxy.schema.json",
      title: "client-proxy configuration",
      description: "See docs/configuration.md for every key.",
    },
    null,
    2,
  ) + "\n";
}

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
  await Deno.writeTextFile(new URL(SCHEMA_FILE, root), jsonSchema());
  await Deno.writeTextFile(new URL(SAMPLE_MODULE, root), sampleModule(sample));
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", new URL(SCHEMA_FILE, root).pathname, new URL(SAMPLE_MODULE, root).pathname],
  });
  const { code } = await fmt.output();
  console.log(`${SCHEMA_FILE}, ${SAMPLE_MODULE}: written${code === 0 ? "" : " (deno fmt failed)"}`);
  Deno.exit(code);
}
