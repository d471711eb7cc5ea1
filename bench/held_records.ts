/**
 * What a record costs while Elasticsearch has not taken it: the heap and RSS that `--records`
 * held records add, through {@linkcode Pipeline} as the consumer drives it, with a transport that
 * answers no `_bulk` request until they are all measured. Each fetch is one response buffer and
 * its messages' values are views of it, as kafkajs hands them over, and the bench lets go of
 * each fetch once it is taken, as kafkajs does.
 *
 * `scripts/deno run -A --v8-flags=--max-semi-space-size=16,--expose-gc bench/held_records.ts [--records=50000]`
 */
import { Buffer } from "node:buffer";
import type { BulkItemResult } from "../lib/elastic/bulk_writer.ts";
import { partitionKey } from "../lib/delivery/acknowledgement.ts";
import type { SourceMessage } from "../lib/delivery/pipeline.ts";
import { acceptAll, benchPipeline, documentsIn } from "./pipeline_alone.ts";
import { benchRecord } from "./records.ts";

/** Messages per fetch of one partition, and what Kafka's record batch adds around each value. */
const MESSAGES_PER_FETCH = 450;
const RECORD_OVERHEAD = 70;

/** One fetch as kafkajs hands it over: values that are views of one response buffer. */
function fetched(from: number, count: number): SourceMessage[] {
  const values = Array.from({ length: count }, (_, i) => benchRecord(from + i));
  const response = Buffer.alloc(values.reduce((sum, value) => sum + value.length + RECORD_OVERHEAD, 0));
  let at = 0;
  return values.map((value, i) => {
    at += RECORD_OVERHEAD;
    const written = response.write(value, at);
    const message = {
      offset: String(from + i),
      timestamp: "1795547400000",
      value: response.subarray(at, at + written),
    };
    at += written;
    return message;
  });
}

/** Heap and RSS bytes per held record, after a full collection on each side. */
export async function heldRecordBytes(
  records: number,
): Promise<{ heap: number; external: number; heapTotal: number; rss: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --v8-flags=--expose-gc");
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  let sent = 0;
  const transport = async (body: Uint8Array): Promise<BulkItemResult[]> => {
    const documents = documentsIn(body);
    sent += documents;
    await released;
    return acceptAll(documents);
  };
  const pipeline = benchPipeline(transport, { maxBatch: 1000, maxBuffered: records + MESSAGES_PER_FETCH });
  const topic = "held";
  pipeline.startRuns(pipeline.generation, new Map([[partitionKey(topic, 0), { offset: 0 }]]));
  // A first fetch warms the code and the memos up before the baseline.
  const take = (from: number) => {
    const messages = fetched(from, Math.min(MESSAGES_PER_FETCH, records - from));
    const admission = pipeline.admit(topic, 0, messages[0].offset);
    if (!("ticket" in admission)) throw new Error(`refused: ${admission.refused}`);
    if (pipeline.ingest(admission.ticket, messages) !== messages.length) throw new Error("no room");
    pipeline.settle(admission.ticket, messages[messages.length - 1].offset);
  };
  take(0);
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  const before = Deno.memoryUsage();
  for (let from = MESSAGES_PER_FETCH; from < records; from += MESSAGES_PER_FETCH) take(from);
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc();
  const after = Deno.memoryUsage();
  const held = records - MESSAGES_PER_FETCH;
  release();
  await pipeline.drain(60_000);
  if (sent !== records) throw new Error(`sent ${sent} of ${records}`);
  return {
    heap: (after.heapUsed - before.heapUsed) / held,
    external: (after.external - before.external) / held,
    heapTotal: (after.heapTotal - before.heapTotal) / held,
    rss: (after.rss - before.rss) / held,
  };
}

if (import.meta.main) {
  const records = Number(Deno.args.find((arg) => arg.startsWith("--records="))?.slice(10) ?? 50_000);
  const bytes = await heldRecordBytes(records);
  const shown = Object.entries(bytes).map(([name, value]) => `${name} ${Math.round(value)} B`).join(", ");
  console.log(`a held record (${records} held): ${shown}`);
}
