/**
 * The bridge's own record path in one process, without Kafka, Elasticsearch or the network:
 * fetched-batch-sized runs of messages (kafkajs' shape, `Buffer` values) through
 * {@linkcode Pipeline} as the consumer drives it, `_bulk` bodies written and answered by a
 * transport that accepts every document, offsets acknowledged and committed. What is left of a
 * drain's CPU once kafkajs, the HTTP client and the servers are taken out, measured from
 * `process.cpuUsage()` (every thread, so the garbage collector's helpers too). Far less noisy than
 * a drain on a shared 2-core machine, so small changes to the record path show in it.
 *
 * `deno task bench` runs it after the servers; alone, with no server needed:
 * `scripts/deno run -A --v8-flags=--max-semi-space-size=16 bench/pipeline_alone.ts [--records=100000] [--runs=10]
 * [--ecs | --community-id]` prints each run and the best and median (compare two versions by
 * alternating them); `--ecs` writes ECS documents, `--community-id` adds it to pmacct's names.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { type BulkItemResult, BulkWriter } from "../lib/elastic/bulk_writer.ts";
import { defaultMaxBuffered } from "../lib/config/elastic.ts";
import { Logger } from "../lib/runtime/log.ts";
import { createMetrics } from "../lib/runtime/metrics.ts";
import { partitionKey } from "../lib/delivery/acknowledgement.ts";
import { type PendingDocument, Pipeline, type SourceMessage } from "../lib/delivery/pipeline.ts";
import { benchRecord } from "./records.ts";
import type { EncodeOptions } from "../lib/pmacct/document.ts";

/** Messages per `ingest` call: about what one 256 KiB fetch of a partition holds. */
const MESSAGES_PER_FETCH = 450;
const PARTITIONS = 3;

/** CPU µs per record of `values` through the pipeline (one warm-up pass first, not counted). */
export async function pipelineMicrosPerRecord(
  values: readonly string[],
  batchSize: number,
  naming: Naming = {},
): Promise<number> {
  const messages = values.map((value, i): SourceMessage => ({
    offset: String(Math.floor(i / PARTITIONS)),
    timestamp: "1795547400000",
    value: Buffer.from(value),
  }));
  await drain(messages, batchSize, "warm-up", naming);
  const before = process.cpuUsage();
  await drain(messages, batchSize, "measured", naming);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / messages.length;
}

/** How documents are named: pmacct's names by default, or ECS's; with or without the Community ID. */
export type Naming = Pick<EncodeOptions, "fieldNames" | "communityId">;

/** Documents in a `_bulk` body: two lines each. */
export function documentsIn(body: Uint8Array): number {
  let lines = 0;
  for (let at = body.indexOf(0x0a); at >= 0; at = body.indexOf(0x0a, at + 1)) lines++;
  return lines / 2;
}

/** The answer of a transport that accepts every document. */
export const acceptAll = (count: number) => Array.from({ length: count }, (): BulkItemResult => ({ status: 201 }));

/**
 * The record path as the bridge builds it, started, writing its `_bulk` bodies to `transport`:
 * no Kafka, no dead-letter topic, commits that always land.
 */
export function benchPipeline(
  transport: (body: Uint8Array) => Promise<BulkItemResult[]>,
  bounds: { maxBatch: number; maxBuffered: number },
  naming: Naming = {},
): Pipeline {
  const log = new Logger("error", () => {});
  const metrics = createMetrics();
  const pipeline = new Pipeline({
    indexPrefix: "bench",
    timezone: "UTC",
    timestampSource: "flow",
    ...naming,
    ...bounds,
    maxWaitMs: 1000,
    concurrency: 2,
  }, {
    writer: new BulkWriter<PendingDocument>(transport, log, metrics),
    deadLetters: { send: () => Promise.resolve() },
    commit: () => Promise.resolve(),
    elasticHealth: () => {},
    log,
    metrics,
  });
  pipeline.identifySource("Zm9vYmFyYmF6cXV4cXV1eA");
  pipeline.start();
  return pipeline;
}

async function drain(messages: SourceMessage[], batchSize: number, topic: string, naming: Naming): Promise<void> {
  let indexed = 0;
  const transport = async (body: Uint8Array): Promise<BulkItemResult[]> => {
    // The answer comes after a turn of the event loop, as a response does.
    const documents = documentsIn(body);
    await new Promise((resolve) => setTimeout(resolve, 0));
    indexed += documents;
    return acceptAll(documents);
  };
  const pipeline = benchPipeline(
    transport,
    { maxBatch: batchSize, maxBuffered: defaultMaxBuffered(batchSize) },
    naming,
  );
  const byPartition = Array.from(
    { length: PARTITIONS },
    (_, partition) => messages.filter((_, i) => i % PARTITIONS === partition),
  );
  const starts = byPartition.map((_, partition) => [partitionKey(topic, partition), { offset: 0 }] as const);
  pipeline.startRuns(pipeline.generation, new Map(starts));
  for (let from = 0; from < byPartition[0].length; from += MESSAGES_PER_FETCH) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const fetched = byPartition[partition].slice(from, from + MESSAGES_PER_FETCH);
      if (fetched.length === 0) continue;
      // As the consumer: admitted from its fetch offset, taken while there is room, settled.
      const admission = pipeline.admit(topic, partition, fetched[0].offset);
      if (!("ticket" in admission)) throw new Error(`batch of ${topic}:${partition} refused: ${admission.refused}`);
      let taken = pipeline.ingest(admission.ticket, fetched);
      while (taken < fetched.length) {
        await pipeline.whenRoom(1000);
        taken += pipeline.ingest(admission.ticket, fetched.slice(taken));
      }
      pipeline.settle(admission.ticket, fetched[taken - 1].offset);
    }
  }
  await pipeline.drain(60_000);
  if (indexed !== messages.length) throw new Error(`pipeline alone indexed ${indexed} of ${messages.length}`);
}

if (import.meta.main) {
  const option = (name: string, fallback: number) =>
    Number(Deno.args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
  const values = Array.from({ length: option("records", 100_000) }, (_, i) => benchRecord(i));
  const runs: number[] = [];
  const naming: Naming = {
    fieldNames: Deno.args.includes("--ecs") ? "ecs" : "pmacct",
    communityId: Deno.args.includes("--community-id") || Deno.args.includes("--ecs"),
  };
  for (let run = 0; run < option("runs", 10); run++) runs.push(await pipelineMicrosPerRecord(values, 1000, naming));
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`record path alone, µs/record CPU: ${runs.map((micros) => micros.toFixed(2)).join(" ")}`);
  console.log(`best ${sorted[0].toFixed(2)}, median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)}`);
}
