/**
 * `deno task bench [--lags=200000,1000000] [--steady-seconds=180] [--rate=3000] [--storage-records=300000] [--profile]`
 *
 * What an operator sizes a host by, for the bridge, the original Python tool and a raw `_bulk`
 * loader, in one run on the local stack (`stack/stack.sh up`): at each lag (records waiting in a
 * fresh 3-partition topic), records/s from process start and from ready, CPU µs per record of
 * the whole process from `/proc` after ready (start-up CPU apart), and peak resident memory;
 * beside them kafkajs alone at the bridge's pace with the bridge's modules loaded, the floor
 * under the bridge's memory; then the bridge alone at a steady rate; then what a flow costs on
 * Elasticsearch's disk and how fast Elasticsearch indexes it, with the bridge's template and the
 * original tool's (`bench/storage.ts`; `--storage-records=0` skips it). `--profile` also writes a
 * V8 CPU profile of the bridge draining the largest lag and prints its top costs. Targets are
 * issue 17's.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { decodeMessage } from "../lib/pmacct/decode.ts";
import { withAdmin } from "../lib/kafka/client.ts";
import { encodeDocument } from "../lib/pmacct/document.ts";
import { REPO_ROOT } from "../tests/support/fixtures.ts";
import { elastic, KAFKA, uniqueName } from "../tests/support/stack.ts";
import { measurementTable, steadyTable, targets, topSelfTime } from "./report.ts";
import { defaultMaxBuffered } from "../lib/config/elastic.ts";
import { type Measurement, runBridge, runKafkaFloor, runOriginal, runRawLoader, type Settings } from "./shippers.ts";
import { runSteady, type SteadyResult } from "./steady.ts";
import { pipelineMicrosPerRecord } from "./pipeline_alone.ts";
import { bulkMicrosPerRecord } from "./bulk_alone.ts";
import { benchRecord } from "./records.ts";
import { runStorage, type StorageRow, storageTable } from "./storage.ts";

function option(name: string, fallback: string): string {
  const given = Deno.args.find((arg) => arg.startsWith(`--${name}=`));
  // `deno task bench 200000`, the old form, is one lag.
  if (name === "lags" && /^\d+$/.test(Deno.args[0] ?? "")) return Deno.args[0];
  return given === undefined ? fallback : given.slice(name.length + 3);
}

const lags = option("lags", "200000,1000000").split(",").map(Number);
const steadySeconds = Number(option("steady-seconds", "180"));
const rate = Number(option("rate", "3000"));
const profile = Deno.args.includes("--profile");
const storageRecordCount = Number(option("storage-records", "300000"));
if (
  lags.some((lag) => !Number.isInteger(lag) || lag < 1) || !(steadySeconds >= 0) || !(rate > 0) ||
  !(storageRecordCount >= 0)
) {
  console.error(
    "usage: deno task bench [--lags=200000,1000000] [--steady-seconds=180] [--rate=3000] [--storage-records=300000] [--profile]",
  );
  Deno.exit(2);
}
const settings: Settings = {
  batchSize: Number(Deno.env.get("ELASTIC_MAX_SAMPLES_PER_SEND") ?? 1000),
  concurrency: Number(Deno.env.get("ELASTIC_BULK_CONCURRENCY") ?? 2),
};

const install = await new Deno.Command("bash", { args: [`${REPO_ROOT}bench/install.sh`] }).output();
if (!install.success) throw new Error(`bench/install.sh failed: ${new TextDecoder().decode(install.stderr)}`);

const kafka = new Kafka({ clientId: "bench", brokers: [KAFKA], logLevel: logLevel.NOTHING });

async function produce(topic: string, values: string[]): Promise<void> {
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }));
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  for (let i = 0; i < values.length; i += 5000) {
    await producer.send({ topic, messages: values.slice(i, i + 5000).map((value) => ({ value })) });
  }
  await producer.disconnect();
}

async function dropTopic(topic: string): Promise<void> {
  await elastic.indices.delete({ index: `${topic}-*`, allow_no_indices: true, ignore_unavailable: true });
  for (const name of [`${topic}-bridge-pmacct`, `${topic}-original-pmacct`]) {
    await elastic.indices.deleteIndexTemplate({ name }, { ignore: [404] });
  }
  await withAdmin(kafka, (admin) => admin.deleteTopics({ topics: [topic, `${topic}-dlq`] })).catch(() => {});
}

const profileDir = `${REPO_ROOT}.stack/profiles`;
const byLag = new Map<number, Measurement[]>();
for (const lag of lags) {
  const topic = uniqueName(`bench-${lag}`);
  const values = Array.from({ length: lag }, (_, i) => benchRecord(i));
  console.log(`producing ${lag} pmacct records into ${topic}`);
  await produce(topic, values);
  const flags = profile && lag === Math.max(...lags) ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const bridge = await runBridge(topic, lag, settings, flags);
  const rows = [bridge];
  console.log(`  bridge done`);
  const pace = bridge.records / bridge.secondsFromReady;
  rows.push(await runKafkaFloor(topic, lag, pace, defaultMaxBuffered(settings.batchSize)));
  console.log(`  kafkajs alone done`);
  rows.push(await runOriginal(topic, lag, settings));
  console.log(`  original done`);
  rows.push(await runRawLoader(topic, values, settings));
  byLag.set(lag, rows);
  console.log(measurementTable(lag, rows) + "\n");
  await dropTopic(topic);
}

let steady: SteadyResult | undefined;
if (steadySeconds > 0) {
  const topic = uniqueName("bench-steady");
  console.log(`steady: ${rate} records/s for ${steadySeconds} s into ${topic}`);
  steady = await runSteady(topic, benchRecord, rate, steadySeconds);
  console.log(steadyTable(steady) + "\n");
  await dropTopic(topic);
}

// The bridge's own work per record, without I/O: decode the message, normalise, serialise.
const encoder = new TextEncoder();
const sample = Array.from({ length: 200_000 }, (_, i) => encoder.encode(benchRecord(i)));
const encodeStarted = performance.now();
for (const [offset, value] of sample.entries()) {
  for (const line of decodeMessage(value)) {
    if (line.kind !== "flow") continue;
    encodeDocument(line.record, { topic: "bench", partition: 0, offset: String(offset), position: 0, timestampMs: 0 }, {
      indexPrefix: "bench",
      timezone: "UTC",
      timestampSource: "flow",
    });
  }
}
const encodeMicros = ((performance.now() - encodeStarted) * 1000) / sample.length;
// The whole record path without Kafka or HTTP; the best of five, as noise only ever adds.
const pipelineValues = Array.from({ length: 100_000 }, (_, i) => benchRecord(i));
const pipelineRuns: number[] = [];
for (let run = 0; run < 5; run++) pipelineRuns.push(await pipelineMicrosPerRecord(pipelineValues, settings.batchSize));
const pipelineMicros = Math.min(...pipelineRuns);
// The `_bulk` requests alone, client side; the best of three.
const bulkRuns: number[] = [];
for (let run = 0; run < 3; run++) {
  bulkRuns.push(await bulkMicrosPerRecord(100_000, settings.batchSize, settings.concurrency));
}
const bulkMicros = Math.min(...bulkRuns);

console.log(`settings: batch ${settings.batchSize}, ${settings.concurrency} requests in flight, 3 partitions`);
for (const [lag, rows] of byLag) console.log("\n" + measurementTable(lag, rows));
if (steady) console.log("\n" + steadyTable(steady));
console.log(`\ndecode + encode alone: ${encodeMicros.toFixed(1)} µs/record (one core, no I/O)`);
console.log(
  `the record path alone (decode to acknowledged, no Kafka or HTTP): ${pipelineMicros.toFixed(1)} µs/record CPU, ` +
    `best of ${pipelineRuns.map((micros) => micros.toFixed(1)).join(", ")}`,
);
console.log(
  `the _bulk requests alone (client side, bodies written beforehand): ${bulkMicros.toFixed(1)} µs/record CPU, ` +
    `best of ${bulkRuns.map((micros) => micros.toFixed(1)).join(", ")}\n`,
);
let storage: StorageRow[] = [];
if (storageRecordCount > 0) {
  console.log(`storage: ${storageRecordCount} flows into one index per template`);
  storage = await runStorage(storageRecordCount, false);
  console.log("\n" + storageTable(storage, storageRecordCount) + "\n");
}
for (const line of targets(byLag, steady, storage, { recordPath: pipelineMicros, bulk: bulkMicros })) console.log(line);
if (profile) {
  const newest = [...Deno.readDirSync(profileDir)].filter((entry) => entry.name.endsWith(".cpuprofile"))
    .map((entry) => `${profileDir}/${entry.name}`)
    .sort((a, b) => Deno.statSync(b).mtime!.getTime() - Deno.statSync(a).mtime!.getTime())[0];
  const { byFunction, byPackage } = topSelfTime(newest);
  console.log(`\nbridge CPU profile (${newest}), share of busy (non-idle) samples, by package:`);
  for (const line of byPackage) console.log(line);
  console.log("by function (self time):");
  for (const line of byFunction) console.log(line);
}
