import assert from "node:assert/strict";
import { SHARED } from "../support/fixtures.ts";
import { ConfigError, describeConfig, elasticNodeUrl, parseConfig, VARIABLES } from "../../lib/config/mod.ts";
import { deadLetterSources } from "../../lib/config/kafka.ts";

const base = { KAFKA_BOOTSTRAP_SERVERS: "k1:9092,k2:9094", KAFKA_TOPIC: "pmacct.sfacct" };

const configError = (variable: string) => (error: unknown) =>
  error instanceof ConfigError && error.variable === variable;

Deno.test("defaults are the original tool's", () => {
  const config = parseConfig(base, "UTC");
  assert.deepEqual(config.kafka.brokers, ["k1:9092", "k2:9094"]);
  assert.equal(config.kafka.groupId, "kafka2elastic");
  assert.deepEqual(config.elastic.nodes, ["http://127.0.0.1:9200"]);
  assert.equal(config.elastic.useSsl, false);
  assert.equal(config.elastic.tls.verify, true);
  assert.equal(config.elastic.indexPrefix, "sflow");
  assert.equal(config.elastic.indexTemplateFile, "new-index-template.json");
  assert.equal(config.elastic.maxSamplesPerSend, 1000);
  assert.equal(config.elastic.maxTimeToSendSeconds, 10);
  assert.equal(config.elastic.shards, undefined, "the template's, else 1");
  assert.equal(config.elastic.replicas, undefined, "the template's, else 0");
  assert.equal(config.prometheusPort, 9003);
  assert.equal(config.kafka.fromBeginning, true);
  assert.deepEqual(config.kafka.topics, ["pmacct.sfacct"]);
  assert.deepEqual([...config.kafka.deadLetterTopics], [["pmacct.sfacct", "pmacct.sfacct-dlq"]]);
  assert.deepEqual(config.warnings, []);
});

Deno.test("required variables are named when missing", () => {
  assert.throws(() => parseConfig({ KAFKA_TOPIC: "t" }), configError("KAFKA_BOOTSTRAP_SERVERS"));
  assert.throws(() => parseConfig({ KAFKA_BOOTSTRAP_SERVERS: "k:1" }), configError("KAFKA_TOPIC"));
  assert.throws(() => parseConfig({ ...base, KAFKA_TOPIC: "  " }), configError("KAFKA_TOPIC"));
});

Deno.test("invalid values name the variable and what was expected", () => {
  const cases: Array<[string, string]> = [
    ["ELASTIC_MAX_SAMPLES_PER_SEND", "many"],
    ["ELASTIC_MAX_SAMPLES_PER_SEND", "0"],
    ["ELASTIC_MAX_TIME_TO_SEND", "1.5"],
    ["PROMETHEUS_CLIENT_PORT", "70000"],
    ["ELASTIC_USE_SSL", "maybe"],
    ["ELASTIC_VERIFY_SSL", "sometimes"],
    ["ELASTIC_INDEX_PREFIX", "Flows"],
    ["ELASTIC_HOSTS", "::1"],
    ["KAFKA_BOOTSTRAP_SERVERS", "kafka-without-port"],
    ["KAFKA_AUTO_OFFSET_RESET", "middle"],
    ["PMACCT_TIMEZONE", "Mars/Olympus"],
    ["LOG_LEVEL", "loud"],
    ["KAFKA_DLQ_TOPIC", "pmacct.sfacct"],
  ];
  for (const [variable, value] of cases) {
    assert.throws(() => parseConfig({ ...base, [variable]: value }, "UTC"), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `${variable}=${value}`);
      assert.equal(error.variable, variable);
      assert.match(error.message, new RegExp(`^${variable}=.* is invalid: expected `));
      return true;
    });
  }
});

Deno.test("the original's misspelt ELASTC_MAX_TIME_TO_SEND is honoured with a warning", () => {
  const config = parseConfig({ ...base, ELASTC_MAX_TIME_TO_SEND: "3" }, "UTC");
  assert.equal(config.elastic.maxTimeToSendSeconds, 3);
  assert.equal(config.warnings.length, 1);
  assert.match(config.warnings[0], /ELASTC_MAX_TIME_TO_SEND/);
  const both = parseConfig({ ...base, ELASTC_MAX_TIME_TO_SEND: "3", ELASTIC_MAX_TIME_TO_SEND: "7" }, "UTC");
  assert.equal(both.elastic.maxTimeToSendSeconds, 7);
  assert.deepEqual(both.warnings, []);
});

Deno.test("ELASTIC_HOSTS accepts the original's forms and URLs", () => {
  assert.equal(elasticNodeUrl("es01", false), "http://es01:9200");
  assert.equal(elasticNodeUrl("es02:9290", false), "http://es02:9290");
  assert.equal(elasticNodeUrl("es02:9290", true), "https://es02:9290");
  assert.equal(elasticNodeUrl("[::1]", false), "http://[::1]:9200");
  assert.equal(elasticNodeUrl("[::1]:9201", false), "http://[::1]:9201");
  assert.equal(elasticNodeUrl("https://es03:9243/", false), "https://es03:9243");
  const config = parseConfig({ ...base, ELASTIC_HOSTS: "es01,es02:9290", ELASTIC_USE_SSL: "YES" }, "UTC");
  assert.deepEqual(config.elastic.nodes, ["https://es01:9200", "https://es02:9290"]);
});

