import assert from "node:assert/strict";
import { ConfigError, describeConfig, parseConfig, secretValues } from "../../lib/config/mod.ts";
import { resolveSecretFiles, SECRET_VARIABLES } from "../../lib/config/secret_files.ts";

const base = { KAFKA_BOOTSTRAP_SERVERS: "k1:9092", KAFKA_TOPIC: "pmacct" };
const files: Record<string, string> = {
  "/run/secrets/es": "s3cret-pw\n",
  "/run/secrets/key": "a2V5OmlkCg==\r\n",
  "/run/secrets/kafka": "kafka-pw",
  "/run/secrets/two-lines": "first\nsecond\n",
  "/run/secrets/empty": "\n",
};
const read = (path: string) => {
  if (!(path in files)) throw new Deno.errors.NotFound(`No such file or directory (os error 2): readfile '${path}'`);
  return files[path];
};
const configError = (variable: string, message: RegExp) => (error: unknown) =>
  error instanceof ConfigError && error.variable === variable && message.test(error.message);

Deno.test("each secret is read from its _FILE, one trailing newline dropped", () => {
  const env = resolveSecretFiles({
    ...base,
    ELASTIC_USERNAME: "bridge",
    ELASTIC_PASSWORD_FILE: "/run/secrets/es",
    KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
    KAFKA_SASL_MECHANISM: "PLAIN",
    KAFKA_SASL_USERNAME: "bridge",
    KAFKA_SASL_PASSWORD_FILE: "/run/secrets/kafka",
  }, read);
  const config = parseConfig(env, "UTC");
  assert.equal(config.elastic.password, "s3cret-pw");
  assert.equal(config.kafka.security.sasl?.password, "kafka-pw");
  assert.deepEqual(secretValues(config), ["s3cret-pw", "kafka-pw"], "masked in the log like any secret");
  const line = describeConfig(config);
  assert.match(line, / ELASTIC_PASSWORD=\*\*\*\* ELASTIC_PASSWORD_FILE=\/run\/secrets\/es /);
  assert.match(line, / KAFKA_SASL_PASSWORD=\*\*\*\* KAFKA_SASL_PASSWORD_FILE=\/run\/secrets\/kafka /);
  assert.match(line, / ELASTIC_API_KEY_FILE=\(none\) /);
  assert.equal(resolveSecretFiles({ ELASTIC_API_KEY_FILE: "/run/secrets/key" }, read).ELASTIC_API_KEY, "a2V5OmlkCg==");
  assert.deepEqual([...SECRET_VARIABLES], ["ELASTIC_PASSWORD", "ELASTIC_API_KEY", "KAFKA_SASL_PASSWORD"]);
});

Deno.test("a secret's _FILE that cannot be read, is empty or comes with the secret itself names the _FILE", () => {
  assert.throws(
    () => resolveSecretFiles({ ELASTIC_PASSWORD_FILE: "/run/secrets/missing" }, read),
    configError(
      "ELASTIC_PASSWORD_FILE",
      /"\/run\/secrets\/missing" is invalid: expected a readable file \(No such file/,
    ),
  );
  assert.throws(
    () => resolveSecretFiles({ KAFKA_SASL_PASSWORD_FILE: "/run/secrets/empty" }, read),
    configError("KAFKA_SASL_PASSWORD_FILE", /a file holding KAFKA_SASL_PASSWORD, not an empty one/),
  );
  assert.throws(
    () => resolveSecretFiles({ ELASTIC_API_KEY_FILE: "/run/secrets/two-lines" }, read),
    configError("ELASTIC_API_KEY_FILE", /a file holding ELASTIC_API_KEY on one line/),
  );
  assert.throws(
    () => resolveSecretFiles({ ELASTIC_API_KEY: "k", ELASTIC_API_KEY_FILE: "/run/secrets/key" }, read),
    configError("ELASTIC_API_KEY_FILE", /ELASTIC_API_KEY or ELASTIC_API_KEY_FILE, not both/),
  );
  // Blank values are unset, as everywhere else.
  assert.deepEqual(resolveSecretFiles({ ELASTIC_PASSWORD_FILE: " ", ELASTIC_PASSWORD: "pw" }, read), {
    ELASTIC_PASSWORD_FILE: " ",
    ELASTIC_PASSWORD: "pw",
  });
});
