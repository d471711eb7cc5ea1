/**
 * The consumer: feeds the {@linkcode Pipeline} batch-wise with auto-commit off (offsets are
 * committed by the pipeline, only past acknowledged records), pauses partitions when the buffer
 * is full, and keeps the lag gauges. kafkajs restarts its consumer after a retriable error only;
 * after any other stop (a non-retriable error, a join the group refused, an exception of ours)
 * {@linkcode KafkaSource} builds a new one with backoff, so the consumer never dies while the
 * process lives, and names the cause on the log and `/readyz`.
 */
import type { Admin, Batch, Consumer, Kafka } from "kafkajs";
import type { KafkaConfig } from "../config/mod.ts";
import type { Health } from "../runtime/health.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { CommitRequest, Pipeline } from "../delivery/pipeline.ts";
import { partitionKey, type RunStart } from "../delivery/acknowledgement.ts";
import { backoffDelay, type BackoffPolicy } from "../runtime/retry.ts";
import { partitionAssigner } from "./assigners.ts";
import {
  causes,
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

/**
 * How many times a batch waits `ROOM_WAIT_MS` for its generation's start (the group's commit, read
 * after the join) before it is handed back unread, to be fetched again.
 */
const START_WAITS = 5;

/** Between rebuilds of a stopped consumer; back to the start after each successful join. */
const REBUILD_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 15_000 };

/** Between reads of the group's commit after a join, while they fail. */
const START_READ_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 5000 };

/** What the bridge uses of a kafkajs consumer: the seam the unit tests fake. */
export type GroupConsumer = Pick<
  Consumer,
  "connect" | "subscribe" | "run" | "pause" | "resume" | "seek" | "commitOffsets" | "disconnect" | "on" | "events"
>;

/** What the consumer uses of the pipeline. */
export type ConsumerPipeline = Pick<
  Pipeline,
  | "admit"
  | "ingest"
  | "settle"
  | "passedOver"
  | "generation"
  | "startRuns"
  | "whenStarted"
  | "commitsSettled"
  | "spanFull"
  | "heldPartitions"
  | "position"
  | "whenRoom"
  | "hasRoom"
  | "held"
  | "onRoom"
  | "newGeneration"
  | "commitAcknowledged"
  | "committedOffset"
>;

/** One partition's offsets as Kafka's brokers report them. */
export interface PartitionEnds {
  partition: number;
  /** The offset after the last message (the high watermark). */
  high: string;
  /** The first offset Kafka still holds. */
  low: string;
}

/** The admin reads of the consumer: offsets for the starts and the gauges, and who is in the group. */
export interface GroupAdmin {
  partitionOffsets(topics: string[]): Promise<{
    ends: PartitionEnds[][];
    committed: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>;
  }>;
  describeGroup(): Promise<GroupProtocolConflict>;
  /**
   * Lets its connections go: at shutdown, or so that the next read learns the topics' partitions
   * anew (kafkajs' admin keeps them up to 5 minutes, so it misses partitions just added).
   */
  close?(): Promise<void>;
}

/**
 * {@linkcode GroupAdmin} on one kafkajs admin client kept for the bridge's life: it learns the
 * cluster's brokers at its first connection, so a bootstrap broker that is down later (the cause
 * of many rejoins) never keeps a new generation from reading the group's commit.
 */
export function kafkaGroupAdmin(kafka: Kafka, groupId: string): GroupAdmin {
  let connected: Promise<Admin> | undefined;
  const admin = () =>
    connected ??= (async () => {
      const client = kafka.admin();
      try {
        await client.connect();
        return client;
      } catch (error) {
        connected = undefined;
        throw error;
      }
    })();
  return {
    partitionOffsets: async (topics) => {
      const client = await admin();
      return {
        ends: await Promise.all(topics.map((topic) => client.fetchTopicOffsets(topic))),
        committed: await client.fetchOffsets({ groupId, topics }),
      };
    },
    describeGroup: () =>
      withAdmin(kafka, async (admin) => {
        const { groups: [group] } = await admin.describeGroups([groupId]);
        return {
          protocol: group?.protocol || undefined,
          clients: group?.members.map(({ clientId }) => clientId) ?? [],
        };
      }),
    close: async () => {
      const client = await connected?.catch(() => undefined);
      connected = undefined;
      await client?.disconnect().catch(() => {});
    },
  };
}

