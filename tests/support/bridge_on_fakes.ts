/**
 * The bridge's record path on fakes of its client libraries: the real {@linkcode Pipeline} and
 * {@linkcode KafkaSource}, a {@linkcode FakeConsumer} the test drives as kafkajs' runner would, a
 * group whose committed offsets the fake's commits move, and an Elasticsearch whose `_bulk`
 * answers the test gives. What kafkajs-shaped interleavings do to delivery is read off it.
 */
import { parseConfig } from "../../lib/config/mod.ts";
import type { DeadLetter, DeadLetterSink } from "../../lib/delivery/dead_letters.ts";
import { type PendingDocument, Pipeline, type PipelineOptions } from "../../lib/delivery/pipeline.ts";
import { type BulkItemResult, BulkWriter } from "../../lib/elastic/bulk_writer.ts";
import { KAFKA_CHECKS } from "../../lib/kafka/client.ts";
import { type GroupAdmin, KafkaSource, type KafkaSourceOptions, type StallPolicy } from "../../lib/kafka/consumer.ts";
import { Health } from "../../lib/runtime/health.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { bulkActions } from "./bulk_body.ts";
import { FAKE_KAFKA_TIME, FakeConsumer } from "./fake_consumer.ts";

export const TOPIC = "pmacct";

/** The id of the record at `offset` of `partition`, as the fake consumer's messages (one Kafka time) give it. */
export const idOf = (offset: number, partition = 0) =>
  `${TOPIC}:${partition}:${offset}:0:${FAKE_KAFKA_TIME.toString(36)}`;

/** A pmacct record whose `bytes` is its offset, so a document says which record it holds. */
export const recordAt = (offset: number) =>
  new TextEncoder().encode(JSON.stringify({ bytes: offset, stamp_inserted: "2026-11-25 10:00:00" }));

/** A `_bulk` request the test answers (once; a second answer is ignored): the ids it carries. */
export interface BulkRequest {
  ids: string[];
  answer(status: number, error?: BulkItemResult["error"]): void;
}

export interface BridgeOnFakes {
  consumers: FakeConsumer[];
  latest(): FakeConsumer;
  source: KafkaSource;
  pipeline: Pipeline;
  requests: BulkRequest[];
  /** Each partition's offset as the group holds it (moved by the fake consumer's commits). */
  groupCommits: Map<number, number>;
  deadLetters: DeadLetter[];
  health: Health;
  metrics: ReturnType<typeof createMetrics>;
  lines: string[];
  /** Ids Elasticsearch acknowledged, each time it did. */
  indexed: string[];
  /** Answers 201 to every request sent so far, and to those they set off, until none is left. */
  indexEverything(): Promise<void>;
  /**
   * Starts the bridge and has its consumer join with partition 0, the group's commit at
   * `committed` (none when `undefined`); resolves once the generation's reading started.
   */
  joined(committed?: number): Promise<void>;
}

export interface FakeBridgeOptions {
  pipeline?: Partial<PipelineOptions>;
  /** Dead letters: stored at once unless this says otherwise. */
  sendLetter?: (letter: DeadLetter, signal: AbortSignal) => Promise<void>;
  /** The dead-letter sink itself, instead of one that stores by `sendLetter`. */
  deadLetters?: DeadLetterSink;
  /** The group's admin, instead of one that reads `groupCommits` and `ends`. */
  admin?: GroupAdmin;
  /** The partitions' ends Kafka reports (`high`; `low` is 0). */
  ends?: Map<number, number>;
  autoOffsetReset?: "earliest" | "latest";
  stall?: StallPolicy;
  /** Where the group's reading is remembered (`ReadingMarks`); none by default. */
  readingMarks?: KafkaSourceOptions["readingMarks"];
  tickMs?: number;
  now?: () => number;
  /** The wait before a new consumer, after one stopped for good (10 to 20 ms by default). */
  backoff?: KafkaSourceOptions["backoff"];
}

/** The value of a counter's series that has `label` among its label values; 0 when it has none. */
export async function counted(
  metric: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> },
  label: string,
): Promise<number> {
  const { values } = await metric.get();
  return values.find(({ labels }) => Object.values(labels).includes(label))?.value ?? 0;
}

export const settle = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (a few ms at a time, 2 s at most) until `condition` holds. */
export async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await settle(5);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

