/** A configuration error exits with status 2 and names the variable, before touching any server. */
import assert from "node:assert/strict";
import { SHARED } from "../support/fixtures.ts";
import { runMain } from "../support/stack.ts";

const base = { KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9092", KAFKA_TOPIC: "pmacct" };

Deno.test("missing and invalid settings exit 2 with the variable's name", async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /KAFKA_TOPIC is required/],
    [{ KAFKA_TOPIC: "pmacct" }, /KAFKA_BOOTSTRAP_SERVERS is required/],
    [
      { ...base, ELASTIC_MAX_SAMPLES_PER_SEND: "lots" },
      /ELASTIC_MAX_SAMPLES_PER_SEND="lots" is invalid: expected an integer/,
    ],
    [
      { ...base, ELASTIC_INDEX_TEMPLATE: "/nonexistent.json" },
      /ELASTIC_INDEX_TEMPLATE="\/nonexistent.json" is invalid: expected a readable file/,
    ],
    [
      { ...base, ELASTIC_HOSTS: "http://127.0.0.1:9200", ELASTIC_CA_FILE: "stack/certs/ca.pem" },
      /ELASTIC_HOSTS="http:\/\/127.0.0.1:9200" is invalid: expected https:\/\/ URLs .* with ELASTIC_CA_FILE set/,
    ],
    [
      { ...base, ELASTIC_USERNAME: "bridge", ELASTIC_PASSWORD_FILE: "/nonexistent/password" },
      /ELASTIC_PASSWORD_FILE="\/nonexistent\/password" is invalid: expected a readable file/,
    ],
    [
      { ...base, KAFKA_SASL_PASSWORD: "pw", KAFKA_SASL_PASSWORD_FILE: "README.md" },
      /KAFKA_SASL_PASSWORD_FILE="README.md" is invalid: expected KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both/,
    ],
    [
      { ...base, PROMETHEUS_CLIENT_HOST: "every" },
      /PROMETHEUS_CLIENT_HOST="every" is invalid: expected an IP address/,
    ],
    [
      { ...base, ELASTIC_INDEX_TEMPLATE: "deno.json" },
      /ELASTIC_INDEX_TEMPLATE="deno.json" is invalid: expected a file of the form \{"mappings"/,
    ],
  ];
  for (const [env, message] of cases) {
    const { code, stderr } = await runMain([], env);
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
  }
});

Deno.test("the original tool's template file is accepted unchanged", async () => {
  const { parseTemplateFile } = await import("../../lib/elastic/index_template.ts");
  const text = await Deno.readTextFile(`${SHARED}/seed/new-index-template.json`);
  const file = parseTemplateFile(text, "seed/new-index-template.json");
  assert.deepEqual(Object.keys(file.mappings), ["properties"]);
  assert.deepEqual(file.settings, {});
});

Deno.test("a port the endpoints cannot listen on exits 2 naming PROMETHEUS_CLIENT_PORT", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const { code, stderr } = await runMain([], {
      ...base,
      PROMETHEUS_CLIENT_HOST: "127.0.0.1",
      PROMETHEUS_CLIENT_PORT: String(port),
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`PROMETHEUS_CLIENT_PORT="${port}" is invalid: expected a port free on 127.0.0.1`));
  } finally {
    taken.close();
  }
});
