/** src/config/secrets.ts: the four secret sources, what they read, and that no message shows a secret. */
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/parse.ts";
import {
  accept,
  ASCII,
  CREDENTIALS,
  FILE,
  ONE_SECRET,
  P0,
  readFile,
  testRejected,
  unplaced,
  yamlOf,
} from "../support/config.ts";

Deno.test("secret_env reads the variable and is listed in envNames", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_env: "PROXY_SECRET" },
    { domain: "b.example.org", secret: null, secret_env: "PROXY_SECRET" },
  ));
  assert.equal(config.proxies[0].secret, "from-env");
  assert.deepEqual(config.envNames, ["PROXY_SECRET"]);
  assert.deepEqual(config.readPaths, [FILE]);
});

Deno.test("secret_file is read relative to the config, one newline stripped", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_file: "secret.txt" },
    {
      domain: "b.example.org",
      secret: null,
      secret_file: "/etc/client-proxy/abs.txt",
    },
  ));
  assert.equal(config.proxies[0].secret, "from-file");
  assert.equal(config.proxies[1].secret, "absolute");
  assert.deepEqual(config.readPaths, [
    FILE,
    "secret.txt",
    "/etc/client-proxy/abs.txt",
  ]);

  const seen: string[] = [];
  const result = parseConfig(
    yamlOf({}, { secret: null, secret_file: "sub/s.txt" }),
    {
      file: "/etc/client-proxy/client-proxy.yaml",
      readFile: (path) => {
        seen.push(path);
        return "x";
      },
    },
  );
  assert.deepEqual(seen, ["/etc/client-proxy/sub/s.txt"]);
  assert.ok(result.ok);
  assert.deepEqual(result.config.readPaths, [
    "/etc/client-proxy/client-proxy.yaml",
    "/etc/client-proxy/sub/s.txt",
  ]);
});

Deno.test("secret_credential reads $CREDENTIALS_DIRECTORY/NAME", () => {
  const config = accept(yamlOf(
    {},
    { domain: "a.example.org", secret: null, secret_credential: "xmpp-secret" },
    { domain: "b.example.org", secret: null, secret_credential: "xmpp-secret" },
  ));
  assert.equal(config.proxies[0].secret, "from-credential");
  assert.deepEqual(config.readPaths, [FILE, `${CREDENTIALS}/xmpp-secret`]);
  assert.deepEqual(config.envNames, ["CREDENTIALS_DIRECTORY"]);
});

Deno.test("secret_credential without CREDENTIALS_DIRECTORY is an error", () => {
  const text = yamlOf({}, { secret: null, secret_credential: "xmpp-secret" });
  for (const env of [{}, { CREDENTIALS_DIRECTORY: "" }]) {
    const result = parseConfig(text, {
      file: FILE,
      readFile,
      getEnv: (name) => (env as Record<string, string>)[name],
    });
    assert.deepEqual(result.ok ? [] : result.errors.map(unplaced), [
      `${P0}.secret_credential: expected the environment variable CREDENTIALS_DIRECTORY to be set (systemd sets it for a unit with LoadCredential=; to check outside the unit: systemd-run -P -p LoadCredential=NAME:PATH client-proxy --check --config FILE, or client-proxy --check --credentials-dir DIR), got it unset`,
    ]);
  }
  const denied = parseConfig(text, {
    file: FILE,
    getEnv: () => {
      throw new Deno.errors.NotCapable("Requires env access");
    },
  });
  assert.deepEqual(denied.ok ? [] : denied.errors.map(unplaced), [
    `${P0}.secret_credential: expected a readable environment variable CREDENTIALS_DIRECTORY, got not allowed by Deno's permissions (--allow-read / --allow-env; a binary built with \`deno task compile --config FILE\` may read only the files and variables that FILE uses)`,
  ]);
});

Deno.test("a secret_credential's content never appears in a message", () => {
  const secret = "h\u00fcnter2-S\u00e9cret";
  const result = parseConfig(yamlOf({}, { secret: null, secret_credential: "x" }), {
    file: FILE,
    getEnv: () => CREDENTIALS,
    readFile: () => secret,
  });
  assert.deepEqual(result.ok ? [] : result.errors.map(unplaced), [
    `${P0}.secret_credential: ${ASCII}`,
  ]);
});

