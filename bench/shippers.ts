/**
 * The three shippers the benchmark runs on the same topic, each measured the same way: wall time
 * from process start and from ready (consuming) to the last record indexed, CPU seconds of the
 * whole process from `/proc` (start-up apart from the steady drain), and peak resident memory.
 */
import { buildIndexTemplate, parseTemplateFile } from "../lib/elastic/index_template.ts";
import { bulkBody } from "../lib/elastic/bulk_body.ts";
import { encodeDocument } from "../lib/pmacct/document.ts";
import { REPO_ROOT, SHARED } from "../tests/support/fixtures.ts";
import { BRIDGE_RUN_FLAGS, elastic, KAFKA, startBridge, waitFor } from "../tests/support/stack.ts";
import { cpuSeconds, MemorySampler } from "./process_stats.ts";

export interface Measurement {
  shipper: string;
  records: number;
  secondsFromStart: number;
  secondsFromReady: number;
  /** CPU seconds before the shipper was ready to consume. */
  startupCpuSeconds?: number;
  /** CPU µs per record from ready to the last record. */
  cpuMicrosPerRecord?: number;
  peakRssMb?: number;
}

export interface Settings {
  batchSize: number;
  concurrency: number;
}

/** How long a shipper may take to drain the largest lag before the run is called failed. */
const DRAIN_TIMEOUT_MS = 900_000;

/**
 * The bridge as operators run it: one `deno run main.ts` process at default settings (batch and
 * concurrency as given). `denoFlags` such as `--cpu-prof` go to that process.
 */
export async function runBridge(
  topic: string,
  records: number,
  { batchSize, concurrency }: Settings,
  denoFlags: string[] = [],
): Promise<Measurement> {
  const started = performance.now();
  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: `${topic}-bridge`,
    ELASTIC_INDEX_PREFIX: `${topic}-bridge`,
    ELASTIC_MAX_SAMPLES_PER_SEND: String(batchSize),
    ELASTIC_BULK_CONCURRENCY: String(concurrency),
    LOG_LEVEL: "warn",
  }, denoFlags);
  const pid = bridge.child.pid;
  const memory = new MemorySampler(pid);
  try {
    await waitFor(
      "the bridge to be ready",
      async () => {
        const response = await fetch(`http://127.0.0.1:${bridge.port}/readyz`);
        await response.body?.cancel();
        return response.ok;
      },
      DRAIN_TIMEOUT_MS,
      20,
    );
    const ready = performance.now();
    const readyCpu = cpuSeconds(pid);
    await waitFor(
      "the bridge to index everything",
      async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= records,
      DRAIN_TIMEOUT_MS,
      100,
    );
    const done = performance.now();
    const doneCpu = cpuSeconds(pid);
    return {
      shipper: "bridge",
      records,
      secondsFromStart: (done - started) / 1000,
      secondsFromReady: (done - ready) / 1000,
      startupCpuSeconds: readyCpu,
      cpuMicrosPerRecord: ((doneCpu - readyCpu) / records) * 1e6,
      peakRssMb: memory.stop(),
    };
  } finally {
    memory.stop();
    await bridge.stop("SIGTERM");
  }
}

/**
 * kafkajs alone at the bridge's pace, with the bridge's modules loaded (`bench/kafka_floor.ts`):
 * the memory and CPU that the bridge cannot go below while it keeps these libraries.
 */
