/**
 * The consumer: feeds the {@linkcode Pipeline} batch-wise with auto-commit off (offsets are
 * committed by the pipeline, only past acknowledged records), pauses partitions when the buffer
 * is full, and keeps the lag gauges. kafkajs restarts its consumer after a retriable error only;
 * after any other stop (a non-retriable error, a join the group refused, an exception of ours)
 * {@linkcode KafkaSource} builds a new one with backoff, so the consumer never dies while the
 * process lives, and names the cause on the log and `/readyz`.
 */
import type { Consumer, Kafka } from "kafkajs";
import type { KafkaConfig } from "../config/mod.ts";
import type { Health } from "../runtime/health.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { CommitRequest, Pipeline } from "../delivery/pipeline.ts";
import { backoffDelay, type BackoffPolicy } from "../runtime/retry.ts";
import { partitionAssigner } from "./assigners.ts";
import {
  type GroupProtocolConflict,
  isGroupProtocolConflict,
  reportKafkaFailure,
  reportKafkaReached,
  withAdmin,
} from "./client.ts";

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

/** Between rebuilds of a stopped consumer; back to the start after each successful join. */
const REBUILD_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 15_000 };

/** What the bridge uses of a kafkajs consumer: the seam the unit tests fake. */
export type GroupConsumer = Pick<
  Consumer,
  "connect" | "subscribe" | "run" | "pause" | "resume" | "commitOffsets" | "disconnect" | "on" | "events"
>;

/** What the consumer uses of the pipeline. */
export type ConsumerPipeline = Pick<
  Pipeline,
  "ingest" | "whenRoom" | "hasRoom" | "held" | "onRoom" | "newGeneration" | "commitAcknowledged" | "committedOffset"
>;

/** The admin reads of the consumer: offsets for the gauges, and who is in the group. */
export interface GroupAdmin {
  partitionOffsets(topics: string[]): Promise<{
    ends: Array<Array<{ partition: number; high: string }>>;
    committed: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
  }>;
  describeGroup(): Promise<GroupProtocolConflict>;
}

/** {@linkcode GroupAdmin} on a short-lived kafkajs admin client per read. */
export function kafkaGroupAdmin(kafka: Kafka, groupId: string): GroupAdmin {
  return {
    partitionOffsets: (topics) =>
      withAdmin(kafka, async (admin) => ({
        ends: await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic))),
        committed: await admin.fetchOffsets({ groupId, topics }),
      })),
    describeGroup: () =>
      withAdmin(kafka, async (admin) => {
        const { groups: [group] } = await admin.describeGroups([groupId]);
        return {
          protocol: group?.protocol || undefined,
          clients: group?.members.map(({ clientId }) => clientId) ?? [],
        };
      }),
  };
}

/** The kafkajs consumer the bridge runs: its group, fetch sizes and assignment protocols. */
export function kafkaGroupConsumer(kafka: Kafka, config: KafkaConfig): GroupConsumer {
  return kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.sessionTimeoutSeconds * 1000,
    ...FETCH_OPTIONS,
    heartbeatInterval: Math.min(3000, (config.sessionTimeoutSeconds * 1000) / 3),
    // The topic exists (start-up waited for it); a consumer never creates one.
    allowAutoTopicCreation: false,
    partitionAssigners: config.partitionAssignmentStrategy.map(partitionAssigner),
    retry: { retries: 8, restartOnFailure: () => Promise.resolve(true) },
  });
}

export interface KafkaSourceOptions {
  config: KafkaConfig;
  /** Builds a consumer: the first, and a new one after each stop. */
  newConsumer: () => GroupConsumer;
  admin: GroupAdmin;
  pipeline: ConsumerPipeline;
  log: Logger;
  metrics: Metrics;
  /** `kafka` passes while the consumer is a member of its group. */
  health: Health;
  backoff?: BackoffPolicy;
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
 * The source of records: one kafkajs consumer at a time, rebuilt with backoff whenever one stops
 * for good, until {@linkcode KafkaSource.stop}. Commits go through the consumer of the moment,
 * once it has joined its group.
 */
export class KafkaSource {
  readonly #options: KafkaSourceOptions;
  #consumer: GroupConsumer | undefined;
  /** Whether the consumer of the moment is a member of its group (joined, not crashed). */
  #member = false;
  #stopping = false;
  #supervising: Promise<void> | undefined;
  /** Ends the wait on the consumer of the moment (it stopped for good, or shutdown began). */
  #endWait: (cause?: unknown) => void = () => {};
  #lagTimer: ReturnType<typeof setInterval> | undefined;
  readonly #highWatermarks: OffsetsByTopic = new Map();
  /** The group's committed offsets at the last join, for partitions the bridge has not committed on since. */
  readonly #committedAtJoin: OffsetsByTopic = new Map();
  /** Paused partitions, per topic. */
  readonly #paused = new Map<string, Set<number>>();