testRejected([
  // secrets
  ["secret is non-ASCII", yamlOf({}, { secret: "s\u00e9cret" }), [
    `${P0}.secret: ${ASCII}`,
  ]],
  ["secret has a tab", yamlOf({}, { secret: '"a\\tb"' }), [
    `${P0}.secret: ${ASCII}`,
  ]],
  ["secret is empty", yamlOf({}, { secret: '""' }), [
    `${P0}.secret: expected a non-empty string, got an empty string`,
  ]],
  ["secret is a number", yamlOf({}, { secret: "123456" }), [
    `${P0}.secret: expected a string (quote secrets that YAML would read as numbers), got a number (value not shown)`,
  ]],
  ["secret is null", yamlOf({}, { secret: "" }), [
    `${P0}.secret: expected a string (quote secrets that YAML would read as numbers), got an empty value`,
  ]],
  ["two secret sources", yamlOf({}, { secret_env: "PROXY_SECRET" }), [
    `${P0}: ${ONE_SECRET}, got secret and secret_env`,
  ]],
  [
    "three secret sources",
    yamlOf({}, {
      secret_env: "PROXY_SECRET",
      secret_file: "secret.txt",
    }),
    [
      `${P0}: ${ONE_SECRET}, got secret and secret_env and secret_file`,
    ],
  ],
  ["no secret source", yamlOf({}, { secret: null }), [
    `${P0}: ${ONE_SECRET}, got none`,
  ]],
  ["secret_env is unset", yamlOf({}, { secret: null, secret_env: "NOPE" }), [
    `${P0}.secret_env: expected the environment variable it names to be set, got it unset`,
  ]],
  [
    "secret_env is empty",
    yamlOf({}, { secret: null, secret_env: "EMPTY_SECRET" }),
    [
      `${P0}.secret_env: expected the environment variable it names to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_env is non-ASCII",
    yamlOf({}, { secret: null, secret_env: "LATIN_SECRET" }),
    [
      `${P0}.secret_env: ${ASCII}`,
    ],
  ],
  [
    "secret_env is no variable name",
    yamlOf({}, { secret: null, secret_env: "MY-SECRET" }),
    [
      `${P0}.secret_env: expected an environment variable name like PROXY_SECRET, got a string (value not shown)`,
    ],
  ],
  [
    "secret_file is missing",
    yamlOf({}, { secret: null, secret_file: "nope.txt" }),
    [
      `${P0}.secret_file: expected a readable file, got an unreadable one (No such file)`,
    ],
  ],
  [
    "secret_file is empty",
    yamlOf({}, { secret: null, secret_file: "empty.txt" }),
    [
      `${P0}.secret_file: expected the file it names to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_file holds only a newline",
    yamlOf({}, {
      secret: null,
      secret_file: "newline-only.txt",
    }),
    [
      `${P0}.secret_file: expected the file it names to hold a non-empty secret, got an empty value`,
    ],
  ],
  [
    "secret_file ends in two newlines",
    yamlOf({}, {
      secret: null,
      secret_file: "two-newlines.txt",
    }),
    [
      `${P0}.secret_file: the file it names holds more than one line: a secret is one line (a final newline is dropped)`,
    ],
  ],
  [
    "secret_file starts with a byte order mark",
    yamlOf({}, { secret: null, secret_file: "bom.txt" }),
    [
      `${P0}.secret_file: the file it names starts with a byte order mark (BOM): save it without one`,
    ],
  ],
  [
    "secret_file is non-ASCII",
    yamlOf({}, { secret: null, secret_file: "latin.txt" }),
    [
      `${P0}.secret_file: ${ASCII}`,
    ],
  ],
  ["secret_file is a number", yamlOf({}, { secret: null, secret_file: "5" }), [
    `${P0}.secret_file: expected a file path, got a number (value not shown)`,
  ]],

  // secret_credential
  [
    "secret_credential file is missing",
    yamlOf({}, { secret: null, secret_credential: "nope" }),
    [
      `${P0}.secret_credential: expected a readable credential file, got an unreadable one (No such file)`,
    ],
  ],
  [
    "secret_credential file is empty",
    yamlOf({}, { secret: null, secret_credential: "empty" }),
    [
      `${P0}.secret_credential: expected the credential file it names to hold a non-empty secret, got an empty value`,
    ],
  ],
  ...["../etc/passwd", "a/b", ".hidden", '"has space"', "5"].map((
    name,
  ): [string, string, string[]] => [
    `secret_credential name ${name}`,
    yamlOf({}, { secret: null, secret_credential: name }),
    [
      `${P0}.secret_credential: expected a credential name like client-proxy.secret (systemd LoadCredential=), got a ${
        name === "5" ? "number" : "string"
      } (value not shown)`,
    ],
  ]),
  ["secret and secret_credential", yamlOf({}, { secret_credential: "xmpp-secret" }), [
    `${P0}: ${ONE_SECRET}, got secret and secret_credential`,
  ]],
]);

// ------------------------------------------------------------ secret leaks

Deno.test("no message ever contains the secret", () => {
  const secrets = ["h\u00fcnter2-S\u00e9cret", "Hunter2Secret", "987654321"];
  const cases: string[] = [
    yamlOf({}, { secret: secrets[0] }), // non-ASCII
    yamlOf({}, { secret: `"${secrets[0]}"`, secret_env: "PROXY_SECRET" }),
    yamlOf({}, { secret: secrets[2] }), // a number: wrong type
    yamlOf({}, { secret: `[${secrets[1]}]` }), // a list: wrong type
    yamlOf({}, { secret: `{ value: ${secrets[1]} }` }), // a mapping
    yamlOf({}, { secret: `!vault ${secrets[1]}` }), // unknown tag
    yamlOf({}, { secret: null, secret_env: `"${secrets[1]}!"` }),
    yamlOf({}, { secret: null, secret_env: `"${secrets[0]}"` }),
    yamlOf({}, { secret: `"${secrets[1]}\\q"` }), // bad escape
    yamlOf({}, { secret: `"${secrets[1]}` }), // unterminated quote
    yamlOf({}, { secret: `${secrets[1]}: x` }), // nested mapping
    yamlOf({ sekret: secrets[1] }),
  ];
  const env = { LATIN: secrets[0] };
  cases.push(yamlOf({}, { secret: null, secret_env: "LATIN" }));
  for (const text of cases) {
    const result = parseConfig(text, {
      file: FILE,
      getEnv: (name) => Object.hasOwn(env, name) ? env.LATIN : undefined,
      readFile: () => secrets[0],
    });
    assert.ok(!result.ok, text);
    assert.ok(result.errors.length > 0);
    for (const error of result.errors) {
      for (const secret of secrets) {
        for (const part of [secret, secret.slice(0, 6), secret.slice(-6)]) {
          assert.ok(!error.includes(part), `${error}\nleaks ${part}`);
        }
      }
    }
  }
});

// ------------------------------------------------------------ purity

Deno.test("parseConfig touches nothing outside unless given readFile/getEnv", () => {
  const env = parseConfig(yamlOf({}, { secret: null, secret_env: "HOME" }), {
    file: FILE,
  });
  assert.deepEqual(env.ok ? [] : env.errors.map(unplaced), [
    `${P0}.secret_env: expected the environment variable it names to be set, got it unset`,
  ]);
  const file = parseConfig(
    yamlOf({}, { secret: null, secret_file: "/etc/hostname" }),
    { file: FILE },
  );
  assert.deepEqual(file.ok ? [] : file.errors.map(unplaced), [
    `${P0}.secret_file: expected a readable file, got an unreadable one (Error)`,
  ]);
});

Deno.test("a throwing getEnv is reported, not thrown", () => {
  const result = parseConfig(
    yamlOf({}, { secret: null, secret_env: "PROXY_SECRET" }),
    {
      file: FILE,
      getEnv: () => {
        throw new Deno.errors.NotCapable("Requires env access");
      },
    },
  );
  assert.deepEqual(result.ok ? [] : result.errors.map(unplaced), [
    `${P0}.secret_env: expected a readable environment variable, got not allowed by Deno's permissions (--allow-read / --allow-env; a binary built with \`deno task compile --config FILE\` may read only the files and variables that FILE uses)`,
  ]);
});
