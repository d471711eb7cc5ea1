/**
 * Every pmacct encoding, end to end: Debian's pmacctd, nfacctd and sfacctd produce live into the real
 * Kafka in each timestamp mode, with multi-values, markers and each compression codec, and every
 * fixture record is produced as it is; the bridge indexes them into the real Elasticsearch.
 * Each document is checked against an independent reading of the record it came from (right
 * daily index, `@timestamp` the flow's own time in UTC, every pmacct time rewritten to that same
 * instant), per-day sums are compared, and nothing may be rejected or dead-lettered.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { MARKER_EVENT_TYPES } from "../../lib/pmacct/decode.ts";
import { FLOW_TIME_FIELDS } from "../../lib/pmacct/flow_time.ts";
import { addToDay, type DayTotals, expectedEpochMs, expectedFlowMs } from "../support/flow_oracle.ts";
import { fixtureRecordFiles, SHARED } from "../support/fixtures.ts";
import { batchCodecs } from "../support/kafka_log.ts";
import {
  type BridgeProcess,
  FIXTURE_CAPTURES,
  indexedDocuments,
  indexedSums,
  KAFKA,
  kafkaClusterId,
  MAIN_ELASTIC,
  makeTrafficPcap,
  type PmacctRun,
  readTopic,
  recordPartOfId,
  runPmacct,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

/** What a topic holds, read back with kcat and worked out by the oracle. */
interface Expectation {
  /** `_id` → the record, its expected flow time and the label of the run that produced it. */
  documents: Map<string, { record: Record<string, unknown>; ms: number; label: string }>;
  markers: number;
  purgedEntries: number;
}

async function expectTopic(topic: string, offset: string, labelOf: (record: Record<string, unknown>) => string) {
  const documents: Expectation["documents"] = new Map();
  let markers = 0;
  let purgedEntries = 0;
  for (const message of await readTopic(topic)) {
    const lines = (message.payload ?? "").split("\n").filter((line) => line.trim() !== "");
    for (const [position, line] of lines.entries()) {
      const record = JSON.parse(line);
      if (MARKER_EVENT_TYPES.has(record.event_type)) {
        markers++;
        purgedEntries += Number(record.purged_entries ?? 0);
        continue;
      }
      documents.set(`${topic}:${message.partition}:${message.offset}:${position}`, {
        record,
        ms: expectedFlowMs(record, offset, message.timestamp),
        label: labelOf(record),
      });
    }
  }
  return { documents, markers, purgedEntries } satisfies Expectation;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Waits for the bridge to account for every record, then checks each document against the oracle. */
async function checkIndexed(
  bridge: BridgeProcess,
  prefix: string,
  offset: string,
  expected: Expectation,
  deadLettered: string[] = [],
) {
  const total = expected.documents.size;
  await waitFor(
    `${total} records indexed or dead-lettered (log: ${bridge.logPath})`,
    async () =>
      (await bridge.metric("pmacct_bridge_documents_indexed_total")) +
            (await bridge.metric("pmacct_bridge_dead_letters_total")) >= total || undefined,
    180_000,
  );
  const documents = await indexedDocuments(prefix, true);
  assert.equal(documents.length, total - deadLettered.length, "documents in Elasticsearch");
  const cluster = await kafkaClusterId();
  for (const document of documents) {
    const { index, source } = document;
    const id = recordPartOfId(document.id, cluster);
    const wanted = expected.documents.get(id);
    assert.ok(wanted, `${id} was never produced`);
    const where = `${wanted.label} ${id}`;
    assert.equal(index, `${prefix}-${utcDay(wanted.ms)}`, where);
    assert.equal(Date.parse(String(source!["@timestamp"])), wanted.ms, `${where} @timestamp`);
    for (const field of FLOW_TIME_FIELDS) {
      if (!(field in wanted.record)) continue;
      const original = expectedEpochMs(wanted.record[field], offset);
      const written = source![field];
      if (original === null) assert.equal(written, null, `${where} ${field}: a zero time is no time`);
      else assert.equal(expectedEpochMs(written, "Z"), original, `${where} ${field}: ${written} is not UTC`);
    }
    assert.equal(source!.bytes, wanted.record.bytes, where);
  }
  const days: DayTotals = {};
  for (const [id, { record, ms }] of expected.documents) {
    if (!deadLettered.includes(id)) addToDay(days, `${prefix}-${utcDay(ms)}`, record);
  }
  assert.deepEqual(await indexedSums(prefix), days, "per-day documents, bytes and packets");
  assert.equal(await bridge.metric("pmacct_bridge_decode_errors_total"), 0);
  assert.equal(await bridge.metric("pmacct_bridge_documents_rejected_total"), deadLettered.length);
  assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), deadLettered.length);
}

