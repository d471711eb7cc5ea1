/**
 * One bridge binary against every server it supports, each a real server from the stack:
 * Elasticsearch 7.17.25, 8.14.1 (`action.auto_create_index: false`) and 9.1.5 over HTTPS, and
 * OpenSearch 2.19.3. Live pmacct records go in; per-day counts and byte sums, field types, an
 * empty dead-letter topic and the server the bridge says it found come out. The HTTPS server is
 * also reached by CA fingerprint and refused with a wrong CA.
 */
import assert from "node:assert/strict";
import {
  assertIndexedTotals,
  expectedTotals,
  produceLiveTraffic,
  UNKNOWN_FIELDS_RECORD,
} from "../support/live_traffic.ts";
import { ECS_COUNTERS, ES9_ADMIN, SearchTarget, STACK_CA, STACK_CERTS } from "../support/search_target.ts";
import { referenceIds } from "../support/community_id_reference.ts";
import {
  alive,
  integrationTest,
  kafkaClusterId,
  logLines,
  readiness,
  readTopic,
  recordIdOf,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

/** The field types the default template must give on every server. */
const EXPECTED_TYPES: Record<string, string> = {
  "@timestamp": "date",
  timestamp_start: "date",
  stamp_inserted: "date",
  ip_src: "ip",
  peer_ip_src: "ip",
  bytes: "long",
  packets: "long",
  port_src: "integer",
  ip_proto: "keyword",
  etype: "keyword",
};

function bridgeEnv(topic: string, prefix: string, hosts: string, extra: Record<string, string> = {}) {
  return {
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: prefix,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_MAX_TIME_TO_SEND: "1",
    ELASTIC_HOSTS: hosts,
    ...extra,
  };
}

/** Every index has the template's types; fields no template names (one record's) map to `keyword`. */
async function assertFieldTypes(target: SearchTarget, prefix: string, flattened: string) {
  const indices = await target.fieldTypes(prefix);
  for (const [index, types] of Object.entries(indices)) {
    for (const [field, type] of Object.entries(EXPECTED_TYPES)) assert.equal(types[field], type, `${index} ${field}`);
    assert.equal(types.label_map, flattened, `${index} label_map`);
  }
  const unknownIndex = indices[`${prefix}-${UNKNOWN_FIELDS_RECORD.timestamp_start.slice(0, 10)}`];
  assert.ok(unknownIndex, "the index of the record with unknown fields");
  assert.equal(unknownIndex.unknown_text, "keyword");
  assert.equal(unknownIndex.unknown_flag, "keyword");
}

/** The field types the ECS template must give on every server (issue 17's list). */
const EXPECTED_ECS_TYPES: Record<string, string> = {
  "@timestamp": "date",
  "source.ip": "ip",
  "destination.ip": "ip",
  "observer.ip": "ip",
  "source.port": "long",
  "destination.port": "long",
  "network.bytes": "long",
  "network.packets": "long",
  "source.as.number": "long",
  "destination.as.number": "long",
  "network.transport": "keyword",
  "network.iana_number": "keyword",
  "network.type": "keyword",
  "network.community_id": "keyword",
  "source.mac": "keyword",
  "observer.ingress.interface.id": "keyword",
  "observer.egress.interface.id": "keyword",
  "event.start": "date",
  "event.end": "date",
  "pmacct.stamp_inserted": "date",
  "pmacct.tos": "integer",
};

/**
 * The same topic through a bridge with `ELASTIC_FIELD_NAMES=ecs`: every record, ECS's types, and
 * a known IPv4 TCP and IPv6 UDP record's fields, the Community ID the reference implementation's.
 */
async function indexAsEcs(topic: string, host: string, target: SearchTarget, flattened: string, env = {}) {
  const prefix = `${topic}-ecs`;
  const bridge = await startBridge(bridgeEnv(topic, prefix, host, { ...env, ELASTIC_FIELD_NAMES: "ecs" }));
  try {
    await waitReady(bridge);
    await assertIndexedTotals(bridge, prefix, await expectedTotals(topic, prefix), target, ECS_COUNTERS);
    for (const [index, types] of Object.entries(await target.fieldTypes(prefix))) {
      for (const [field, type] of Object.entries(EXPECTED_ECS_TYPES)) {
        assert.equal(types[field], type, `${index} ${field}`);
      }
      assert.equal(types["pmacct.label_map"], flattened, `${index} pmacct.label_map`);
    }
    const messages = await readTopic(topic);
    const cluster = await kafkaClusterId();
    const known = [
      messages.find((message) =>
        /"ip_proto": "tcp"/.test(message.payload ?? "") && !/"ip_src": "[^"]*:/.test(message.payload ?? "")
      ),
      messages.find((message) =>
        /"ip_proto": "udp"/.test(message.payload ?? "") && /"ip_src": "[^"]*:/.test(message.payload ?? "")
      ),
    ];
    const records = known.map((message) => {
      assert.ok(message, "pmacct produced an IPv4 TCP and an IPv6 UDP flow");
      return { message, record: JSON.parse(message.payload!) };
    });
    const communityIds = await referenceIds(records.map(({ record }) => ({
      source: record.ip_src,
      destination: record.ip_dst,
      protocol: record.ip_proto === "tcp" ? 6 : 17,
      sourcePort: record.port_src,
      destinationPort: record.port_dst,
    })));
    const documents = await target.documents(prefix, true);
    for (const [i, { message, record }] of records.entries()) {
      const id = recordIdOf(cluster, topic, message, 0);
      const document = documents.find((candidate) => candidate.id === id);
      assert.ok(document, `document ${id}`);
      const source = document.source as Record<string, Record<string, unknown>>;
      assert.deepEqual(
        [source.source.ip, source.source.port, source.destination.ip, source.destination.port],
        [record.ip_src, record.port_src, record.ip_dst, record.port_dst],
      );
      assert.deepEqual(source.network, {
        transport: record.ip_proto,
        iana_number: record.ip_proto === "tcp" ? "6" : "17",
        type: i === 0 ? "ipv4" : "ipv6",
        bytes: record.bytes,
        packets: record.packets,
        community_id: communityIds[i],
      });
      assert.equal(source.event.start, `${record.timestamp_start.replace(" ", "T")}Z`);
      assert.equal(source.pmacct.tos, record.tos);
    }
    await assertSearchable(target, prefix, topic, { port: "source.port", start: "event.start" });
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
  }
}

