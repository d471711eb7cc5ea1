/**
 * `deno task bench [N]`: produces N pmacct records (default 200,000) into Kafka, then times in
 * the same run (a) the bridge draining them into Elasticsearch and (b) a raw loader posting the
 * same documents, serialised beforehand, straight to `_bulk` with the same batch size and
 * concurrency. Prints records/s for both and the ratio, and the bridge's own CPU cost per record
 * (decode and encode, no I/O). Needs the local stack
 * (`stack/stack.sh up`).
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { bulkBody } from "../lib/bulk_writer.ts";
import { decodeMessage } from "../lib/decode.ts";
import { encodeDocument } from "../lib/document.ts";
import { elastic, KAFKA, startBridge, uniqueName, waitFor, waitReady } from "../tests/support/stack.ts";
import { FIXTURES } from "../tests/support/fixtures.ts";

const total = Number(Deno.args[0] ?? 200_000);
const batchSize = Number(Deno.env.get("ELASTIC_MAX_SAMPLES_PER_SEND") ?? 1000);
const concurrency = Number(Deno.env.get("ELASTIC_BULK_CONCURRENCY") ?? 2);
if (!Number.isInteger(total) || total < 1) {
  console.error("usage: deno task bench [records]");
  Deno.exit(2);
}

/** pmacct records shaped like Debian nfacctd's output, varied so documents differ. */
function records(count: number): string[] {
  const samples = Deno.readTextFileSync(`${FIXTURES}/debian-pmacct-1.7.7/nfacctd-softflowd-v9-utc.json`)
    .split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const record = { ...samples[i % samples.length] };
    record.port_src = 1024 + (i % 60_000);
    record.bytes = 40 + (i % 1500);
    record.packets = 1 + (i % 7);
    out.push(JSON.stringify(record));
  }
  return out;
}

const topic = uniqueName("bench");
const values = records(total);
console.log(`producing ${total} pmacct records into ${topic}`);
const kafka = new Kafka({ clientId: "bench", brokers: [KAFKA], logLevel: logLevel.ERROR });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
await admin.disconnect();
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
for (let i = 0; i < values.length; i += 5000) {
  await producer.send({ topic, messages: values.slice(i, i + 5000).map((value) => ({ value })) });
}
await producer.disconnect();

// (a) The bridge, as operators run it.
const bridgePrefix = `${topic}-bridge`;
const bridge = await startBridge({
  KAFKA_TOPIC: topic,
  KAFKA_CONSUMER_GROUP_ID: topic,
  ELASTIC_INDEX_PREFIX: bridgePrefix,
  ELASTIC_MAX_SAMPLES_PER_SEND: String(batchSize),
  ELASTIC_BULK_CONCURRENCY: String(concurrency),
  ELASTIC_MAX_TIME_TO_SEND: "1",
  LOG_LEVEL: "warn",
});
let bridgeSeconds: number;
try {
  await waitReady(bridge);
  const started = performance.now();
  await waitFor(
    "the bridge to index everything",
    async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= total || undefined,
    600_000,
    50,
  );
  bridgeSeconds = (performance.now() - started) / 1000;
} finally {
  await bridge.stop("SIGTERM");
}

// (b) The raw loader: the same documents, serialised before the clock starts.
const rawPrefix = `${topic}-raw`;
await elastic.indices.putIndexTemplate({
  name: `${rawPrefix}-pmacct`,
  index_patterns: [`${rawPrefix}-*`],
  priority: 200,
  template: {
    settings: { number_of_shards: 1, number_of_replicas: 0 },
    mappings: JSON.parse(Deno.readTextFileSync("new-index-template.json")).mappings,
  },
});
const bodies: string[] = [];
for (let i = 0; i < values.length; i += batchSize) {
  bodies.push(
    bulkBody(
      values.slice(i, i + batchSize).map((value, j) =>
        encodeDocument(JSON.parse(value), { topic, partition: 0, offset: String(i + j), position: 0, timestampMs: 0 }, {
          indexPrefix: rawPrefix,
          timezone: "UTC",
          timestampSource: "flow",
        })
      ),
    ),
  );
}
const rawStarted = performance.now();
let next = 0;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < bodies.length) {
    const body = bodies[next++];
    const response = await fetch("http://127.0.0.1:9200/_bulk", {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body,
    });
    const result = await response.json();
    if (result.errors) throw new Error("raw loader: Elasticsearch rejected documents");
  }
}));
const rawSeconds = (performance.now() - rawStarted) / 1000;

// The bridge's CPU work per record, without I/O: decode the message, normalise, serialise.
const encoder = new TextEncoder();
const encodeStarted = performance.now();
for (const [offset, value] of values.entries()) {
  for (const line of decodeMessage(encoder.encode(value))) {
    if (line.kind !== "flow") continue;
    encodeDocument(line.record, { topic, partition: 0, offset: String(offset), position: 0, timestampMs: 0 }, {
      indexPrefix: rawPrefix,
      timezone: "UTC",
      timestampSource: "flow",
    });
  }
}
const encodeSeconds = (performance.now() - encodeStarted) / 1000;

const bridgeRate = total / bridgeSeconds;
const rawRate = total / rawSeconds;
console.log(`records:            ${total} (batch ${batchSize}, ${concurrency} requests in flight)`);
console.log(
  `bridge:             ${bridgeRate.toFixed(0)} records/s (${bridgeSeconds.toFixed(2)} s, Kafka → Elasticsearch)`,
);
console.log(
  `raw _bulk loader:   ${rawRate.toFixed(0)} records/s (${
    rawSeconds.toFixed(2)
  } s, pre-serialised, Elasticsearch only)`,
);
console.log(`ratio bridge/raw:   ${(bridgeRate / rawRate).toFixed(2)}`);
console.log(`decode + encode:    ${(total / encodeSeconds).toFixed(0)} records/s (one core, no I/O)`);
await elastic.indices.delete({ index: `${topic}-*` });
await elastic.indices.deleteIndexTemplate({ name: `${rawPrefix}-pmacct` });
await elastic.indices.deleteIndexTemplate({ name: `${bridgePrefix}-pmacct` });