export function bridgeOnFakes(options: FakeBridgeOptions = {}): BridgeOnFakes {
  const lines: string[] = [];
  const log = new Logger("debug", (line) => lines.push(line));
  const metrics = createMetrics();
  const health = new Health(log, { ...KAFKA_CHECKS });
  const requests: BulkRequest[] = [];
  const indexed: string[] = [];
  const groupCommits = new Map<number, number>();
  const deadLetters: DeadLetter[] = [];
  const consumers: FakeConsumer[] = [];
  const config = parseConfig({
    KAFKA_BOOTSTRAP_SERVERS: "k1:9092",
    KAFKA_TOPIC: TOPIC,
    KAFKA_CONSUMER_GROUP_ID: "flows",
    KAFKA_AUTO_OFFSET_RESET: options.autoOffsetReset ?? "earliest",
  }, "UTC").kafka;
  const writer = new BulkWriter<PendingDocument>(
    (body) =>
      new Promise<BulkItemResult[]>((resolve) => {
        const ids = bulkActions(body).map(({ id }) => id);
        let answered = false;
        requests.push({
          ids,
          answer: (status, error) => {
            if (answered) return;
            answered = true;
            if (status < 300) indexed.push(...ids);
            resolve(ids.map(() => ({ status, error })));
          },
        });
      }),
    new Logger("error", () => {}),
    metrics,
    { backoff: { initialMs: 1, maxMs: 1 } },
  );
  const bridge: { source?: KafkaSource } = {};
  const pipeline = new Pipeline({
    indexPrefix: "sflow",
    timezone: "UTC",
    timestampSource: "flow",
    maxBatch: 2,
    maxWaitMs: 60_000,
    maxBuffered: 4,
    concurrency: 1,
    ...options.pipeline,
  }, {
    writer,
    deadLetters: options.deadLetters ?? {
      send: options.sendLetter ?? ((letter) => {
        deadLetters.push(letter);
        return Promise.resolve();
      }),
      problem: () => "the topic refuses it (test)",
    },
    commit: (offsets) => bridge.source!.commitOffsets(offsets),
    elasticHealth: () => {},
    log,
    metrics,
  });
  const admin: GroupAdmin = options.admin ?? {
    partitionOffsets: (topics) =>
      Promise.resolve({
        ends: topics.map(() =>
          [...(options.ends ?? new Map([[0, 100]]))].map(([partition, high]) => ({
            partition,
            high: String(high),
            low: "0",
          }))
        ),
        committed: topics.map((topic) => ({
          topic,
          partitions: [...(options.ends ?? new Map([[0, 100]])).keys()].map((partition) => ({
            partition,
            offset: String(groupCommits.get(partition) ?? -1),
          })),
        })),
      }),
    describeGroup: () => Promise.resolve({ protocol: "range", clients: [] }),
  };
  const source = bridge.source = new KafkaSource({
    config,
    newConsumer: () => {
      const consumer = new FakeConsumer();
      consumer.groupCommitted = (_topic, partition) => groupCommits.get(partition) ?? 0;
      consumer.endOf = (_topic, partition) => (options.ends ?? new Map([[0, 100]])).get(partition) ?? 0;
      consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
        for (const { partition, offset } of payload.topics as Array<{ partition: number; offset: string }>) {
          groupCommits.set(partition, Number(offset));
        }
      });
      consumers.push(consumer);
      return consumer.asGroupConsumer;
    },
    admin,
    pipeline,
    log,
    metrics,
    health,
    backoff: options.backoff ?? { initialMs: 10, maxMs: 20 },
    stall: options.stall,
    readingMarks: options.readingMarks,
    tickMs: options.tickMs ?? 20,
    now: options.now,
  });
  const latest = () => consumers[consumers.length - 1];
  return {
    consumers,
    latest,
    source,
    pipeline,
    requests,
    groupCommits,
    deadLetters,
    health,
    metrics,
    lines,
    indexed,
    async joined(committed) {
      if (committed !== undefined) groupCommits.set(0, committed);
      pipeline.start(5);
      source.start();
      await until("the consumer to run", () => latest()?.running);
      latest().join(TOPIC);
      await until("the generation's start", () => pipeline.position(TOPIC, 0) !== undefined);
    },
    async indexEverything() {
      let answered = 0;
      for (let round = 0; round < 100; round++) {
        await settle(5);
        if (answered === requests.length) {
          await settle(20);
          if (answered === requests.length) return;
        }
        for (; answered < requests.length; answered++) requests[answered].answer(201);
      }
    },
  };
}
