/**
 * `deno task bench [N]`: produces N pmacct records (default 200,000) into Kafka, then times in
 * the same run (a) the bridge draining them into Elasticsearch, (b) the original Python tool
 * doing the same (when Debian's python3-kafka and friends are installed) and (c) a raw loader
 * posting the same documents, serialised beforehand, straight to `_bulk` with the same batch
 * size and concurrency. Prints records/s and the ratios, and the bridge's own CPU cost per
 * record (decode and encode, no I/O). Needs the local stack (`stack/stack.sh up`).
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { bulkBody } from "../lib/bulk_writer.ts";
import { decodeMessage } from "../lib/decode.ts";
import { encodeDocument } from "../lib/document.ts";
import { elastic, KAFKA, startBridge, uniqueName, waitFor, waitReady } from "../tests/support/stack.ts";
import { FIXTURES, REPO_ROOT, SHARED } from "../tests/support/fixtures.ts";

const total = Number(Deno.args[0] ?? 200_000);
const batchSize = Number(Deno.env.get("ELASTIC_MAX_SAMPLES_PER_SEND") ?? 1000);
const concurrency = Number(Deno.env.get("ELASTIC_BULK_CONCURRENCY") ?? 2);
if (!Number.isInteger(total) || total < 1) {
  console.error("usage: deno task bench [records]");
  Deno.exit(2);
}

const ORIGINAL_MODULES = "import kafka, elasticsearch, dotenv, prometheus_client, pytz";
/** The original only sends a partial batch when a later message arrives: it is timed on full batches. */
const originalGoal = total - (total % batchSize);

/**
 * Seconds the original tool takes from its consumer's start to its last full batch sent (it
 * only sends a partial batch when a later message arrives, so the tail below one batch is left
 * out), timed by its own log lines; `undefined` when its Debian packages are missing.
 */
async function timeOriginalTool(): Promise<number | undefined> {
  const probe = await new Deno.Command("/usr/bin/python3", { args: ["-c", ORIGINAL_MODULES], stderr: "null" }).output();
  if (!probe.success) {
    console.log(
      "original tool:      skipped (apt-get install python3-kafka python3-elasticsearch python3-dotenv python3-prometheus-client python3-tz)",
    );
    return undefined;
  }
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-u", `${REPO_ROOT}bench/run_original.py`, "pmacct-kafka-elastic.py"],
    cwd: `${SHARED}/seed`,
    env: {
      KAFKA_BOOTSTRAP_SERVERS: KAFKA,
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: `${topic}-original`,
      ELASTIC_INDEX_PREFIX: `${topic}-original`,
      ELASTIC_MAX_SAMPLES_PER_SEND: String(batchSize),
      PROMETHEUS_CLIENT_PORT: String(19_000 + Math.floor(Math.random() * 99)),
      PYTHONWARNINGS: "ignore",
    },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stamp = (line: string) => Date.parse(line.slice(0, 26).replace(" ", "T"));
  let started: number | undefined;
  let sent = 0;
  try {
    let pending = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.includes("Starting Prometheus client http server")) started = stamp(line);
        const batch = /Sent (\d+) samples/.exec(line);
        if (batch) sent += Number(batch[1]);
        if (started !== undefined && sent >= originalGoal) return (stamp(line) - started) / 1000;
      }
    }
    throw new Error(`the original tool stopped after sending ${sent} of ${originalGoal} records`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
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

// (c) The original Python tool, unchanged, on Debian's python3-kafka and python3-elasticsearch.
const originalSeconds = await timeOriginalTool();

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
const rawIndices = new Set<string>();
for (let i = 0; i < values.length; i += batchSize) {
  const documents = values.slice(i, i + batchSize).map((value, j) =>
    encodeDocument(JSON.parse(value), { topic, partition: 0, offset: String(i + j), position: 0, timestampMs: 0 }, {
      indexPrefix: rawPrefix,
      timezone: "UTC",
      timestampSource: "flow",
    })
  );
  for (const document of documents) rawIndices.add(document.index);
  bodies.push(bulkBody(documents));
}
// The stack's Elasticsearch creates no index on write (`action.auto_create_index: false`).
for (const index of rawIndices) await elastic.indices.create({ index });
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
if (originalSeconds !== undefined) {
  const originalRate = originalGoal / originalSeconds;
  console.log(
    `original tool:      ${originalRate.toFixed(0)} records/s (${
      originalSeconds.toFixed(2)
    } s, Python, Kafka → Elasticsearch)`,
  );
  console.log(`ratio bridge/orig: ${(bridgeRate / originalRate).toFixed(2)}`);
}
console.log(`decode + encode:    ${(total / encodeSeconds).toFixed(0)} records/s (one core, no I/O)`);
await elastic.indices.delete({ index: `${topic}-*` });
await elastic.indices.deleteIndexTemplate({ name: `${rawPrefix}-pmacct` });
await elastic.indices.deleteIndexTemplate({ name: `${bridgePrefix}-pmacct` });
