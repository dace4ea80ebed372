/**
 * Jitsi Meet's Prosody config as its two deployments lay it out, for a
 * private Prosody (tests/support/prosody.ts's `layout`), and the package
 * script's test of it:
 *
 * - the Debian packages: `/etc/prosody/prosody.cfg.lua` including
 *   `conf.d/*.cfg.lua`, and `conf.avail/<host>.cfg.lua` (linked from
 *   `conf.d`) with the host, the `auth.` host and the focus component as
 *   jitsi-meet-prosody's postinst writes them from its template
 *   (jitsi/jitsi-meet, doc/debian/jitsi-meet-prosody/prosody.cfg.lua-jvb.example
 *   at 09efaecc, with the postinst's substitutions: jitmeet.example.com → the
 *   host, focusUser → the user), all under a temporary root;
 * - docker-jitsi-meet's prosody image: `prosody.cfg.lua` with the image's
 *   `component_ports = { }`, then GLOBAL_CONFIG's lines, then the `Include`;
 *   `conf.d/jitsi-meet.cfg.lua` with the focus component as its template
 *   renders it with the default domains (jitsi/docker-jitsi-meet at 2e6b31d8,
 *   prosody/rootfs/defaults/).
 *
 * Only what stock Prosody 0.12 can load is kept; each stand-in says so.
 */

/** The host of the Debian example (docs/jitsi.md's `meet.example.org`). */
export const DEBIAN_HOST = "meet.example.org";
/** docker-jitsi-meet's default XMPP_DOMAIN. */
export const DOCKER_DOMAIN = "meet.jitsi";
/** Jicofo's user, the packages' default. */
export const FOCUS_USER = "focus";

/**
 * The lines of `conf.avail/<host>.cfg.lua` that matter here, as the package
 * writes them: the host, the focus component (with the template's comment),
 * the `auth.` host, and a component after it (so that removing the focus
 * lines is seen to leave the next section whole).
 */
export function packageHostFile(host: string): string {
  return [
    `VirtualHost "${host}"`,
    // The package: "jitsi-anonymous", Jitsi's plugin (anonymous, plus session resumption).
    '    authentication = "anonymous"',
    "    c2s_require_encryption = false",
    "",
    `VirtualHost "auth.${host}"`,
    '    authentication = "internal_hashed"',
    "",
    "-- Proxy to jicofo's user JID, so that it doesn't have to register as a component.",
    `Component "focus.${host}" "client_proxy"`,
    `    target_address = "${FOCUS_USER}@auth.${host}"`,
    "",
    // The package's next components load Jitsi's plugins; its lobby is a stock MUC.
    `Component "lobby.${host}" "muc"`,
    '    storage = "memory"',
    "    muc_room_locking = false",
    "",
  ].join("\n");
}

/** Where the Debian layout puts Prosody's files under `root`. */
export function debianPaths(root: string, host = DEBIAN_HOST) {
  const prosody = `${root}/etc/prosody`;
  return {
    main: `${prosody}/prosody.cfg.lua`,
    hostFile: `${prosody}/conf.avail/${host}.cfg.lua`,
    hostLink: `${prosody}/conf.d/${host}.cfg.lua`,
    confD: `${prosody}/conf.d`,
  };
}

/**
 * Writes the Debian layout under `root`: the main file (the test's global
 * settings, then the `Include` that Debian's prosody.cfg.lua ends with), the
 * package's host file, and its link in `conf.d`. Returns the main file.
 */
export async function writeDebianLayout(root: string, globals: string): Promise<string> {
  const paths = debianPaths(root);
  await Deno.mkdir(`${root}/etc/prosody/conf.avail`, { recursive: true });
  await Deno.mkdir(paths.confD, { recursive: true });
  await Deno.writeTextFile(paths.main, `${globals}\nInclude "conf.d/*.cfg.lua"\n`);
  await Deno.writeTextFile(paths.hostFile, packageHostFile(DEBIAN_HOST));
  await Deno.symlink(paths.hostFile, paths.hostLink);
  return paths.main;
}

/**
 * Whether the package's postinst would put the module back in `file`: its
 * test finds `Component "focus.<host>"` (grep, a basic regular expression,
 * anywhere on a line) and no `Component "focus.<host>" "client_proxy"`.
 */
export async function postinstWouldRewrite(file: string, host = DEBIAN_HOST): Promise<boolean> {
  const component = `Component "focus.${host}"`;
  return await grep(component, file) && !await grep(`${component} "client_proxy"`, file);
}

/** What the postinst then does to `file`: each such line becomes the module's two lines. */
export async function postinstRewrite(file: string, host = DEBIAN_HOST): Promise<void> {
  const component = `Component "focus.${host}"`;
  const module = `${component} "client_proxy"\\n    target_address = "${FOCUS_USER}@auth.${host}"`;
  await run("sed", ["-i", `s/${component}/${module}/g`, file]);
}

/** `grep -q PATTERN FILE`: whether a line matches. */
export async function grep(pattern: string, file: string): Promise<boolean> {
  const { code } = await command("grep", ["-q", "--", pattern, file]);
  if (code > 1) throw new Error(`grep ${pattern} ${file}: exit ${code}`);
  return code === 0;
}

/**
 * The image's rendering under `root`: `prosody.cfg.lua` with its
 * `component_ports = { }` then `globalConfig`'s lines (GLOBAL_CONFIG, split
 * at each `\n` as the template does), and `conf.d/jitsi-meet.cfg.lua` with
 * the focus component; plugins from `pluginPaths`, in that order. Returns the
 * main file.
 */
export async function writeDockerLayout(
  root: string,
  globals: string,
  globalConfig: string,
  pluginPaths: readonly string[],
): Promise<string> {
  // The image's /run/prosody/config, as `root` itself: Prosody 0.12.3 fails to read a config
  // with a duplicate option (the image's component_ports) when the file's path is longer than
  // Lua's short source name (59 characters), as a deeper temporary path would be.
  const main = `${root}/prosody.cfg.lua`;
  if (main.length > 59) throw new Error(`${main}: over 59 characters (set TMPDIR shorter)`);
  await Deno.mkdir(`${root}/conf.d`, { recursive: true });
  const globalLines = globalConfig.split("\\n").filter((line) => line !== "");
  await Deno.writeTextFile(
    main,
    [globals, "component_ports = { }", ...globalLines, 'Include "conf.d/*.cfg.lua"', ""].join("\n"),
  );
  const domain = DOCKER_DOMAIN;
  await Deno.writeTextFile(
    `${root}/conf.d/jitsi-meet.cfg.lua`,
    [
      `plugin_paths = { ${pluginPaths.map((path) => JSON.stringify(path)).join(", ")} }`,
      "",
      // The image: "jitsi-anonymous" here too.
      `VirtualHost "${domain}"`,
      '    authentication = "anonymous"',
      "",
      `VirtualHost "auth.${domain}"`,
      '    authentication = "internal_hashed"',
      "",
      `Component "focus.${domain}" "client_proxy"`,
      `    target_address = "${FOCUS_USER}@auth.${domain}"`,
      "",
    ].join("\n"),
  );
  return main;
}

async function command(name: string, args: string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(name, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
}

async function run(name: string, args: string[]): Promise<void> {
  const output = await command(name, args);
  if (!output.success) {
    throw new Error(`${name} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
}
