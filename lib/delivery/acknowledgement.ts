/**
 * Acknowledgement, the pipeline's first job: which messages were taken, which are finished
 * (every record indexed or dead-lettered), and committing each partition's safe offset to Kafka,
 * one commit at a time. A rebalance starts a new generation: acknowledgements of the old one no
 * longer count, since Kafka delivers those records again to the partition's new owner.
 *
 * @example
 * ```ts
 * const acks = new Acknowledgement({ commit, log, metrics });
 * const key = partitionKey("pmacct", 0);
 * acks.begin(key, 7, 1); // offset 7 holds one record
 * acks.acknowledge(key, "7", acks.generation); // indexed
 * await acks.commitReady(); // commits offset 8 for pmacct:0
 * ```
 */
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { OffsetTracker } from "./offsets.ts";

/** One partition's offset to commit: Kafka's next offset to read. */
export interface CommitRequest {
  topic: string;
  partition: number;
  offset: string;
}

/** A message as acknowledgement needs it: where it is in its partition. */
export interface TakenMessage {
  offset: string;
}

export interface AcknowledgementDeps {
  /** Commits offsets to Kafka; may throw (then the same offsets are retried later). */
  commit(offsets: CommitRequest[]): Promise<void>;
  log: Logger;
  metrics: Metrics;
}

/** `promise`, or nothing once `deadline` (epoch ms) has passed. */
async function untilDeadline(promise: Promise<void>, deadline: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise,
      new Promise((resolve) => timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The key of a partition in the offset tracker, shared by all its documents. */
export const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Offsets taken, finished and committed, per partition and generation. */
export class Acknowledgement {
  readonly #tracker = new OffsetTracker();
  #generation = 0;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  /** The error of the commits failing now, logged once. */
  #failing: string | undefined;

  constructor(private readonly deps: AcknowledgementDeps) {}

  /** The current generation: it changes at each rebalance. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * How many leading messages were taken before in this generation: kafkajs fetches a batch again
   * when `eachBatch` threw after ingesting. Their records are buffered or sent already, so they
   * count as taken and are neither decoded nor buffered again.
   */
  alreadyTaken(key: string, messages: readonly TakenMessage[]): number {
    let count = 0;
    while (count < messages.length && this.#tracker.begun(key, Number(messages[count].offset))) count++;
    if (count > 0) {
      this.deps.log.debug("messages delivered again in the same generation; already taken", {
        partition: key.replace("\u0000", ":"),
        from: messages[0].offset,
        messages: count,
      });
    }
    return count;
  }

  /**
   * Registers a message that finishes after `units` acknowledgements (its records and dead
   * letters); `false` if it was taken already in this generation.
   */
  begin(key: string, offset: string, units: number): boolean {
    return this.#tracker.begin(key, Number(offset), units);
  }

  /** One record of the message at `offset` is indexed or dead-lettered; ignored from an old generation. */
  acknowledge(key: string, offset: string, generation: number): void {
    if (generation !== this.#generation) return;
    this.#tracker.complete(key, Number(offset));
  }

  /** The offset after the last one taken of a partition in this generation, if any was. */
  nextToRead(key: string): number | undefined {
    return this.#tracker.nextAfterBegun(key);
  }

  /** The last offset committed for a partition in this generation. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.#tracker.committedOffset(partitionKey(topic, partition));
  }

  /** Starts a new generation (after a rebalance): every partition's state is forgotten. */
  newGeneration(): void {
    this.#generation++;
    for (const key of this.#tracker.keys()) this.#tracker.forget(key);
  }

  /** Messages taken whose records are not all indexed or dead-lettered yet. */
  unfinished(): number {
    return this.#tracker.inFlight();
  }

  /**
   * Commits every partition whose safe offset moved; one commit at a time, and once more after
   * it if more became safe meanwhile.
   */
  commitReady(): Promise<void> {
    if (this.#committing) {
      this.#commitAgain = true;
      return this.#committing;
    }
    const offsets = this.#committable();
    if (offsets.length === 0) return Promise.resolve();
    const generation = this.#generation;
    this.#committing = this.deps.commit(offsets).then(() => {
      if (this.#failing !== undefined) {
        this.deps.log.info("offset commits go through again", { was: this.#failing });
        this.#failing = undefined;
      }
      if (generation !== this.#generation) return;
      for (const { topic, partition, offset } of offsets) {
        this.#tracker.markCommitted(partitionKey(topic, partition), Number(offset));
        this.deps.metrics.committed.set({ topic, partition: String(partition) }, Number(offset));
      }
    }, (error) => {
      // Retried at every tick (4 a second) while, say, the consumer rejoins: said once per cause.
      const message = (error as Error).message;
      this.deps.log.log(message === this.#failing ? "debug" : "warn", "offset commit failed; will retry", {
        error: message,
      });
      this.#failing = message;
    }).finally(() => {
      this.#committing = undefined;
      if (this.#commitAgain) {
        this.#commitAgain = false;
        this.commitReady();
      }
    });
    return this.#committing;
  }

  /** Every partition's safe offset that is not committed yet. */
  #committable(): CommitRequest[] {
    const offsets: CommitRequest[] = [];
    for (const key of this.#tracker.keys()) {
      const next = this.#tracker.committable(key);
      if (next === undefined) continue;
      const [topic, partition] = key.split("\u0000");
      offsets.push({ topic, partition: Number(partition), offset: String(next) });
    }
    return offsets;
  }

  /**
   * Waits for a commit under way, then commits what is acknowledged now: the last step of a drain,
   * within `timeoutMs`. Says whether every safe offset is committed (`false`: a commit failed, say
   * while the consumer was rejoining, or is still unanswered, and those records will be read again).
   */
  async commitLast(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    if (this.#committing) await untilDeadline(this.#committing, deadline);
    await untilDeadline(this.commitReady(), deadline);
    while (this.#committing && Date.now() < deadline) await untilDeadline(this.#committing, deadline);
    return this.#committing === undefined && this.#committable().length === 0;
  }
}