/**
 * The assigned partitions whose ends an admin answer lacks: a partition added to a topic after the
 * admin learned it. Started without its ends, it would start at 0, and its commit (another member
 * may have made one) would go back.
 */
function unknownPartitions(topics: string[], assignment: Record<string, number[]>, ends: PartitionEnds[][]): string[] {
  return topics.flatMap((topic, i) =>
    assignment[topic]
      .filter((partition) => !ends[i]?.some((end) => end.partition === partition))
      .map((partition) => partitionName(topic, partition))
  );
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

/** How long kafkajs lets the group's members join again (its consumers' `rebalanceTimeout`, left at its default). */
const KAFKAJS_REBALANCE_TIMEOUT_MS = 60_000;

/** How partitions that are assigned but not fetched are seen and healed. */
export interface StallPolicy {
  /** A partition with records to read, not paused by the bridge, unfetched this long, is stalled. */
  afterMs: number;
  /** How often the brokers are asked for the assigned partitions' end offsets. */
  endsEveryMs: number;
  /** A consumer is rebuilt to heal a stall at most this often (a rebuild makes the group rebalance). */
  rebuildEveryMs: number;
}

/** Production's: a minute unfetched, end offsets every 15 s, a rebuild at most every 10 minutes. */
export const STALL_POLICY: StallPolicy = { afterMs: 60_000, endsEveryMs: 15_000, rebuildEveryMs: 600_000 };

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
  stall?: StallPolicy;
  /**
   * Where the group's reading of each partition is remembered beyond Kafka's own commits
   * (`ReadingMarks`): whether it read a partition before, once the group has no commit for it.
   * None yet (Elasticsearch not connected) or none at all: a partition without a commit and no
   * other sign of the group having read it is taken for a new group's.
   */
  readingMarks?: () => { firstReading(topic: string, partition: number): Promise<boolean> } | undefined;
  /** Between the checks of held and stalled partitions and the lag gauges' updates (1 s). */
  tickMs?: number;
  now?: () => number;
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
const noPartitions = () => new Set<number>();

/**
 * The offset kafkajs fetched a batch from: where its messages should begin, and what tells a batch
 * that continues its partition's reading from one fetched before a rejoin. kafkajs 2.2.4's `Batch`
 * keeps it (`consumer/batch.js`), though its type declarations leave it out.
 */
function fetchedOffsetOf(batch: Batch): string {
  return (batch as Batch & { fetchedOffset: string }).fetchedOffset;
}

/** `t:3` */
const partitionName = (topic: string, partition: number) => `${topic}:${partition}`;

/**
 * The source of records: one kafkajs consumer at a time, rebuilt with backoff whenever one stops
 * for good, until {@linkcode KafkaSource.stop}. Commits go through the consumer of the moment,
 * once it has joined its group.
 */
export class KafkaSource {
  readonly #options: KafkaSourceOptions;
  readonly #stall: StallPolicy;
  readonly #now: () => number;
  #consumer: GroupConsumer | undefined;
  /** Whether the consumer of the moment is a member of its group (joined, not crashed). */
  #member = false;
  #stopping = false;
  #supervising: Promise<void> | undefined;
  /** Ends the wait on the consumer of the moment (it stopped for good, or shutdown began). */
  #endWait: (cause?: unknown) => void = () => {};
  #tick: ReturnType<typeof setInterval> | undefined;
  /** When kafkajs began to join its group again (`REBALANCING`), until it has joined. */
  #joiningSince: number | undefined;
  /** Since when every commit went to a broker that said it does not coordinate the group. */
  #commitsMisdirectedSince: number | undefined;
  readonly #highWatermarks: OffsetsByTopic = new Map();
  /** The group's committed offsets at the last join, for partitions the bridge has not committed on since. */
  readonly #committedAtJoin: OffsetsByTopic = new Map();
  /** Partitions paused because the buffer is full: resumed once it has room. */
  readonly #pausedForRoom = new Map<string, Set<number>>();
  /** Partitions paused because one record holds their commit: resumed once it moves. */
  readonly #pausedHeld = new Map<string, Set<number>>();
  /** The assignment of the last join. */
  #assignment: Array<{ topic: string; partition: number }> = [];
  /**
   * When each assigned partition was last handed over by kafkajs (or assigned, paused, resumed),
   * and the time the bridge had kept kafkajs' one worker waiting until then.
   */
  readonly #lastFetched = new Map<string, { at: number; waited: number }>();
  /** Time the bridge's `eachBatch` kept kafkajs' only worker waiting (for room, for a start). */
  #waited = 0;
  #waitingSince: number | undefined;
  /** Since when, and why, the new generation's start could not be read. */
  #startFailing: { since: number; error: string } | undefined;
  /**
   * Partitions this process saw a commit of the group for (its own, or one read at a join): one
   * without a commit later lost the group's.
   */
  readonly #knownCommitted = new Set<string>();
  /** Per partition, this process' marking of its reading (`readingMarks`), once each. */
  readonly #marking = new Map<string, Promise<boolean | undefined>>();
  /** The error marking fails with, said once. */
  #marksFailing: string | undefined;
  /** Stalled partitions, and when each was first healed by a seek. */
  readonly #stalled = new Map<string, number | undefined>();
  #lastRebuild = -Infinity;
  #lastEnds = -Infinity;

  constructor(options: KafkaSourceOptions) {
    this.#options = options;
    this.#stall = options.stall ?? STALL_POLICY;
    this.#now = options.now ?? Date.now;
    // At zero from the start, so that the first move of a topic is an increase an alert sees.
    for (const topic of options.config.topics) {
      for (const reason of ["deleted_unread", "log_went_back", "commit_missing_skipped", "commit_missing_reread"]) {
        options.metrics.offsetResets.inc({ topic, reason }, 0);
      }
    }
    for (const reason of ["stale_generation", "not_assigned", "not_contiguous"]) {
      options.metrics.batchesRefused.inc({ reason }, 0);
    }
    for (const action of ["seek", "rebuild", "rejoin"]) options.metrics.fetchHeals.inc({ action }, 0);
    options.pipeline.onRoom(() => this.#resume(this.#pausedForRoom));
  }

  /** Starts consuming in the background (once; not after {@linkcode stopFetching}). */
  start(): void {
    if (this.#stopping || this.#supervising) return;
    this.#tick = setInterval(() => this.#everyTick(), this.#options.tickMs ?? 1000);
    this.#supervising = this.#supervise();
  }

  /**
   * Commits through the consumer of the moment; fails while none is a member of the group, and
   * when kafkajs resolved without committing (its runner had stopped: it says nothing then).
   */
  async commitOffsets(offsets: CommitRequest[]): Promise<void> {
    const consumer = this.#consumer;
    if (!consumer || !this.#member) throw new Error("the consumer is not a member of its group (rejoining)");
    // kafkajs retries a refused commit for about a minute before it throws: the refusals began
    // when the commit did. One that ends after a join, or after kafkajs' consumer crashed (it
    // restarts and joins by itself), says nothing of the member of the moment.
    const startedAt = this.#now();
    const generation = this.#options.pipeline.generation;
    const sameMember = () =>
      consumer === this.#consumer && this.#member && generation === this.#options.pipeline.generation;
    let made = false;
    const stopListening = consumer.on(consumer.events.COMMIT_OFFSETS, () => made = true);
    try {
      await consumer.commitOffsets(offsets);
    } catch (error) {
      if (sameMember() && causes(error).some(({ type }) => type === "NOT_COORDINATOR_FOR_GROUP")) {
        this.#commitsMisdirectedSince ??= startedAt;
      }
      throw error;
    } finally {
      stopListening();
    }
    if (made && sameMember()) this.#commitsMisdirectedSince = undefined;
    if (!made) throw new Error("kafkajs did not commit: its consumer was not running (rejoining or stopping)");
    for (const { topic, partition } of offsets) this.#knownCommitted.add(partitionName(topic, partition));
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
    clearInterval(this.#tick);
    const consumer = this.#consumer;
    this.#member = false;
    await consumer?.disconnect();
    await this.#options.admin.close?.();
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
      // A join it had begun ends with it: the watchdog must not cut the backoff short.
      this.#forgetJoinWatch();
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
    this.#forgetJoinWatch();
    this.#pausedForRoom.clear();
    this.#pausedHeld.clear();
    metrics.paused.set(0);
    const current = () => consumer === this.#consumer;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      if (!current()) return;
      this.#member = true;
      this.#forgetJoinWatch();
      pipeline.newGeneration();
      this.#resume(this.#pausedForRoom);
      this.#resume(this.#pausedHeld);
      this.#highWatermarks.clear();
      this.#committedAtJoin.clear();
      this.#stalled.clear();
      metrics.lag.reset();
      metrics.committed.reset();
      const assignment: Record<string, number[]> = payload.memberAssignment;
      this.#assignment = Object.entries(assignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition }))
      );
      this.#lastFetched.clear();
      this.#startFailing = undefined;
      for (const { topic, partition } of this.#assignment) this.#touched(topic, partition);
      health.set("kafka", true);
      reportKafkaReached(health);
      metrics.kafkaUp.set(1);
      log.info("joined consumer group", {
        group: config.groupId,
        member: payload.memberId,
        assignment: payload.memberAssignment,
      });
      this.#startGeneration(consumer, pipeline.generation, assignment);
    });
    consumer.on(consumer.events.REBALANCING, () => {
      if (!current()) return;
      this.#joiningSince ??= this.#now();
      log.info("group is rebalancing: committing what is acknowledged", { group: config.groupId });
      pipeline.commitAcknowledged();
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      // A batch kafkajs resolved without handing it over: nothing in it was for the bridge.
      if (!current() || payload.batchSize !== 0) return;
      this.#touched(payload.topic, payload.partition);
      pipeline.passedOver(payload.topic, payload.partition, payload.firstOffset, payload.lastOffset);
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

  /**
   * The consumer of the moment is no longer a member of its group: readiness and `kafka_up` say so,
   * and its refused commits no longer count towards a new consumer (kafkajs, restarting, joins).
   */
  #leftGroup(): void {
    this.#member = false;
    this.#commitsMisdirectedSince = undefined;
    this.#options.health.set("kafka", false);
    this.#options.metrics.kafkaUp.set(0);
  }

  /**
   * A new generation's reading of each assigned partition starts at the group's commit, read now
   * (after any commit of the old generation still under way): batches kafkajs hands over meanwhile
   * wait, and one fetched from elsewhere (before the join, say) is read again from the commit.
   * A partition the group has no commit for starts where `KAFKA_AUTO_OFFSET_RESET` puts it, which
   * is said, and counted when the group had committed on it before. Also fills the lag and
   * committed-offset gauges of every assigned partition, also those with nothing new to fetch.
   */
  async #startGeneration(consumer: GroupConsumer, generation: number, assignment: Record<string, number[]>) {
    const { admin, pipeline, log } = this.#options;
    const topics = Object.keys(assignment).filter((topic) => assignment[topic].length > 0);
    if (topics.length === 0) return;
    await pipeline.commitsSettled();
    const ours = () => consumer === this.#consumer && generation === pipeline.generation && !this.#stopping;
    for (let attempt = 0; ours(); attempt++) {
      try {
        const { ends, committed } = await admin.partitionOffsets(topics);
        if (!ours()) return;
        const unknown = unknownPartitions(topics, assignment, ends);
        if (unknown.length > 0) {
          await admin.close?.();
          throw new Error(`Kafka's admin does not know partitions ${unknown.join(", ")} yet (added to the topic)`);
        }
        pipeline.startRuns(generation, this.#startsOf(topics, assignment, ends, committed));
        this.#startFailing = undefined;
        return;
      } catch (error) {
        if (!ours()) return;
        this.#startFailing ??= { since: this.#now(), error: (error as Error).message };
        const delay = backoffDelay(attempt, START_READ_BACKOFF);
        log.log(attempt === 0 ? "warn" : "debug", "cannot read the group's committed offsets; fetched batches wait", {
          error: (error as Error).message,
          retry_in_ms: delay,
        });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Where each assigned partition's reading starts, from the group's commits and the partitions' ends. */
  #startsOf(
    topics: string[],
    assignment: Record<string, number[]>,
    ends: PartitionEnds[][],
    committed: Awaited<ReturnType<GroupAdmin["partitionOffsets"]>>["committed"],
  ): Map<string, RunStart> {
    const { config, metrics } = this.#options;
    const starts = new Map<string, RunStart>();
    topics.forEach((topic, i) => {
      const commits = committed.find((candidate) => candidate.topic === topic)?.partitions ?? [];
      const topicCommitted = commits.some(({ offset }) => Number(offset) >= 0);
      const known = partitionsOf(this.#highWatermarks, topic, noOffsets);
      for (const partition of assignment[topic]) {
        const end = ends[i]?.find((candidate) => candidate.partition === partition);
        if (end && !known.has(partition)) known.set(partition, Number(end.high));
        const offset = Number(commits.find((candidate) => candidate.partition === partition)?.offset ?? -1);
        const key = partitionKey(topic, partition);
        if (offset >= 0) {
          partitionsOf(this.#committedAtJoin, topic, noOffsets).set(partition, offset);
          metrics.committed.set({ topic, partition: String(partition) }, offset);
          starts.set(key, { offset });
          this.#knownCommitted.add(partitionName(topic, partition));
          this.#markReading(topic, partition);
          continue;
        }
        const reset = config.fromBeginning ? Number(end?.low ?? 0) : Number(end?.high ?? 0);
        starts.set(key, { offset: reset, fromReset: true });
        this.#noCommit(topic, partition, reset, topicCommitted);
      }
    });
    return starts;
  }

  /**
   * An assigned partition the group has no commit for. In a group that had read it (this process
   * committed on it, or its reading mark says so) the commit was lost: said at WARN with the likely
   * causes and counted, for `latest` then skips records; in a new group, said once at INFO. The
   * topic's other commits decide only where the marks cannot: another copy of a new group commits
   * its start at once, before this one reads the commits.
   */
  #noCommit(topic: string, partition: number, startsAt: number, topicCommitted: boolean): void {
    const name = partitionName(topic, partition);
    const said = (read: boolean | undefined) => this.#sayNoCommit(topic, partition, startsAt, read);
    const marking = this.#markReading(topic, partition);
    if (this.#knownCommitted.has(name)) return said(true);
    marking.then((first) => said(first === undefined ? (topicCommitted || undefined) : !first));
  }

  /**
   * Marks that the group reads `topic`:`partition`, once a process: whether the group read it
   * before this process first did (`false` then), `undefined` when there is no one to ask (yet).
   * Every later call, also one made while the first is under way, gets the first one's answer: a
   * second `_create` would find this process' own mark.
   */
  #markReading(topic: string, partition: number): Promise<boolean | undefined> {
    const name = partitionName(topic, partition);
    const marks = this.#options.readingMarks?.();
    if (marks === undefined) return Promise.resolve(undefined);
    let marking = this.#marking.get(name);
    if (marking === undefined) {
      marking = this.#markOnce(marks, topic, partition);
      this.#marking.set(name, marking);
      marking.then((first) => first === undefined && this.#marking.delete(name));
    }
    return marking;
  }

  async #markOnce(
    marks: NonNullable<ReturnType<NonNullable<KafkaSourceOptions["readingMarks"]>>>,
    topic: string,
    partition: number,
  ): Promise<boolean | undefined> {
    try {
      return await marks.firstReading(topic, partition);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.#marksFailing) {
        this.#options.log.warn(
          "cannot mark the partitions the group reads in Elasticsearch: a group whose commits Kafka forgets " +
            "(expired while no copy ran) would be taken for a new one; tried again at the next join",
          { error: message },
        );
      }
      this.#marksFailing = message;
      return undefined;
    }
  }

  /**
   * An assigned partition the group has no commit for. In a group that had read it (`readBefore`:
   * it had committed on it or on the topic's other partitions, or its reading was marked) the
   * commit was lost: said at WARN with the likely causes and counted, for `latest` then skips
   * records; in a new group (or one nothing is known of), said once at INFO.
   */
  #sayNoCommit(topic: string, partition: number, startsAt: number, readBefore: boolean | undefined): void {
    const { config, metrics, log } = this.#options;
    const fields = { partition: partitionName(topic, partition), group: config.groupId, starts_at: startsAt };
    const policy = config.fromBeginning
      ? "KAFKA_AUTO_OFFSET_RESET=earliest reads it from the first offset Kafka holds (a record read before " +
        "overwrites only its own document; another record at an offset read before, of a topic made again, " +
        "goes beside the old one)"
      : "KAFKA_AUTO_OFFSET_RESET=latest starts at its end: the records before it are not read (--backfill indexes them)";
    if (!readBefore) {
      const unknown = readBefore === undefined ? " (or one whose earlier reading could not be checked)" : "";
      log.info(`no committed offset for a partition: a new group${unknown}; ${policy}`, fields);
      return;
    }
    metrics.offsetResets.inc({
      topic,
      reason: config.fromBeginning ? "commit_missing_reread" : "commit_missing_skipped",
    });
    log.warn(
      "the group has no committed offset for a partition it had read: its offsets expired " +
        "(offsets.retention.minutes passed with no member running), the topic was deleted and made again, " +
        `partitions were added, or someone deleted them; ${policy}`,
      fields,
    );
  }

  #run(consumer: GroupConsumer): Promise<void> {
    const { pipeline } = this.#options;
    return consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }) => {
        // During shutdown nothing more is taken: what is taken drains, the rest is read again.
        const taking = () => isRunning() && !isStale() && !this.#stopping;
        if (!taking()) return;
        const { topic, partition, messages } = batch;
        this.#touched(topic, partition);
        partitionsOf(this.#highWatermarks, topic, noOffsets).set(partition, Number(batch.highWatermark));
        const fetchedFrom = fetchedOffsetOf(batch);
        let admission = pipeline.admit(topic, partition, fetchedFrom);
        // A new generation takes nothing before its start is read: wait for it, heartbeating.
        for (let waits = 0; "refused" in admission && admission.refused === "start_unknown"; waits++) {
          if (waits === START_WAITS || !taking()) return;
          await this.#waiting(pipeline.whenStarted(ROOM_WAIT_MS));
          await heartbeat();
          admission = pipeline.admit(topic, partition, fetchedFrom);
        }
        if ("refused" in admission) {
          if (admission.seekTo !== undefined && taking()) this.#seek(consumer, topic, partition, admission.seekTo);
          return;
        }
        const { ticket } = admission;
        const open = () =>
          taking() && ticket.generation === pipeline.generation && !pipeline.spanFull(topic, partition);
        let taken = pipeline.ingest(ticket, messages);
        while (taken < messages.length && open() && await this.#waiting(pipeline.whenRoom(ROOM_WAIT_MS)) && open()) {
          taken += pipeline.ingest(ticket, messages.slice(taken));
          await heartbeat();
        }
        if (taken > 0) {
          const last = messages[taken - 1].offset;
          // kafkajs resolves a batch's last message as past its trailing markers; so does the run.
          if (pipeline.settle(ticket, taken === messages.length ? batch.lastOffset() : last)) resolveOffset(last);
        }
        if (taken < messages.length && !this.#stopping && ticket.generation === pipeline.generation) {
          // Still full (Elasticsearch slow or down), or one record holds the partition's commit:
          // stop fetching it; the rest is fetched again from the resolved offset later.
          pause();
          this.#paused(topic, partition, pipeline.spanFull(topic, partition));
        }
        await heartbeat();
      },
    });
  }

  /** Waits for `promise`, counting the time as kafkajs' worker kept waiting by the bridge. */
  async #waiting<T>(promise: Promise<T>): Promise<T> {
    this.#waitingSince = this.#now();
    try {
      return await promise;
    } finally {
      this.#waited += this.#now() - this.#waitingSince;
      this.#waitingSince = undefined;
    }
  }

  /** The time the bridge has kept kafkajs' worker waiting, up to now. */
  #waitedNow(): number {
    return this.#waited + (this.#waitingSince === undefined ? 0 : this.#now() - this.#waitingSince);
  }

  /** kafkajs handed `topic`:`partition` over, or the bridge paused or resumed it: it is not stalled now. */
  #touched(topic: string, partition: number): void {
    this.#lastFetched.set(partitionName(topic, partition), { at: this.#now(), waited: this.#waitedNow() });
  }

  /**
   * How long `name` has not been handed over, less the time the bridge kept kafkajs' one worker
   * waiting meanwhile: a partition queued behind the bridge's own batch is not stalled.
   */
  #unfetchedFor(name: string): number {
    const last = this.#lastFetched.get(name);
    return last === undefined ? 0 : (this.#now() - last.at) - (this.#waitedNow() - last.waited);
  }

  /** Reads `topic`:`partition` again from `offset`; nothing when the consumer stopped meanwhile. */
  #seek(consumer: GroupConsumer, topic: string, partition: number, offset: number): void {
    try {
      consumer.seek({ topic, partition, offset: String(offset) });
    } catch {
      // Not running: its successor reads from the group's commit.
    }
  }

  /** Records a partition the consumer paused: for room, or because its commit is held. */
  #paused(topic: string, partition: number, held: boolean): void {
    const { pipeline, log, metrics } = this.#options;
    this.#touched(topic, partition);
    if (held) {
      partitionsOf(this.#pausedHeld, topic, noPartitions).add(partition);
      this.#reportHeld();
      return;
    }
    if (this.#pausedForRoom.size === 0) {
      log.debug("buffer full: pausing fetch until Elasticsearch catches up", { held: pipeline.held });
    }
    partitionsOf(this.#pausedForRoom, topic, noPartitions).add(partition);
    metrics.paused.set(1);
    if (pipeline.hasRoom) this.#resume(this.#pausedForRoom);
  }

  /** Resumes the partitions of `paused` (never during shutdown: resuming one would fetch it again). */
  #resume(paused: Map<string, Set<number>>, only?: (topic: string, partition: number) => boolean): void {
    if (paused.size === 0 || this.#stopping) return;
    const partitions: Array<{ topic: string; partitions: number[] }> = [];
    for (const [topic, numbers] of paused) {
      const resumed = [...numbers].filter((partition) => only?.(topic, partition) ?? true);
      for (const partition of resumed) {
        numbers.delete(partition);
        this.#touched(topic, partition);
      }
      if (numbers.size === 0) paused.delete(topic);
      if (resumed.length > 0) partitions.push({ topic, partitions: resumed });
    }
    if (partitions.length === 0) return;
    this.#options.log.debug("resuming fetch", {
      partitions: partitions.map(({ topic, partitions }) => `${topic}:${partitions.join(",")}`).join(" "),
    });
    if (paused === this.#pausedForRoom && paused.size === 0) this.#options.metrics.paused.set(0);
    try {
      this.#consumer?.resume(partitions);
    } catch {
      // The consumer stopped meanwhile; its successor fetches from the committed offsets.
    }
  }

  #everyTick(): void {
    this.#updateLag();
    // Room comes back at half the bounds (onRoom); records held long (a dead letter Kafka refuses,
    // a closed day's) may keep the buffer above half for good, and a partition paused for room
    // must not wait for that: any room resumes it here, at most once a tick.
    if (this.#options.pipeline.hasRoom) this.#resume(this.#pausedForRoom);
    this.#resume(this.#pausedHeld, (topic, partition) => !this.#options.pipeline.spanFull(topic, partition));
    this.#reportHeld();
    if (this.#member && this.#now() - this.#lastEnds >= this.#stall.endsEveryMs) {
      this.#lastEnds = this.#now();
      this.#readEnds();
    }
    this.#checkFetching();
    this.#checkJoining();
  }

  /** The join and the consumer the watchdog watched are over (joined, stopped, or replaced). */
  #forgetJoinWatch(): void {
    this.#joiningSince = undefined;
    this.#commitsMisdirectedSince = undefined;
  }

  /**
   * kafkajs began to join its group again and has not joined for longer than a join can take
   * (its rebalance timeout, 60 s, and a session): kafkajs 2.2.4 drops a join that fails with an
   * error it does not retry (the coordinator still loading the group, after it moved), and goes on
   * fetching in the old generation, committing to a broker that no longer coordinates the group,
   * and saying nothing. Or, with no join under way, every commit of the member for as long went to
   * a broker that says it does not coordinate the group: kafkajs' offset manager keeps the
   * coordinator of its last join.
   * A new consumer finds the coordinator and joins.
   */
  #checkJoining(): void {
    const limit = KAFKAJS_REBALANCE_TIMEOUT_MS + this.#options.config.sessionTimeoutSeconds * 1000;
    const over = (since: number | undefined) => since !== undefined && this.#now() - since >= limit;
    const joinDropped = over(this.#joiningSince);
    // While kafkajs joins, only the join's own bound counts: a consumer disconnected in the middle
    // of a join that then completes goes on fetching for ever in kafkajs 2.2.4.
    const joining = this.#joiningSince !== undefined;
    if (this.#stopping || !joinDropped && (joining || !over(this.#commitsMisdirectedSince))) return;
    this.#forgetJoinWatch();
    this.#options.metrics.fetchHeals.inc({ action: "rejoin" });
    const seconds = Math.round(limit / 1000);
    this.#endWait(
      new Error(
        joinDropped
          ? `kafkajs has not joined its group ${seconds} s after it began to: building a new consumer`
          : `every commit for ${seconds} s went to a broker that does not coordinate the group: building a new consumer`,
      ),
    );
  }

  /**
   * Names on `/readyz` (`partition_commit`) and in `pmacct_bridge_kafka_partitions_held` the
   * partitions read no further because one record holds their commit, with the offset and why.
   */
  #reportHeld(): void {
    const { pipeline, health, metrics } = this.#options;
    const paused = [...this.#pausedHeld].flatMap(([topic, partitions]) =>
      [...partitions].map((partition) => ({ topic, partition }))
    );
    const held = pipeline.heldPartitions(paused);
    metrics.heldPartitions.set(held.length);
    if (held.length === 0) return health.pass("partition_commit");
    health.fail(
      "partition_commit",
      held.map(({ topic, partition, offset, why }) =>
        `${partitionName(topic, partition)} is read no further: offset ${offset} holds its commit (${why})`
      ).join("; "),
    );
  }

  /** Asks the brokers for the assigned partitions' end offsets: the lag gauges never wait for a fetch. */
  async #readEnds(): Promise<void> {
    const topics = [...new Set(this.#assignment.map(({ topic }) => topic))];
    if (topics.length === 0) return;
    const consumer = this.#consumer;
    try {
      const { ends } = await this.#options.admin.partitionOffsets(topics);
      if (consumer !== this.#consumer) return;
      topics.forEach((topic, i) => {
        const known = partitionsOf(this.#highWatermarks, topic, noOffsets);
        for (const { partition, high } of ends[i] ?? []) {
          if (this.#assignment.some((one) => one.topic === topic && one.partition === partition)) {
            known.set(partition, Math.max(known.get(partition) ?? 0, Number(high)));
          }
        }
      });
    } catch (error) {
      this.#options.log.debug("could not read the assigned partitions' end offsets", {
        error: (error as Error).message,
      });
    }
  }

  /**
   * A partition with records to read that kafkajs has not handed over for `afterMs`, though the
   * bridge did not pause it (kafkajs can keep a partition assigned and never fetch it): named on
   * `/readyz` (`partition_fetch`), counted in `pmacct_bridge_kafka_partitions_stalled`, and healed,
   * first by reading it again from the bridge's position, then by a new consumer.
   */
  #checkFetching(): void {
    const { pipeline, health, metrics, log } = this.#options;
    const now = this.#now();
    const problems: string[] = [];
    const starting = this.#startFailing;
    if (this.#member && starting !== undefined && now - starting.since >= this.#stall.afterMs) {
      problems.push(
        `the group's committed offsets cannot be read (${starting.error}) for ${
          Math.round((now - starting.since) / 1000)
        } s: no assigned partition is read until they are`,
      );
    }
    let stalled = 0;
    for (const { topic, partition } of this.#member ? this.#assignment : []) {
      const name = partitionName(topic, partition);
      const paused = this.#pausedForRoom.get(topic)?.has(partition) || this.#pausedHeld.get(topic)?.has(partition);
      // Not started (said above while it lasts), or moved by Kafka: kafkajs reads it from there.
      const position = pipeline.position(topic, partition);
      const high = this.#highWatermarks.get(topic)?.get(partition);
      const behind = high !== undefined && position !== undefined ? high - position : 0;
      const since = this.#unfetchedFor(name);
      if (paused || position === undefined || behind <= 0 || since < this.#stall.afterMs) {
        this.#stalled.delete(name);
        continue;
      }
      stalled++;
      problems.push(
        `${name} is assigned but not fetched (${behind} records from offset ${position}, for ${
          Math.round(since / 1000)
        } s); healing`,
      );
      const sought = this.#stalled.get(name);
      if (sought === undefined) {
        this.#stalled.set(name, now);
        metrics.fetchHeals.inc({ action: "seek" });
        log.warn("partition assigned but not fetched: reading it again from the bridge's position", {
          partition: name,
          offset: position,
        });
        this.#seek(this.#consumer!, topic, partition, position);
      } else if (now - sought >= 2 * this.#stall.afterMs && now - this.#lastRebuild >= this.#stall.rebuildEveryMs) {
        this.#lastRebuild = now;
        metrics.fetchHeals.inc({ action: "rebuild" });
        this.#endWait(new Error(`kafkajs does not fetch ${name} though it is assigned: building a new consumer`));
      }
    }
    metrics.stalledPartitions.set(stalled);
    if (problems.length === 0) health.pass("partition_fetch");
    else health.fail("partition_fetch", problems.join("; "));
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
}