Deno.test("user and password go together; secrets never reach the start-up line", () => {
  assert.throws(() => parseConfig({ ...base, ELASTIC_USERNAME: "elastic" }), configError("ELASTIC_PASSWORD"));
  const config = parseConfig({
    ...base,
    ELASTIC_USERNAME: "elastic",
    ELASTIC_PASSWORD: "s3cret",
    ELASTIC_API_KEY: "k3y",
  }, "UTC");
  const line = describeConfig(config);
  assert.ok(!line.includes("s3cret") && !line.includes("k3y"));
  assert.match(line, /ELASTIC_PASSWORD=\*\*\*\* /);
});

Deno.test("KAFKA_DLQ_TOPIC=off switches dead letters off", () => {
  assert.equal(parseConfig({ ...base, KAFKA_DLQ_TOPIC: "off" }, "UTC").kafka.deadLetterTopics.size, 0);
  const shared = parseConfig({ ...base, KAFKA_DLQ_TOPIC: "bad.flows" }, "UTC").kafka;
  assert.deepEqual([...shared.deadLetterTopics], [["pmacct.sfacct", "bad.flows"]]);
});

Deno.test("several topics: each has its own dead-letter topic unless KAFKA_DLQ_TOPIC names one for all", () => {
  const topics = { ...base, KAFKA_TOPIC: "pmacct.nfacctd, pmacct.sfacctd" };
  const own = parseConfig(topics, "UTC").kafka;
  assert.deepEqual(own.topics, ["pmacct.nfacctd", "pmacct.sfacctd"]);
  assert.deepEqual([...own.deadLetterTopics], [
    ["pmacct.nfacctd", "pmacct.nfacctd-dlq"],
    ["pmacct.sfacctd", "pmacct.sfacctd-dlq"],
  ]);
  assert.deepEqual([...deadLetterSources(own)], [["pmacct.nfacctd-dlq", ["pmacct.nfacctd"]], [
    "pmacct.sfacctd-dlq",
    ["pmacct.sfacctd"],
  ]]);
  const shared = parseConfig({ ...topics, KAFKA_DLQ_TOPIC: "bad.flows" }, "UTC").kafka;
  assert.deepEqual([...deadLetterSources(shared)], [["bad.flows", ["pmacct.nfacctd", "pmacct.sfacctd"]]]);
  assert.match(describeConfig(parseConfig(topics, "UTC")), /KAFKA_TOPIC=pmacct.nfacctd,pmacct.sfacctd /);
  assert.throws(() => parseConfig({ ...base, KAFKA_TOPIC: "a,a" }, "UTC"), configError("KAFKA_TOPIC"));
  assert.throws(() => parseConfig({ ...base, KAFKA_TOPIC: " , " }, "UTC"), configError("KAFKA_TOPIC"));
  assert.throws(() => parseConfig({ ...base, KAFKA_TOPIC: "a,a-dlq" }, "UTC"), configError("KAFKA_TOPIC"));
  assert.throws(
    () => parseConfig({ ...topics, KAFKA_DLQ_TOPIC: "pmacct.sfacctd" }, "UTC"),
    configError("KAFKA_DLQ_TOPIC"),
  );
});

Deno.test("the start-up line and the README table cover every variable", () => {
  const config = parseConfig(base, "UTC");
  const line = describeConfig(config);
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  for (const { name } of VARIABLES) {
    assert.ok(line.includes(`${name}=`), `${name} missing from the start-up line`);
    assert.ok(readme.includes(`\`${name}\``), `${name} missing from README.md`);
  }
});

Deno.test("every variable of the original README is still read, with its default", () => {
  const original = Deno.readTextFileSync(`${SHARED}/seed/pmacct-kafka-elastic-README.md`);
  const names = [...original.matchAll(/^`([A-Z_]+)` \|/gm)].map((match) => match[1]);
  assert.equal(names.length, 11);
  const ours = new Set(VARIABLES.map((variable) => variable.name));
  for (const name of names) assert.ok(ours.has(name), `${name} is not supported`);
});

Deno.test("PROMETHEUS_CLIENT_HOST: every IPv4 interface by default, else the address given", () => {
  assert.equal(parseConfig(base, "UTC").prometheusHost, "0.0.0.0");
  const hosts: Array<[string, string]> = [
    ["127.0.0.1", "127.0.0.1"],
    ["::", "::"],
    ["[::1]", "::1"],
    ["localhost", "localhost"],
  ];
  for (const [value, host] of hosts) {
    const config = parseConfig({ ...base, PROMETHEUS_CLIENT_HOST: value }, "UTC");
    assert.equal(config.prometheusHost, host);
    assert.match(describeConfig(config), new RegExp(`PROMETHEUS_CLIENT_HOST=${host.replace(/[.[\]]/g, "\\$&")} `));
  }
  for (const value of ["256.1.1.1", "127.0.0", "collector-7.example.net", "every", "http://0.0.0.0"]) {
    assert.throws(() => parseConfig({ ...base, PROMETHEUS_CLIENT_HOST: value }), configError("PROMETHEUS_CLIENT_HOST"));
  }
});