/**
 * Fields the default template keeps in doc values only (the source port, the flow's start) still
 * answer exact and range queries with every matching document, on every server (7.17 gets them
 * indexed): as many as the topic holds.
 */
async function assertSearchable(
  target: SearchTarget,
  prefix: string,
  topic: string,
  fields: { port: string; start: string },
) {
  const records = (await readTopic(topic)).map((message) => JSON.parse(message.payload!));
  const port = records.find((record) => record.ip_proto === "tcp").port_src;
  const count = async (query: unknown) =>
    (await target.request("POST", `/${prefix}-*/_count`, { query })).count as number;
  assert.equal(
    await count({ term: { [fields.port]: port } }),
    records.filter((record) => record.port_src === port).length,
    `term on ${fields.port}`,
  );
  assert.equal(
    await count({ range: { [fields.start]: { gte: "2000-01-01T00:00:00Z" } } }),
    records.filter((record) => record.timestamp_start && !record.timestamp_start.startsWith("0000")).length,
    `range on ${fields.start}`,
  );
}

/** Runs live traffic through a bridge into `service` of the stack and checks what lands. */
async function indexInto(
  service: string,
  { url, server, flattened, env = {}, keepUp = false, target = new SearchTarget(url) }: {
    url: string;
    server: string;
    flattened: string;
    env?: Record<string, string>;
    keepUp?: boolean;
    target?: SearchTarget;
  },
) {
  await stack("up", service);
  try {
    const topic = uniqueName(service);
    const expected = await produceLiveTraffic(topic, topic);
    const bridge = await startBridge(bridgeEnv(topic, topic, new URL(url).host, env));
    try {
      await waitReady(bridge);
      const connected = await waitForLog(bridge, "INFO  connected");
      assert.match(connected, new RegExp(`server="${server}"`));
      await assertIndexedTotals(bridge, topic, expected, target);
      assert.equal(await bridge.metric("pmacct_bridge_documents_rejected_total"), 0);
      await assertFieldTypes(target, topic, flattened);
      await assertSearchable(target, topic, topic, { port: "port_src", start: "timestamp_start" });
      // The group's reading is marked on every server (hidden: the totals above did not count it).
      assert.deepEqual(await logLines(bridge, "cannot mark"), []);
      await waitFor(
        "the group's reading marked",
        async () => (await target.request("GET", `/${topic}-bridge-state/_count`)).count >= 1,
      );
      assert.equal((await readTopic(`${topic}-dlq`)).length, 0, "dead-letter topic");
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
    }
    await indexAsEcs(topic, new URL(url).host, target, flattened, env);
  } finally {
    if (!keepUp) await stack("down", service);
  }
}

integrationTest("Elasticsearch 7.17.25 with the default template", async () => {
  await indexInto("es7", { url: "http://127.0.0.1:9201", server: "Elasticsearch 7.17.25", flattened: "flattened" });
});

