/** The program's version, printed by `--version`: written once, in deno.json. */
import manifest from "../../deno.json" with { type: "json" };

export const VERSION: string = manifest.version;