  constructor(options: KafkaSourceOptions) {
    this.#options = options;
    // At zero from the start, so that the first move of a topic is an increase an alert sees.
    for (const topic of options.config.topics) options.metrics.offsetResets.inc({ topic }, 0);
    options.pipeline.onRoom(() => this.#resumeAll());
  }

  /** Starts consuming in the background (once; not after {@linkcode stopFetching}). */
  start(): void {
    if (this.#stopping || this.#supervising) return;
    this.#lagTimer = setInterval(() => this.#updateLag(), 1000);
    this.#supervising = this.#supervise();
  }

  /** Commits through the consumer of the moment; fails while none is a member of the group. */
  commitOffsets(offsets: CommitRequest[]): Promise<void> {
    if (!this.#consumer || !this.#member) {
      return Promise.reject(new Error("the consumer is not a member of its group (rejoining)"));
    }
    return this.#consumer.commitOffsets(offsets);
  }

  /**
   * For shutdown: no more taking of records (batches being handed over stop at once, and no paused
   * partition resumes), no more rebuilding, no more waiting for a rebuild; the consumer stays in
   * the group so that what is acknowledged can still be committed.
   */
  stopFetching(): void {
    this.#stopping = true;
    this.#endWait();
    try {
      this.#consumer?.pause(this.#options.config.topics.map((topic) => ({ topic })));
    } catch {
      // Not running (never joined, or stopped): nothing is being fetched.
    }
  }

  /** Leaves the group and disconnects; whatever state the consumer is in. */
  async stop(): Promise<void> {
    this.stopFetching();
    clearInterval(this.#lagTimer);
    const consumer = this.#consumer;
    this.#member = false;
    await consumer?.disconnect();
  }

  async #supervise(): Promise<void> {
    const { config, health, log } = this.#options;
    for (let attempt = 0; !this.#stopping;) {
      const consumer = this.#build();
      let joined = false;
      consumer.on(consumer.events.GROUP_JOIN, () => joined = true);
      const cause = await this.#runUntilStopped(consumer);
      if (this.#stopping) return;
      this.#leftGroup();
      await consumer.disconnect().catch(() => {});
      const conflict = await this.#conflictOf(cause);
      const problem = reportKafkaFailure(health, cause, config, conflict);
      if (joined) attempt = 0;
      const delay = backoffDelay(attempt++, this.#options.backoff ?? REBUILD_BACKOFF);
      log.warn("Kafka consumer stopped; building a new one", {
        cause: problem,
        error: (cause as Error)?.message,
        retry_in_ms: delay,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#endWait = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The error that stopped `consumer` for good, or undefined once shutdown began. */
  async #runUntilStopped(consumer: GroupConsumer): Promise<unknown> {
    const { config } = this.#options;
    const stopped = new Promise<unknown>((resolve) => this.#endWait = resolve);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart && consumer === this.#consumer) this.#endWait(payload.error);
    });
    try {
      await consumer.connect();
      if (this.#stopping) return undefined;
      await consumer.subscribe({ topics: config.topics, fromBeginning: config.fromBeginning });
      if (this.#stopping) return undefined;
      await this.#run(consumer);
    } catch (error) {
      return error;
    }
    return await stopped;
  }

  /** What the group says about its members, when it refused the bridge's protocols. */
  async #conflictOf(cause: unknown): Promise<GroupProtocolConflict | undefined> {
    if (!isGroupProtocolConflict(cause)) return undefined;
    return await this.#options.admin.describeGroup().catch(() => undefined);
  }

  /** A new consumer with the bridge's event handlers; events of an older one are ignored. */
  #build(): GroupConsumer {
    const { config, pipeline, log, metrics, health } = this.#options;
    const consumer = this.#options.newConsumer();
    this.#consumer = consumer;
    this.#member = false;
    this.#paused.clear();
    metrics.paused.set(0);
    const current = () => consumer === this.#consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (!current()) return;
      this.#member = true;
      pipeline.newGeneration();
      this.#resumeAll();
      this.#highWatermarks.clear();
      this.#committedAtJoin.clear();
      metrics.lag.reset();
      metrics.committed.reset();
      this.#seedPartitionGauges(payload.memberAssignment);
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
      if (!current()) return;
      log.info("group is rebalancing: committing what is acknowledged", { group: config.groupId });
      pipeline.commitAcknowledged();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!current()) return;
      this.#leftGroup();
      if (!payload.restart) return;
      const problem = reportKafkaFailure(health, payload.error, config);
      log.warn("Kafka consumer stopped; kafkajs restarts it", { cause: problem, error: payload.error.message });
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      if (!current()) return;
      this.#leftGroup();
    });
    return consumer;
  }

  /** The consumer of the moment is no longer a member of its group: readiness and `kafka_up` say so. */
  #leftGroup(): void {
    this.#member = false;
    this.#options.health.set("kafka", false);
    this.#options.metrics.kafkaUp.set(0);
  }

  #run(consumer: GroupConsumer): Promise<void> {
    const { pipeline, log, metrics } = this.#options;
    return consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }) => {
        // During shutdown nothing more is taken: what is taken drains, the rest is read again.
        const taking = () => isRunning() && !isStale() && !this.#stopping;
        if (!taking()) return;
        const { topic, partition, messages } = batch;
        partitionsOf(this.#highWatermarks, topic, noOffsets).set(partition, Number(batch.highWatermark));
        let taken = pipeline.ingest(topic, partition, messages);
        while (taken < messages.length && taking() && await pipeline.whenRoom(ROOM_WAIT_MS) && taking()) {
          taken += pipeline.ingest(topic, partition, messages.slice(taken));
          await heartbeat();
        }
        if (taken > 0) resolveOffset(messages[taken - 1].offset);
        if (taken < messages.length && !this.#stopping) {
          // Still full (Elasticsearch slow or down): stop fetching this partition; the rest is
          // fetched again from the resolved offset once there is room.
          pause();
          if (this.#paused.size === 0) {
            log.debug("buffer full: pausing fetch until Elasticsearch catches up", { held: pipeline.held });
          }
          partitionsOf(this.#paused, topic, () => new Set<number>()).add(partition);
          metrics.paused.set(1);
          if (pipeline.hasRoom) this.#resumeAll();
        }
        await heartbeat();
      },
    });
  }

