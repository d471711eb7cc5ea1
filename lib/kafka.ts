/**
 * The Kafka adapter: a kafkajs consumer that feeds the {@linkcode Pipeline} batch-wise with
 * auto-commit off (offsets are committed by the pipeline, only past acknowledged records), and
 * a producer for dead letters.
 */
import { type Consumer, Kafka, type LogEntry, logLevel as KafkaLogLevel, Partitioners, type Producer } from "kafkajs";
import type { KafkaConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Pipeline } from "./pipeline.ts";
import { registerCompressionCodecs } from "./kafka_codecs.ts";

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [KafkaLogLevel.ERROR]: "error",
  [KafkaLogLevel.WARN]: "warn",
  [KafkaLogLevel.INFO]: "info",
  [KafkaLogLevel.DEBUG]: "debug",
};

/** kafkajs' own log lines, routed through the bridge's logger. */
function kafkaLogCreator(log: Logger) {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    log.log(LEVELS[level] ?? "info", `kafka ${namespace}: ${message}`, fields);
  };
}

export function createKafka(config: KafkaConfig, log: Logger): Kafka {
  registerCompressionCodecs();
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(log),
    retry: { initialRetryTime: 300, maxRetryTime: 30_000, retries: 8 },
  });
}

export function createDeadLetterProducer(kafka: Kafka): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: true,
    idempotent: false,
  });
}

/** How long a batch waits for buffer room (each time) before its partition is paused instead. */
const ROOM_WAIT_MS = 1000;

/** Consumer state the HTTP readiness probe reports. */
export interface ConsumerState {
  member: boolean;
}

export interface RunConsumerOptions {
  config: KafkaConfig;
  kafka: Kafka;
  pipeline: Pipeline;
  log: Logger;
  metrics: Metrics;
  state: ConsumerState;
}

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
  partitions: number[],
  highWatermarks: Map<number, number>,
  committedAtJoin: Map<number, number>,
  metrics: Metrics,
  log: Logger,
): Promise<void> {
  if (partitions.length === 0) return;
  const admin = kafka.admin();
  try {
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(config.topic);
    const [committed] = await admin.fetchOffsets({ groupId: config.groupId, topics: [config.topic] });
    for (const partition of partitions) {
      const end = ends.find((candidate) => candidate.partition === partition);
      if (end && !highWatermarks.has(partition)) highWatermarks.set(partition, Number(end.high));
      const offset = Number(committed?.partitions.find((candidate) => candidate.partition === partition)?.offset);
      // A commit of this generation that landed while we asked is newer than what we got.
      if (offset >= 0 && pipeline.committedOffset(config.topic, partition) === undefined) {
        committedAtJoin.set(partition, offset);
        metrics.committed.set({ topic: config.topic, partition: String(partition) }, offset);
      }
    }
  } catch (error) {
    log.debug("could not read the assigned partitions' offsets for the lag gauges", {
      error: (error as Error).message,
    });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Connects, subscribes and starts consuming; retries the connection until Kafka answers. */
export async function runConsumer(
  { config, kafka, pipeline, log, metrics, state }: RunConsumerOptions,
): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutSeconds * 1000,
    // A fetch long-polls this long when nothing is new. Kept short because a fetch sent while
    // partitions are paused leaves them out, and they resume only with the next one.
    maxWaitTimeInMs: 500,
    heartbeatInterval: Math.min(3000, (config.sessionTimeoutSeconds * 1000) / 3),
    retry: { retries: 8, restartOnFailure: () => Promise.resolve(true) },
  });
  const highWatermarks = new Map<number, number>();
  /** The group's committed offsets at the last join, for partitions the bridge has not committed on since. */
  const committedAtJoin = new Map<number, number>();
  const updateLag = () => {
    for (const [partition, highWatermark] of highWatermarks) {
      const committed = pipeline.committedOffset(config.topic, partition) ?? committedAtJoin.get(partition);
      if (committed !== undefined) {
        metrics.lag.set({ topic: config.topic, partition: String(partition) }, Math.max(0, highWatermark - committed));
      }
    }
  };
  const lagTimer = setInterval(updateLag, 1000);
  const paused = new Set<number>();
  const resumeAll = () => {
    if (paused.size === 0) return;
    log.debug("buffer has room again: resuming fetch", { partitions: [...paused].join(",") });
    consumer.resume([{ topic: config.topic, partitions: [...paused] }]);
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
    const assigned = payload.memberAssignment[config.topic] ?? [];
    seedPartitionGauges(kafka, config, pipeline, assigned, highWatermarks, committedAtJoin, metrics, log);
    state.member = true;
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
    state.member = false;
    metrics.kafkaUp.set(0);
    log.error("Kafka consumer crashed", { error: payload.error.message, restarting: payload.restart });
  });
  consumer.on(consumer.events.DISCONNECT, () => {
    state.member = false;
    metrics.kafkaUp.set(0);
  });
  consumer.on(consumer.events.STOP, () => clearInterval(lagTimer));
  for (let attempt = 1;; attempt++) {
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [config.topic], fromBeginning: config.fromBeginning });
      break;
    } catch (error) {
      log.error("cannot reach Kafka; retrying", {
        brokers: config.brokers.join(","),
        error: (error as Error).message,
        attempt,
      });
      await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 1000 * attempt)));
    }
  }
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }) => {
      if (!isRunning() || isStale()) return;
      highWatermarks.set(batch.partition, Number(batch.highWatermark));
      const messages = batch.messages.map((message) => ({
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        timestamp: message.timestamp,
        value: message.value,
      }));
      let taken = pipeline.ingest(messages);
      while (taken < messages.length && isRunning() && !isStale() && await pipeline.whenRoom(ROOM_WAIT_MS)) {
        taken += pipeline.ingest(messages.slice(taken));
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
        paused.add(batch.partition);
        metrics.paused.set(1);
        if (pipeline.hasRoom) resumeAll();
      }
      await heartbeat();
    },
  });
  return consumer;
}
