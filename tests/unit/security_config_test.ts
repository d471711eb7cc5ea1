import assert from "node:assert/strict";
import { ConfigError, describeConfig, parseConfig, secretValues } from "../../lib/config/mod.ts";
import { normalizeFingerprint } from "../../lib/config/elastic.ts";
import { Health } from "../../lib/runtime/health.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { tlsProblem } from "../../lib/runtime/tls_problem.ts";

const base = { KAFKA_BOOTSTRAP_SERVERS: "k1:9093", KAFKA_TOPIC: "pmacct" };
const configError = (variable: string) => (error: unknown) =>
  error instanceof ConfigError && error.variable === variable;

Deno.test("Kafka security defaults to PLAINTEXT; SASL_SSL takes librdkafka's names", () => {
  assert.deepEqual(parseConfig(base, "UTC").kafka.security, { protocol: "PLAINTEXT" });
  const config = parseConfig({
    ...base,
    KAFKA_SECURITY_PROTOCOL: "sasl_ssl",
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: "bridge",
    KAFKA_SASL_PASSWORD: "s3cret-pw",
    KAFKA_SSL_CA_FILE: "/etc/ca.pem",
  }, "UTC");
  assert.deepEqual(config.kafka.security, {
    protocol: "SASL_SSL",
    sasl: { mechanism: "SCRAM-SHA-512", username: "bridge", password: "s3cret-pw" },
    tls: { caFile: "/etc/ca.pem", certFile: undefined, keyFile: undefined },
  });
  const line = describeConfig(config);
  assert.ok(!line.includes("s3cret-pw"));
  assert.match(line, /KAFKA_SASL_PASSWORD=\*\*\*\* /);
  assert.deepEqual(secretValues(config), ["s3cret-pw"]);
});

Deno.test("Kafka security mistakes name the variable to fix", () => {
  const sasl = { ...base, KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT" };
  assert.throws(() => parseConfig({ ...base, KAFKA_SECURITY_PROTOCOL: "TLS" }), configError("KAFKA_SECURITY_PROTOCOL"));
  assert.throws(() => parseConfig(sasl), configError("KAFKA_SASL_MECHANISM"));
  assert.throws(() => parseConfig({ ...sasl, KAFKA_SASL_MECHANISM: "GSSAPI" }), configError("KAFKA_SASL_MECHANISM"));
  assert.throws(() => parseConfig({ ...sasl, KAFKA_SASL_MECHANISM: "PLAIN" }), configError("KAFKA_SASL_USERNAME"));
  assert.throws(
    () => parseConfig({ ...sasl, KAFKA_SASL_MECHANISM: "PLAIN", KAFKA_SASL_USERNAME: "u" }),
    configError("KAFKA_SASL_PASSWORD"),
  );
  // A forgotten protocol is reported, not ignored.
  assert.throws(() => parseConfig({ ...base, KAFKA_SASL_USERNAME: "u" }), configError("KAFKA_SECURITY_PROTOCOL"));
  assert.throws(() => parseConfig({ ...base, KAFKA_SSL_CA_FILE: "/ca.pem" }), configError("KAFKA_SECURITY_PROTOCOL"));
  assert.throws(
    () => parseConfig({ ...base, KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_SSL_CERT_FILE: "/c.pem" }),
    configError("KAFKA_SSL_KEY_FILE"),
  );
});

Deno.test("Elasticsearch TLS: a CA file or fingerprint implies HTTPS; verification stays on", () => {
  const fingerprint = "ab".repeat(32);
  const config = parseConfig({ ...base, ELASTIC_HOSTS: "es1:9200", ELASTIC_CA_FINGERPRINT: fingerprint }, "UTC");
  assert.deepEqual(config.elastic.nodes, ["https://es1:9200"]);
  assert.equal(config.elastic.tls.verify, true);
  assert.equal(config.elastic.tls.caFingerprint, "AB:".repeat(31) + "AB");
  assert.equal(normalizeFingerprint("ab:".repeat(31) + "ab"), "AB:".repeat(31) + "AB");
  assert.throws(() => normalizeFingerprint("AB:CD"), configError("ELASTIC_CA_FINGERPRINT"));
  assert.throws(
    () => parseConfig({ ...base, ELASTIC_CA_FILE: "/ca.pem", ELASTIC_CA_FINGERPRINT: fingerprint }),
    configError("ELASTIC_CA_FINGERPRINT"),
  );
  assert.throws(
    () => parseConfig({ ...base, ELASTIC_CLIENT_KEY_FILE: "/k.pem" }),
    configError("ELASTIC_CLIENT_CERT_FILE"),
  );
  assert.deepEqual(parseConfig({ ...base, ELASTIC_CA_FILE: "/ca.pem" }, "UTC").elastic.nodes, [
    "https://127.0.0.1:9200",
  ]);
});

Deno.test("TLS failures are told apart from unreachable servers", () => {
  assert.equal(tlsProblem("unable to verify the first certificate"), "certificate is not trusted");
  assert.equal(
    tlsProblem("Connection error: self-signed certificate in certificate chain"),
    "certificate is not trusted",
  );
  assert.equal(tlsProblem("invalid peer certificate: UnknownIssuer"), "certificate is not trusted");
  assert.equal(
    tlsProblem("Hostname/IP does not match certificate's altnames"),
    "certificate does not match the host name",
  );
  assert.equal(tlsProblem("received fatal alert: BadCertificate"), "client certificate was refused");
  assert.equal(tlsProblem("connect ECONNREFUSED 127.0.0.1:9200"), undefined);
  assert.equal(tlsProblem("Request timed out"), undefined);
});

Deno.test("a problem is logged once while it lasts, its end once, and readiness names it", () => {
  const lines: string[] = [];
  const health = new Health(new Logger("info", (line) => lines.push(line)), { kafka: false, kafka_tls: true });
  for (let i = 0; i < 5; i++) health.fail("kafka_tls", "Kafka's certificate is not trusted");
  assert.equal(lines.filter((line) => line.includes("ERROR Kafka's certificate is not trusted")).length, 1);
  assert.deepEqual(health.report(), {
    ready: false,
    checks: { kafka: false, kafka_tls: false },
    problems: { kafka_tls: "Kafka's certificate is not trusted" },
  });
  health.pass("kafka_tls");
  health.pass("kafka_tls");
  health.set("kafka", true);
  assert.equal(lines.filter((line) => line.includes("resolved check=kafka_tls")).length, 1);
  assert.deepEqual(health.report(), { ready: true, checks: { kafka: true, kafka_tls: true }, problems: {} });
});

Deno.test("secrets are masked in every log line, also inside quoted fields", () => {
  const lines: string[] = [];
  const log = new Logger("info", (line) => lines.push(line));
  log.mask(['pa"ss word']);
  log.error("auth failed", { error: 'server said: bad password pa"ss word', other: "x" });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("ss word"), lines[0]);
  assert.match(lines[0], /\*\*\*\*/);
});
