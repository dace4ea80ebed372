/**
 * Certificates for TLS tests, made at test time with Debian's `openssl` in
 * a temp dir (removed by `remove()`): a test CA, and server certificates
 * for `localhost` / 127.0.0.1 signed by it, one expired, one for another
 * name only, and one self-signed. All server certificates share one key.
 *
 * Needs `--allow-run=openssl` and read/write on the temp dir.
 */

/** The server certificates {@link makeCerts} makes. */
export type CertKind = "signed" | "expired" | "wrong-name" | "self-signed";

/** What {@link makeCerts} made: PEM file paths. */
export interface TestCerts {
  readonly dir: string;
  /** The test CA's certificate (what `tls_ca` names to trust it). */
  readonly ca: string;
  /** The key of every server certificate. */
  readonly key: string;
  /** Each server certificate, alone. */
  readonly cert: Readonly<Record<CertKind, string>>;
  /** Each server certificate followed by the key, in one file (ejabberd's `certfile`). */
  readonly full: Readonly<Record<CertKind, string>>;
  remove(): Promise<void>;
}

const INSTALL_HINT = 'openssl not found: install it with "apt-get install openssl"';
/** The names a server certificate is for, except the wrong-name one. */
const LOCAL_NAMES = "subjectAltName=DNS:localhost,IP:127.0.0.1";
const SERVER_EXTENSIONS = "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n";

async function openssl(dir: string, ...args: string[]): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new Error(INSTALL_HINT);
    throw error;
  }
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr);
    throw new Error(`openssl ${args.join(" ")} failed:\n${text}`);
  }
}

/**
 * Makes the CA and the server certificates (a second or so); the
 * wrong-name one is for `otherName` only (default `other.example`).
 */
export async function makeCerts(
  options: { readonly otherName?: string } = {},
): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "client-proxy-certs-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await openssl(
      dir,
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=client-proxy test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    await openssl(
      dir,
      "req",
      ...ec,
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    );
    await Deno.writeTextFile(`${dir}/local.ext`, `${LOCAL_NAMES}\n${SERVER_EXTENSIONS}`);
    await Deno.writeTextFile(
      `${dir}/wrong.ext`,
      `subjectAltName=DNS:${options.otherName ?? "other.example"}\n${SERVER_EXTENSIONS}`,
    );
    const sign = (out: string, ext: string) =>
      openssl(
        dir,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        out,
        "-days",
        "2",
        "-extfile",
        ext,
      );
    await sign("signed.pem", "local.ext");
    await sign("wrong-name.pem", "wrong.ext");
    // `openssl ca` is the one that takes past dates.
    await Deno.mkdir(`${dir}/ca`);
    await Deno.writeTextFile(`${dir}/ca/index.txt`, "");
    await Deno.writeTextFile(`${dir}/ca/serial`, "01\n");
    await Deno.writeTextFile(
      `${dir}/ca.cnf`,
      "[ca]\ndefault_ca = test\n[test]\ndatabase = ca/index.txt\nnew_certs_dir = ca\n" +
        "serial = ca/serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
    );
    await openssl(
      dir,
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      "ca.pem",
      "-keyfile",
      "ca.key",
      "-in",
      "server.csr",
      "-out",
      "expired.pem",
      "-notext",
      "-startdate",
      "20200101000000Z",
      "-enddate",
      "20200201000000Z",
      "-extfile",
      "local.ext",
    );
    await openssl(
      dir,
      "req",
      "-x509",
      "-key",
      "server.key",
      "-out",
      "self-signed.pem",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      LOCAL_NAMES,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    );
    const kinds: CertKind[] = ["signed", "expired", "wrong-name", "self-signed"];
    const key = await Deno.readTextFile(`${dir}/server.key`);
    for (const kind of kinds) {
      const cert = await Deno.readTextFile(`${dir}/${kind}.pem`);
      await Deno.writeTextFile(`${dir}/${kind}-full.pem`, cert + key);
    }
    const paths = (suffix: string) =>
      Object.fromEntries(kinds.map((kind) => [kind, `${dir}/${kind}${suffix}.pem`])) as Record<
        CertKind,
        string
      >;
    return {
      dir,
      ca: `${dir}/ca.pem`,
      key: `${dir}/server.key`,
      cert: paths(""),
      full: paths("-full"),
      remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}
