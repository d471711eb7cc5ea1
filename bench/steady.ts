/**
 * The bridge at a steady rate, as on a busy collector: records produced at `rate` per second for
 * `seconds`, lag near 0. Reports the CPU per record over the whole window (fetches and small
 * batches included), resident memory over time, and checks that every record was indexed.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { withAdmin } from "../lib/kafka/client.ts";
import { KAFKA, MAIN_ELASTIC, startBridge, waitReady } from "../tests/support/stack.ts";
import { cpuSeconds, MemorySampler } from "./process_stats.ts";

export interface SteadyResult {
  rate: number;
  seconds: number;
  produced: number;
  indexed: number;
  cpuMicrosPerRecord: number;
  /** Resident memory in MB: smallest and largest sample, and the largest of the first and last minute. */
  rss: { min: number; max: number; firstMinuteMax: number; lastMinuteMax: number };
  maxLag: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSteady(
  topic: string,
  record: (i: number) => string,
  rate: number,
  seconds: number,
  denoFlags: string[] = [],
): Promise<SteadyResult> {
  const kafka = new Kafka({ clientId: "bench-steady", brokers: [KAFKA], logLevel: logLevel.ERROR });
  await withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic, numPartitions: 3 }] }));
  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    LOG_LEVEL: "warn",
  }, denoFlags);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  try {
    await waitReady(bridge);
    await producer.connect();
    const memory = new MemorySampler(bridge.child.pid, 1000);
    const startCpu = cpuSeconds(bridge.child.pid);
    const started = performance.now();
    const tickMs = 100;
    let produced = 0;
    let maxLag = 0;
    for (let tick = 1; performance.now() - started < seconds * 1000; tick++) {
      const due = Math.floor((tick * tickMs * rate) / 1000);
      const messages = [];
      for (; produced < due; produced++) messages.push({ value: record(produced) });
      if (messages.length > 0) await producer.send({ topic, messages });
      if (tick % 10 === 0) maxLag = Math.max(maxLag, await bridge.metric("pmacct_bridge_kafka_consumer_lag"));
      await sleep(Math.max(0, started + tick * tickMs - performance.now()));
    }
    const deadline = Date.now() + 120_000;
    while ((await bridge.metric("pmacct_bridge_documents_indexed_total")) < produced && Date.now() < deadline) {
      await sleep(200);
    }
    const cpu = cpuSeconds(bridge.child.pid) - startCpu;
    memory.stop();
    const samples = memory.samples.map((sample) => sample.rssMb);
    const lastMinuteFrom = memory.samples.at(-1)!.atMs - 60_000;
    return {
      rate,
      seconds,
      produced,
      indexed: await indexedCount(topic),
      cpuMicrosPerRecord: (cpu / produced) * 1e6,
      rss: {
        min: Math.min(...samples),
        max: Math.max(...samples),
        firstMinuteMax: Math.max(...memory.samples.filter((s) => s.atMs <= 60_000).map((s) => s.rssMb)),
        lastMinuteMax: Math.max(...memory.samples.filter((s) => s.atMs >= lastMinuteFrom).map((s) => s.rssMb)),
      },
      maxLag,
    };
  } finally {
    await producer.disconnect().catch(() => {});
    await bridge.stop("SIGTERM");
  }
}

function indexedCount(prefix: string): Promise<number> {
  return MAIN_ELASTIC.count(prefix);
}
