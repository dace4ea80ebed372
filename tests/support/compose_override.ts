/**
 * deploy/docker/client-proxy.yml, docker-jitsi-meet's compose override, read
 * as Compose reads it (YAML) into the parts the tests look at, each checked
 * for its type once here.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";

/** Where the override and the files beside it are. */
export const DOCKER_DIR = new URL("../../deploy/docker/", import.meta.url);

/** The `client-proxy` service's keys that docs/jitsi.md relies on. */
export interface ClientProxyService {
  readonly image: string;
  readonly readOnly: unknown;
  readonly user: unknown;
  readonly volumes: readonly string[];
  readonly environment: readonly string[];
  readonly dependsOn: readonly string[];
  readonly networks: Readonly<Record<string, unknown>>;
  readonly command: readonly string[];
}

/**
 * What Compose makes of `$` in a value, given the project's environment
 * (its `.env` and the shell's): `${NAME:-default}` (default when unset or
 * empty), `${NAME-default}` (when unset), `${NAME}` and `$NAME` (empty when
 * unset), `$$` for a `$`.
 */
export function interpolate(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced?: string, how?: string, fallback?: string, bare?: string) => {
      if (whole === "$$") return "$";
      const value = env[(braced ?? bare)!];
      if (how === ":-") return value === undefined || value === "" ? fallback! : value;
      if (how === "-") return value === undefined ? fallback! : value;
      return value ?? "";
    },
  );
}

/** The override's two services, as far as the tests go. */
export interface ComposeOverride {
  /** `services.prosody.environment.GLOBAL_CONFIG`. */
  readonly globalConfig: string;
  readonly clientProxy: ClientProxyService;
}

type Mapping = Readonly<Record<string, unknown>>;

function mapping(value: unknown, what: string): Mapping {
  assert.ok(
    value !== null && typeof value === "object" && !Array.isArray(value),
    `${what}: expected a mapping, got ${JSON.stringify(value)}`,
  );
  return value as Mapping;
}

function strings(value: unknown, what: string): string[] {
  assert.ok(
    Array.isArray(value) && value.every((item) => typeof item === "string"),
    `${what}: expected a list of strings, got ${JSON.stringify(value)}`,
  );
  return value;
}

function text(value: unknown, what: string): string {
  assert.equal(typeof value, "string", `${what}: expected a string`);
  return value as string;
}

/**
 * Reads and checks the override: as written, or as Compose reads it in the
 * environment `env` (see {@link interpolate}).
 */
export async function readComposeOverride(
  env?: Readonly<Record<string, string>>,
): Promise<ComposeOverride> {
  const raw = await Deno.readTextFile(new URL("client-proxy.yml", DOCKER_DIR));
  const compose = mapping(parse(env ? interpolate(raw, env) : raw), "client-proxy.yml");
  const services = mapping(compose.services, "services");
  const prosody = mapping(services.prosody, "services.prosody");
  const environment = mapping(prosody.environment, "services.prosody.environment");
  const service = mapping(services["client-proxy"], 'services["client-proxy"]');
  const at = (key: string) => `services["client-proxy"].${key}`;
  return {
    globalConfig: text(environment.GLOBAL_CONFIG, "GLOBAL_CONFIG"),
    clientProxy: {
      image: text(service.image, at("image")),
      readOnly: service.read_only,
      user: service.user,
      volumes: strings(service.volumes, at("volumes")),
      environment: strings(service.environment, at("environment")),
      dependsOn: strings(service.depends_on, at("depends_on")),
      networks: mapping(service.networks, at("networks")),
      command: strings(service.command, at("command")),
    },
  };
}