Deno.test("an http:// node with a TLS setting is refused; credentials over http:// are warned of", () => {
  const plain = { ...base, ELASTIC_HOSTS: "https://es1:9200,http://es2:9200" };
  for (
    const [name, value] of [
      ["ELASTIC_CA_FILE", "/etc/ca.pem"],
      ["ELASTIC_CA_FINGERPRINT", "AA".repeat(32)],
      ["ELASTIC_USE_SSL", "YES"],
    ]
  ) {
    assert.throws(
      () => parseConfig({ ...plain, [name]: value }),
      (error: unknown) =>
        error instanceof ConfigError && error.variable === "ELASTIC_HOSTS" && error.message.includes(name) &&
        error.message.includes("http://es2:9200"),
      name,
    );
  }
  assert.throws(
    () => parseConfig({ ...plain, ELASTIC_CLIENT_CERT_FILE: "/c.pem", ELASTIC_CLIENT_KEY_FILE: "/k.pem" }),
    configError("ELASTIC_HOSTS"),
  );
  // Hosts without a scheme take https:// from those settings, as before.
  assert.deepEqual(parseConfig({ ...base, ELASTIC_HOSTS: "es1", ELASTIC_CA_FILE: "/ca.pem" }).elastic.nodes, [
    "https://es1:9200",
  ]);
  assert.deepEqual(parseConfig({ ...plain, ELASTIC_USE_SSL: "NO" }).warnings, []);
  const credentials = [
    { ELASTIC_USERNAME: "bridge", ELASTIC_PASSWORD: "pw" },
    { ELASTIC_API_KEY: "a2V5" },
  ];
  for (const secret of credentials) {
    const { warnings } = parseConfig({ ...plain, ...secret }, "UTC");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /reached at http:\/\/es2:9200 over plain HTTP: its credentials go in plain text/);
  }
  // A host without a scheme, TLS off: plain HTTP too.
  assert.match(
    parseConfig({ ...base, ELASTIC_HOSTS: "es1", ...credentials[0] }, "UTC").warnings[0],
    /reached at http:\/\/es1:9200 over plain HTTP/,
  );
  assert.deepEqual(
    parseConfig({ ...base, ELASTIC_HOSTS: "es1", ELASTIC_USE_SSL: "YES", ...credentials[0] }, "UTC").warnings,
    [],
  );
  assert.deepEqual(parseConfig({ ...base, ELASTIC_HOSTS: "es1" }, "UTC").warnings, [], "no credentials, no warning");
});

Deno.test("PMACCT_TIMEZONE: whether it was set or the host's zone assumed", () => {
  assert.deepEqual(
    [parseConfig(base, "Etc/UTC").pmacctTimezone, parseConfig(base, "Etc/UTC").pmacctTimezoneSet],
    ["Etc/UTC", false],
  );
  const set = parseConfig({ ...base, PMACCT_TIMEZONE: "UTC" }, "Europe/Zurich");
  assert.deepEqual([set.pmacctTimezone, set.pmacctTimezoneSet], ["UTC", true]);
  // Only a zone assumed to be UTC is second-guessed.
  assert.deepEqual(
    [parseConfig(base, "Etc/UTC"), parseConfig(base, "Europe/Zurich"), set].map((config) => config.suspectLocalTime),
    [true, false, false],
  );
});

Deno.test("ELASTIC_MAX_BUFFERED_BYTES: bytes, kb, mb or gb, 1024-based; out of range or junk names the variable", () => {
  assert.equal(parseConfig(base, "UTC").elastic.maxBufferedBytes, 32 * 1024 * 1024);
  for (
    const [value, bytes] of [["64mb", 64 * 1024 ** 2], ["1GiB", 1024 ** 3], ["131072", 131072], ["512 kb", 524288]]
  ) {
    assert.equal(
      parseConfig({ ...base, ELASTIC_MAX_BUFFERED_BYTES: String(value) }, "UTC").elastic.maxBufferedBytes,
      bytes,
    );
  }
  for (const value of ["64 megabytes", "1kb", "100gb", "-5mb", "1.5mb"]) {
    assert.throws(
      () => parseConfig({ ...base, ELASTIC_MAX_BUFFERED_BYTES: value }, "UTC"),
      configError("ELASTIC_MAX_BUFFERED_BYTES"),
      value,
    );
  }
  const described = describeConfig(parseConfig({ ...base, ELASTIC_MAX_BUFFERED_BYTES: "524288" }, "UTC"));
  assert.match(described, /ELASTIC_MAX_BUFFERED_BYTES=512kb/);
});