integrationTest("Elasticsearch 8.14.1 with action.auto_create_index: false", async () => {
  const settings = await new SearchTarget("http://127.0.0.1:9200").request(
    "GET",
    "/_cluster/settings?include_defaults=true&filter_path=*.action.auto_create_index",
  );
  assert.equal(settings.defaults.action.auto_create_index, "false", "the stack's Elasticsearch is hardened");
  await indexInto("elasticsearch", {
    url: "http://127.0.0.1:9200",
    server: "Elasticsearch 8.14.1",
    flattened: "flattened",
    keepUp: true,
  });
});

integrationTest("OpenSearch 2.19.3 with the default template", async () => {
  await indexInto("opensearch", {
    url: "http://127.0.0.1:9203",
    server: "OpenSearch 2.19.3",
    flattened: "flat_object",
  });
});

/** es9 has no anonymous access: every bridge logs in. */
const ES9_LOGIN = { ELASTIC_USERNAME: ES9_ADMIN.username, ELASTIC_PASSWORD: ES9_ADMIN.password };

integrationTest(
  "Elasticsearch 9.1.5 over HTTPS: CA file with a client certificate, CA fingerprint, and a wrong CA fixed",
  async () => {
    const url = "https://127.0.0.1:9202";
    const target = new SearchTarget(url, ES9_ADMIN);
    await indexInto("es9", {
      url,
      server: "Elasticsearch 9.1.5",
      flattened: "flattened",
      keepUp: true,
      target,
      env: {
        ...ES9_LOGIN,
        ELASTIC_CA_FILE: STACK_CA,
        ELASTIC_CLIENT_CERT_FILE: `${STACK_CERTS}/client.pem`,
        ELASTIC_CLIENT_KEY_FILE: `${STACK_CERTS}/client.key`,
      },
    });
    const topic = uniqueName("es9-trust");
    try {
      const expected = await produceLiveTraffic(topic, `${topic}-fp`);
      const fingerprint = new TextDecoder().decode(
        (await new Deno.Command("openssl", {
          args: ["x509", "-in", STACK_CA, "-noout", "-fingerprint", "-sha256"],
          stdout: "piped",
        }).output()).stdout,
      ).trim().split("=")[1];
      const byFingerprint = await startBridge(
        bridgeEnv(topic, `${topic}-fp`, "127.0.0.1:9202", { ...ES9_LOGIN, ELASTIC_CA_FINGERPRINT: fingerprint }),
      );
      try {
        await waitReady(byFingerprint);
        await assertIndexedTotals(byFingerprint, `${topic}-fp`, expected, target);
        assert.equal(await byFingerprint.metric("pmacct_bridge_documents_rejected_total"), 0);
      } finally {
        await byFingerprint.stop("SIGKILL");
      }

      // A CA that did not sign the server's certificate: one clear line, not ready, no crash loop.
      const prefix = `${topic}-ca`;
      const wrong = await startBridge(
        bridgeEnv(topic, prefix, "127.0.0.1:9202", { ...ES9_LOGIN, ELASTIC_CA_FILE: `${STACK_CERTS}/other-ca.pem` }),
      );
      try {
        const problem = "Elasticsearch's certificate is not trusted: set ELASTIC_CA_FILE or ELASTIC_CA_FINGERPRINT";
        await waitFor("/readyz to name elasticsearch_tls", async () => {
          const { status, checks, problems } = await readiness(wrong);
          return status === 503 && checks.elasticsearch_tls === false && problems.elasticsearch_tls === problem;
        });
        await new Promise((resolve) => setTimeout(resolve, 8000));
        assert.equal(await alive(wrong), true, "the bridge exited on a wrong CA");
        assert.equal((await logLines(wrong, problem)).length, 1, "the problem is logged once");
        assert.equal((await logLines(wrong, "cannot reach")).length, 0, "a TLS failure is not 'cannot reach'");
      } finally {
        await wrong.stop("SIGKILL");
      }
      // Fixed: the same group and prefix with the right CA index everything.
      const fixed = await startBridge(
        bridgeEnv(topic, prefix, "127.0.0.1:9202", { ...ES9_LOGIN, ELASTIC_CA_FILE: STACK_CA }),
      );
      try {
        await waitReady(fixed);
        await assertIndexedTotals(fixed, prefix, await expectedTotals(topic, prefix), target);
        assert.equal(await fixed.metric("pmacct_bridge_documents_rejected_total"), 0);
      } finally {
        await fixed.stop("SIGKILL");
      }
    } finally {
      await stack("down", "es9");
    }
  },
);