export async function runKafkaFloor(
  topic: string,
  records: number,
  recordsPerSecond: number,
  holding: number,
): Promise<Measurement> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    // With the bridge's V8 flags; all permissions, since Deno reads a process's own `/proc` only so.
    args: [
      "run",
      ...BRIDGE_RUN_FLAGS.filter((flag) => !flag.startsWith("--allow-")),
      "--allow-all",
      `${REPO_ROOT}bench/kafka_floor.ts`,
    ],
    env: {
      FLOOR_BROKERS: KAFKA,
      FLOOR_TOPIC: topic,
      FLOOR_GROUP: `${topic}-floor`,
      FLOOR_RECORDS: String(records),
      FLOOR_RATE: String(recordsPerSecond),
      FLOOR_HOLD: String(holding),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) throw new Error(`kafka_floor.ts failed: ${new TextDecoder().decode(output.stderr)}`);
  const result = JSON.parse(text.trim().split("\n").at(-1)!);
  return {
    shipper: "kafkajs alone, at the bridge's pace",
    records: result.records,
    secondsFromStart: (performance.now() - started) / 1000,
    secondsFromReady: result.seconds,
    startupCpuSeconds: result.readyCpu,
    cpuMicrosPerRecord: (result.cpu / result.records) * 1e6,
    peakRssMb: result.peakRssMb,
  };
}

/**
 * The original Python tool, unchanged, on Debian's packages (`bench/install.sh`). It only sends
 * a partial batch when a later message arrives, so it is timed to its last full batch, by its
 * own log lines; "ready" is its Prometheus server starting, just before it consumes.
 */
export async function runOriginal(topic: string, records: number, { batchSize }: Settings): Promise<Measurement> {
  const goal = records - (records % batchSize);
  const started = performance.now();
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
  const memory = new MemorySampler(child.pid);
  let ready: { at: number; cpu: number } | undefined;
  let sent = 0;
  try {
    let pending = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.includes("Starting Prometheus client http server")) {
          ready = { at: performance.now(), cpu: cpuSeconds(child.pid) };
        }
        const batch = /Sent (\d+) samples/.exec(line);
        if (batch) sent += Number(batch[1]);
        if (ready !== undefined && sent >= goal) {
          const done = performance.now();
          const cpu = cpuSeconds(child.pid);
          return {
            shipper: "original (Python)",
            records: goal,
            secondsFromStart: (done - started) / 1000,
            secondsFromReady: (done - ready.at) / 1000,
            startupCpuSeconds: ready.cpu,
            cpuMicrosPerRecord: ((cpu - ready.cpu) / goal) * 1e6,
            peakRssMb: memory.stop(),
          };
        }
      }
    }
    throw new Error(`the original tool stopped after sending ${sent} of ${goal} records`);
  } finally {
    memory.stop();
    child.kill("SIGKILL");
    await child.status;
  }
}

/**
 * What Elasticsearch alone can absorb: the same documents, serialised before the clock starts,
 * posted straight to `_bulk` with the same batch size and requests in flight.
 */
export async function runRawLoader(
  topic: string,
  values: string[],
  { batchSize, concurrency }: Settings,
): Promise<Measurement> {
  const prefix = `${topic}-raw`;
  // The bridge's own template, settings and all, so that Elasticsearch does the same work for both.
  const path = `${REPO_ROOT}new-index-template.json`;
  const { template } = buildIndexTemplate(prefix, parseTemplateFile(Deno.readTextFileSync(path), path), 1, 0);
  await elastic.indices.putIndexTemplate({
    name: `${prefix}-pmacct`,
    index_patterns: [`${prefix}-*`],
    priority: 200,
    template,
  });
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  const indices = new Set<string>();
  for (let i = 0; i < values.length; i += batchSize) {
    const documents = values.slice(i, i + batchSize).map((value, j) =>
      encodeDocument(JSON.parse(value), { topic, partition: 0, offset: String(i + j), position: 0, timestampMs: 0 }, {
        indexPrefix: prefix,
        timezone: "UTC",
        timestampSource: "flow",
      })
    );
    for (const document of documents) indices.add(document.index);
    bodies.push(bulkBody(documents));
  }
  // The stack's Elasticsearch creates no index on write (`action.auto_create_index: false`).
  for (const index of indices) await elastic.indices.create({ index });
  const started = performance.now();
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
  const seconds = (performance.now() - started) / 1000;
  await elastic.indices.deleteIndexTemplate({ name: `${prefix}-pmacct` });
  return { shipper: "raw _bulk loader", records: values.length, secondsFromStart: seconds, secondsFromReady: seconds };
}
