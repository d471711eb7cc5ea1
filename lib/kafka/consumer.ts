/**
 * The consumer: feeds the {@linkcode Pipeline} batch-wise with auto-commit off (offsets are
 * committed by the pipeline, only past acknowledged records), pauses partitions when the buffer
 * is full, and keeps the lag gauges.
 */
import type { Consumer, Kafka } from "kafkajs";
import type { KafkaConfig } from "../config.ts";
import type { Health } from "../health.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Pipeline } from "../pipeline.ts";
import { reportKafkaFailure, reportKafkaReached, withAdmin } from "./client.ts";

/**
 * How the bridge fetches, shared with the benchmark's kafkajs-alone floor (`bench/kafka_floor.ts`).
 */
export const FETCH_OPTIONS = {
  // A fetch long-polls this long when nothing is new. Kept short because a fetch sent while
  // partitions are paused leaves them out, and they resume only with the next one.
  maxWaitTimeInMs: 500,
  // The broker answers a fetch once it has this much (about 400 pmacct records), or after
  // `maxWaitTimeInMs`: a busy collector's records then come in batches of hundreds, not a few at
  // a time, which is what the bridge pays for per fetch (at 3,000 records/s: 12.0 -> 9.8 µs a
  // record).
  minBytes: 256 * 1024,
  // What one fetch brings at most, per partition and in all (kafkajs' defaults are 1 MiB and
  // 10 MiB). Each response is held whole while its records are decoded and buffered, so smaller
  // responses lower the peak: draining 1,000,000 records, 264-267 MB instead of 282-283 MB at the
  // same CPU. A record batch larger than this still comes whole (brokers return the first).
  maxBytesPerPartition: 256 * 1024,
  maxBytes: 1024 * 1024,
} as const;

/** How long a batch waits for buffer room (each time) before its partition is paused instead. */
const ROOM_WAIT_MS = 1000;

export interface RunConsumerOptions {
  config: KafkaConfig;
  kafka: Kafka;
  pipeline: Pipeline;
  log: Logger;
  metrics: Metrics;
  /** `kafka` passes while the consumer is a member of its group. */
  health: Health;
}

/** Per source topic, per partition: an offset. */
type OffsetsByTopic = Map<string, Map<number, number>>;

/** A topic's entry in a per-topic map, made empty the first time. */
function partitionsOf<T extends Map<number, number> | Set<number>>(
  map: Map<string, T>,
  topic: string,
  empty: () => T,
): T {
  let partitions = map.get(topic);
  if (partitions === undefined) map.set(topic, partitions = empty());
  return partitions;
}
const noOffsets = () => new Map<number, number>();

/**
 * Reads the assigned partitions' end offsets and the group's committed offsets once after a
 * join, so the lag and committed-offset gauges cover every assigned partition, also those with
 * nothing new to fetch (the bridge only learns about a partition from its fetches otherwise).
 * Observability only: a failure is logged and the gauges fill in as records arrive.
 */
async function seedPartitionGauges(
  kafka: Kafka,
  config: KafkaConfig,
  pipeline: Pipeline,
  assignment: Record<string, number[]>,
  highWatermarks: OffsetsByTopic,
  committedAtJoin: OffsetsByTopic,
  metrics: Metrics,
  log: Logger,
): Promise<void> {
  const topics = Object.keys(assignment).filter((topic) => assignment[topic].length > 0);
  if (topics.length === 0) return;
  try {
    const { ends, committed } = await withAdmin(kafka, async (admin) => ({
      ends: await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic))),
      committed: await admin.fetchOffsets({ groupId: config.groupId, topics }),
    }));
    topics.forEach((topic, i) => {
      const known = partitionsOf(highWatermarks, topic, noOffsets);
      const committedOfTopic = committed.find((candidate) => candidate.topic === topic)?.partitions ?? [];
      for (const partition of assignment[topic]) {
        const end = ends[i].find((candidate) => candidate.partition === partition);
        if (end && !known.has(partition)) known.set(partition, Number(end.high));
        const offset = Number(committedOfTopic.find((candidate) => candidate.partition === partition)?.offset);
        // A commit of this generation that landed while we asked is newer than what we got.
        if (offset >= 0 && pipeline.committedOffset(topic, partition) === undefined) {
          partitionsOf(committedAtJoin, topic, noOffsets).set(partition, offset);
          metrics.committed.set({ topic, partition: String(partition) }, offset);
        }
      }
    });
  } catch (error) {
    log.debug("could not read the assigned partitions' offsets for the lag gauges", {
      error: (error as Error).message,
    });
  }
}

