/**
 * The JSON schema of a config file, as written (before the values are
 * read), made from the zod schema: what editors complete and check a config
 * with. `deno task config:files` writes it to deploy/, and
 * `client-proxy --config-schema` prints it for those who have only the binary.
 */
import { z } from "zod";
import { configSchema } from "./schema.ts";

/** The schema as JSON text, with a final newline. */
export function configJsonSchema(): string {
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