async function assertDefaultMappings(prefix: string) {
  for (const [index, types] of Object.entries(await MAIN_ELASTIC.fieldTypes(prefix))) {
    assert.equal(types.ip_src, "ip", index);
    assert.equal(types.bytes, "long", index);
    assert.equal(types.timestamp_start, "date", index);
    assert.equal(types["@timestamp"], "date", index);
  }
}

/** Runs pmacct replays a few at a time (each mostly waits on its own purge). */
async function runAll(runs: PmacctRun[], parallel = 4) {
  for (let i = 0; i < runs.length; i += parallel) await Promise.all(runs.slice(i, i + parallel).map(runPmacct));
}

const SYNTHETIC = "tag, src_host, dst_host, src_port, dst_port, proto, tos, src_mac, dst_mac, vlan";
const ROUTER = "tag, peer_src_ip, src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface";
const FLOW_TIMES = "timestamp_start, timestamp_end";
/** sFlow samples packets: no flow start or end, the arrival time instead. */
const SFLOW =
  "tag, peer_src_ip, src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface, timestamp_arrival";

Deno.test("live pmacctd, nfacctd and sfacctd in every timestamp mode, with multi-values, markers and each codec", async () => {
  const topic = uniqueName("live");
  const prefix = topic;
  const dir = await Deno.makeTempDir({ prefix: "codecs-" });
  const pcap = await makeTrafficPcap(dir);
  const modes: Array<{ label: string; extra: string[] }> = [
    { label: "UTC strings", extra: ["timestamps_utc: true"] },
    { label: "UTC strings, whole seconds", extra: ["timestamps_utc: true", "timestamps_secs: true"] },
    { label: "RFC 3339", extra: ["timestamps_utc: true", "timestamps_rfc3339: true"] },
    { label: "epoch seconds", extra: ["timestamps_since_epoch: true"] },
  ];
  const runs: PmacctRun[] = [];
  const labels: string[] = [];
  const add = (label: string, run: Omit<PmacctRun, "topic" | "extra"> & { extra: string[] }) => {
    labels.push(label);
    runs.push({ ...run, topic, extra: [...run.extra, `post_tag: ${labels.length}`] });
  };
  for (const { label, extra } of modes) {
    add(`pmacctd, ${label}`, { daemon: "pmacctd", pcap, aggregate: `${SYNTHETIC}, ${FLOW_TIMES}`, extra });
    add(`sfacctd, ${label}`, { daemon: "sfacctd", pcap, aggregate: SFLOW, extra });
    for (const capture of FIXTURE_CAPTURES) {
      add(`nfacctd ${capture.split("/").at(-2)}, ${label}`, {
        daemon: "nfacctd",
        pcap: capture,
        aggregate: `${ROUTER}, ${FLOW_TIMES}, timestamp_arrival`,
        extra,
      });
    }
  }
  add("pmacctd, multi-values", {
    daemon: "pmacctd",
    pcap,
    aggregate: `${SYNTHETIC}, ${FLOW_TIMES}`,
    extra: ["timestamps_utc: true", "kafka_multi_values[k]: 16384"],
  });
  add("pmacctd, markers, history stamps only", {
    daemon: "pmacctd",
    pcap,
    aggregate: SYNTHETIC,
    extra: ["timestamps_utc: true", "kafka_markers[k]: true"],
  });
  const markerTag = labels.length;
  for (const codec of ["gzip", "snappy", "lz4", "zstd"]) {
    const file = `${dir}/librdkafka-${codec}.conf`;
    await Deno.writeTextFile(file, `global, compression.codec, ${codec}\n`);
    add(`pmacctd, ${codec}`, {
      daemon: "pmacctd",
      pcap,
      aggregate: `${SYNTHETIC}, ${FLOW_TIMES}`,
      extra: ["timestamps_utc: true", `kafka_config_file[k]: ${file}`],
    });
  }
  try {
    await runAll(runs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  const expected = await expectTopic(topic, "Z", (record) => labels[Number(record.tag) - 1] ?? "untagged");
  const perRun = new Map<string, number>();
  for (const { label } of expected.documents.values()) perRun.set(label, (perRun.get(label) ?? 0) + 1);
  for (const label of labels) assert.ok((perRun.get(label) ?? 0) > 0, `${label} produced nothing`);
  const codecs = batchCodecs(topic);
  for (const codec of ["gzip", "snappy", "lz4", "zstd"]) assert.ok(codecs[codec] > 0, `no ${codec} batch: ${codecs}`);
  const markerRun = [...expected.documents.values()].filter(({ record }) => record.tag === markerTag).length;
  assert.equal(expected.purgedEntries, markerRun, "purge_close reports the marker run's records");

  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_MAX_TIME_TO_SEND: "1",
  });
  try {
    await waitReady(bridge);
    await checkIndexed(bridge, prefix, "Z", expected);
    await assertDefaultMappings(prefix);
    assert.equal(await bridge.metric("samples_count_total"), expected.documents.size);
    assert.equal(await bridge.metric("pmacct_bridge_markers_total"), expected.markers);
    assert.ok(expected.markers >= 2);
    assert.equal(await bridge.metric("pmacct_bridge_pmacct_purged_entries_total"), expected.purgedEntries);
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
  }
});