/** Connects, subscribes and starts consuming; retries the connection until Kafka answers. */
export async function runConsumer(
  { config, kafka, pipeline, log, metrics, health }: RunConsumerOptions,
): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutSeconds * 1000,
    ...FETCH_OPTIONS,
    heartbeatInterval: Math.min(3000, (config.sessionTimeoutSeconds * 1000) / 3),
    // The topic exists (start-up waited for it); a consumer never creates one.
    allowAutoTopicCreation: false,
    retry: { retries: 8, restartOnFailure: () => Promise.resolve(true) },
  });
  const highWatermarks: OffsetsByTopic = new Map();
  /** The group's committed offsets at the last join, for partitions the bridge has not committed on since. */
  const committedAtJoin: OffsetsByTopic = new Map();
  const updateLag = () => {
    for (const [topic, partitions] of highWatermarks) {
      for (const [partition, highWatermark] of partitions) {
        const committed = pipeline.committedOffset(topic, partition) ?? committedAtJoin.get(topic)?.get(partition);
        if (committed !== undefined) {
          metrics.lag.set({ topic, partition: String(partition) }, Math.max(0, highWatermark - committed));
        }
      }
    }
  };
  const lagTimer = setInterval(updateLag, 1000);
  /** Paused partitions, per topic. */
  const paused = new Map<string, Set<number>>();
  const resumeAll = () => {
    if (paused.size === 0) return;
    const partitions = [...paused].map(([topic, numbers]) => ({ topic, partitions: [...numbers] }));
    log.debug("buffer has room again: resuming fetch", {
      partitions: partitions.map(({ topic, partitions }) => `${topic}:${partitions.join(",")}`).join(" "),
    });
    consumer.resume(partitions);
    paused.clear();
    metrics.paused.set(0);
  };
  pipeline.onRoom(resumeAll);
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    pipeline.newGeneration();
    resumeAll();
    highWatermarks.clear();
    committedAtJoin.clear();
    metrics.lag.reset();
    metrics.committed.reset();
    seedPartitionGauges(
      kafka,
      config,
      pipeline,
      payload.memberAssignment,
      highWatermarks,
      committedAtJoin,
      metrics,
      log,
    );
    health.set("kafka", true);
    reportKafkaReached(health);
    metrics.kafkaUp.set(1);
    log.info("joined consumer group", {
      group: config.groupId,
      member: payload.memberId,
      assignment: payload.memberAssignment,
    });
  });
  consumer.on(consumer.events.REBALANCING, () => {
    log.info("group is rebalancing: committing what is acknowledged", { group: config.groupId });
    pipeline.commitAcknowledged();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    health.set("kafka", false);
    metrics.kafkaUp.set(0);
    reportKafkaFailure(health, payload.error, config);
    log.warn("Kafka consumer stopped; restarting", { error: payload.error.message, restarting: payload.restart });
  });
  consumer.on(consumer.events.DISCONNECT, () => {
    health.set("kafka", false);
    metrics.kafkaUp.set(0);
  });
  consumer.on(consumer.events.STOP, () => clearInterval(lagTimer));
  for (let attempt = 1;; attempt++) {
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning });
      break;
    } catch (error) {
      reportKafkaFailure(health, error, config);
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * attempt)));
    }
  }
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }) => {
      if (!isRunning() || isStale()) return;
      const { topic, partition, messages } = batch;
      partitionsOf(highWatermarks, topic, noOffsets).set(partition, Number(batch.highWatermark));
      let taken = pipeline.ingest(topic, partition, messages);
      while (taken < messages.length && isRunning() && !isStale() && await pipeline.whenRoom(ROOM_WAIT_MS)) {
        taken += pipeline.ingest(topic, partition, messages.slice(taken));
        await heartbeat();
      }
      if (taken > 0) resolveOffset(messages[taken - 1].offset);
      if (taken < messages.length) {
        // Still full (Elasticsearch slow or down): stop fetching this partition; the rest is
        // fetched again from the resolved offset once there is room.
        pause();
        if (paused.size === 0) {
          log.debug("buffer full: pausing fetch until Elasticsearch catches up", { held: pipeline.held });
        }
        partitionsOf(paused, topic, () => new Set<number>()).add(partition);
        metrics.paused.set(1);
        if (pipeline.hasRoom) resumeAll();
      }
      await heartbeat();
    },
  });
  return consumer;
}
