/**
 * The JSON schema of a config file, as written (before the values are
 * read), made from the zod schema: what editors complete and check a config
 * with. `deno task config:files` writes it to deploy/, and
 * `client-proxy --config-schema` prints it for those who have only the binary.
 */
import { z } from "zod";
import { configSchema } from "./schema.ts";
import { LOG_FORMATS, LOG_LEVELS, optionPattern } from "./log_options.ts";

/** The schema as JSON text, with a final newline. */
export function configJsonSchema(): string {
  // The secret readers are never called: only the shape is asked for.
  const schema = configSchema({ configDir: ".", readFile: () => "", getEnv: () => undefined });
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  const properties = json.properties as Record<string, unknown>;
  // Read in any case or by an alias (`INFO`, `warn`): the names complete, the others check.
  properties.log_level = anyCaseOf(LOG_LEVELS);
  properties.log_format = anyCaseOf(LOG_FORMATS);
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

function anyCaseOf(values: readonly string[]): unknown {
  return { type: "string", anyOf: [{ enum: [...values] }, { pattern: optionPattern(values) }] };
}