Deno.test("local-time strings are read in PMACCT_TIMEZONE and land under their UTC day", async () => {
  const topic = uniqueName("local");
  const prefix = topic;
  const zone = { TZ: "Asia/Kolkata" };
  const dir = await Deno.makeTempDir({ prefix: "local-" });
  const pcap = await makeTrafficPcap(dir);
  const runs: PmacctRun[] = [
    { daemon: "pmacctd", pcap, topic, aggregate: `${SYNTHETIC}, ${FLOW_TIMES}`, env: zone },
    {
      daemon: "pmacctd",
      pcap,
      topic,
      aggregate: `${SYNTHETIC}, ${FLOW_TIMES}`,
      extra: ["timestamps_rfc3339: true"],
      env: zone,
    },
    { daemon: "sfacctd", pcap, topic, aggregate: SFLOW, env: zone },
    ...FIXTURE_CAPTURES.map((capture): PmacctRun => ({
      daemon: "nfacctd",
      pcap: capture,
      topic,
      aggregate: `${ROUTER}, ${FLOW_TIMES}, timestamp_arrival`,
      env: zone,
    })),
  ];
  try {
    await runAll(runs);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const expected = await expectTopic(topic, "+05:30", (record) => `local ${record.timestamp_start}`);
  const sample = [...expected.documents.values()].map(({ record }) => String(record.timestamp_start));
  assert.ok(sample.some((time) => time.endsWith("+05:30")), "pmacct wrote RFC 3339 with the zone's offset");
  assert.ok(sample.some((time) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(time)), "pmacct wrote local strings");
  const records = [...expected.documents.values()].map(({ record }) => record);
  assert.ok(records.some((record) => !("timestamp_start" in record) && "timestamp_arrival" in record), "sfacctd wrote");

  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_MAX_TIME_TO_SEND: "1",
    PMACCT_TIMEZONE: "Asia/Kolkata",
  });
  try {
    await waitReady(bridge);
    await checkIndexed(bridge, prefix, "+05:30", expected);
  } finally {
    await bridge.stop("SIGKILL");
  }
});

Deno.test("every fixture record lands, with the default template and with the original tool's template", async () => {
  const topic = uniqueName("fixtures");
  const kafka = new Kafka({ clientId: "fixture-producer", brokers: [KAFKA], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const numbersAsStrings =
    '{"timestamp_start": "1677577561.000000", "ip_src": "10.0.0.1", "port_src": "443", "bytes": "740", "packets": "2"}';
  const unmappable = '{"timestamp_start": "1677577561.000000", "bytes": "lots", "packets": 1}';
  const files = fixtureRecordFiles();
  assert.ok(files.length >= 12, "fixture files found");
  let poison: string;
  try {
    for (const { lines } of files) {
      await producer.send({ topic, messages: lines.map((line) => ({ value: line })) });
      await producer.send({ topic, messages: [{ value: lines.join("\n") }] });
    }
    await producer.send({ topic, messages: [{ value: numbersAsStrings }] });
    const [sent] = await producer.send({ topic, messages: [{ value: unmappable, partition: 0 }] });
    poison = `${topic}:0:${sent.baseOffset}:0`;
  } finally {
    await producer.disconnect();
  }
  const expected = await expectTopic(topic, "Z", () => "fixture");

  const templates = [
    { name: "default", file: "new-index-template.json" },
    { name: "original", file: `${SHARED}/seed/new-index-template.json` },
  ];
  const bridges = await Promise.all(templates.map(({ name, file }) =>
    startBridge({
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: `${topic}-${name}`,
      KAFKA_DLQ_TOPIC: `${topic}-${name}-dlq`,
      ELASTIC_INDEX_PREFIX: `${topic}-${name}`,
      ELASTIC_INDEX_TEMPLATE: file,
      ELASTIC_MAX_TIME_TO_SEND: "1",
    })
  ));
  try {
    for (const [i, { name }] of templates.entries()) {
      await waitReady(bridges[i]);
      await checkIndexed(bridges[i], `${topic}-${name}`, "Z", expected, [poison]);
      const [letter] = await readTopic(`${topic}-${name}-dlq`);
      assert.equal(letter.key, poison);
      assert.equal(letter.payload, unmappable);
      assert.match(letter.headers["dlq.reason"], /parsing_exception$/);
      assert.match(letter.headers["dlq.detail"], /bytes/);
    }
    await assertDefaultMappings(`${topic}-default`);
  } finally {
    await Promise.all(bridges.map((bridge) => bridge.stop("SIGKILL")));
  }
});