  #resumeAll(): void {
    // During shutdown every topic stays paused: resuming one partition would fetch it again.
    if (this.#paused.size === 0 || this.#stopping) return;
    const partitions = [...this.#paused].map(([topic, numbers]) => ({ topic, partitions: [...numbers] }));
    this.#options.log.debug("buffer has room again: resuming fetch", {
      partitions: partitions.map(({ topic, partitions }) => `${topic}:${partitions.join(",")}`).join(" "),
    });
    this.#paused.clear();
    this.#options.metrics.paused.set(0);
    try {
      this.#consumer?.resume(partitions);
    } catch {
      // The consumer stopped meanwhile; its successor fetches from the committed offsets.
    }
  }

  #updateLag(): void {
    const { pipeline, metrics } = this.#options;
    for (const [topic, partitions] of this.#highWatermarks) {
      for (const [partition, highWatermark] of partitions) {
        const committed = pipeline.committedOffset(topic, partition) ??
          this.#committedAtJoin.get(topic)?.get(partition);
        if (committed !== undefined) {
          metrics.lag.set({ topic, partition: String(partition) }, Math.max(0, highWatermark - committed));
        }
      }
    }
  }

  /**
   * Reads the assigned partitions' end offsets and the group's committed offsets once after a
   * join, so the lag and committed-offset gauges cover every assigned partition, also those with
   * nothing new to fetch (the bridge only learns about a partition from its fetches otherwise).
   * Observability only: a failure is logged and the gauges fill in as records arrive.
   */
  async #seedPartitionGauges(assignment: Record<string, number[]>): Promise<void> {
    const { admin, pipeline, metrics, log } = this.#options;
    const topics = Object.keys(assignment).filter((topic) => assignment[topic].length > 0);
    if (topics.length === 0) return;
    try {
      const { ends, committed } = await admin.partitionOffsets(topics);
      topics.forEach((topic, i) => {
        const known = partitionsOf(this.#highWatermarks, topic, noOffsets);
        const committedOfTopic = committed.find((candidate) => candidate.topic === topic)?.partitions ?? [];
        for (const partition of assignment[topic]) {
          const end = ends[i].find((candidate) => candidate.partition === partition);
          if (end && !known.has(partition)) known.set(partition, Number(end.high));
          const offset = Number(committedOfTopic.find((candidate) => candidate.partition === partition)?.offset);
          // A commit of this generation that landed while we asked is newer than what we got.
          if (offset >= 0 && pipeline.committedOffset(topic, partition) === undefined) {
            partitionsOf(this.#committedAtJoin, topic, noOffsets).set(partition, offset);
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
}
