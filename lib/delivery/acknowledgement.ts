/**
 * Acknowledgement, the pipeline's first job: which messages were taken, which are finished
 * (every record indexed or dead-lettered), and committing each partition's safe offset to Kafka,
 * one commit at a time. Each partition is read in runs: a generation's run starts where the
 * group's commit is and takes only batches that continue it; records are acknowledged to the run
 * that took them. A rebalance starts a new generation, and with it new runs: acknowledgements of
 * the old ones no longer count, since Kafka delivers those records again to the partition's new
 * owner.
 *
 * @example
 * ```ts
 * const acks = new Acknowledgement({ commit, log, metrics });
 * const key = partitionKey("pmacct", 0);
 * acks.startRuns(acks.generation, new Map([[key, { offset: 7 }]])); // the group's commit: 7
 * const admission = acks.admit(key, 7, acks.generation); // { take: true, run: 1 }
 * acks.begin(key, "7", 1); // offset 7 holds one record
 * if (admission.take) acks.acknowledge(key, "7", admission.run); // indexed
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

/**
 * Why a fetched batch is not taken: it was fetched for an earlier generation (`stale_generation`),
 * the generation's reading of its partition has no start yet (`start_unknown`: the group's
 * commit is being read), its partition is not this member's in the generation (`not_assigned`:
 * fetched before a rebalance moved it), or it does not continue the partition's run
 * (`not_contiguous`).
 */
export type Refusal = "stale_generation" | "start_unknown" | "not_assigned" | "not_contiguous";

/**
 * Whether a fetched batch is taken, and by which run (what its records are acknowledged to); a
 * refused one is read again from `seekTo` when it is set.
 */
export type Admission = { take: true; run: number } | { take: false; reason: Refusal; seekTo?: number };

/**
 * Identical refusals (the same fetch position against the same run's end) after which the offsets
 * between count as holding nothing readable: kafkajs resolves a fetch that brought only compacted
 * gaps or transaction markers itself, so it arrives past them each time it is sent back.
 */
const GAP_PROOF = 3;

/**
 * One partition's reading in the current generation: one contiguous run of offsets, from where the
 * group's commit (or Kafka's move of the partition) put it.
 */
interface Run {
  /**
   * Which run this is, unique in the process: records are acknowledged to the run that took
   * them, so a run begun again (its log went back) ignores the acknowledgements of the one before.
   */
  id: number;
  /** The offset the partition's next batch must be fetched from. */
  next: number;
  /** Kafka moved the partition (the offset to read was gone): its next batch starts the run again. */
  moved: boolean;
  /**
   * The run's start, committed before anything of the run is: a run begun again after its log
   * went back, or one from a reset.
   */
  startToCommit?: number;
  /** The last refusal, and how many times in a row it was the same. */
  refusedNext: number;
  refusedFetch: number;
  refusals: number;
}

/**
 * Where a partition's reading starts in a generation: the group's commit, or where
 * `KAFKA_AUTO_OFFSET_RESET` puts a partition without one (`fromReset`), as the bridge read the
 * partition's ends. kafkajs resolves its own reset, which may differ (it read the ends at another
 * moment): a batch from there is refused and the partition read again from the run's start.
 */
export interface RunStart {
  offset: number;
  fromReset?: boolean;
}

let runs = 0;

/** A run from `next` on. */
const newRun = (next: number, moved = false): Run => ({
  id: ++runs,
  next,
  moved,
  refusedNext: -1,
  refusedFetch: -1,
  refusals: 0,
});

/** Offsets taken, finished and committed, per partition and generation. */
export class Acknowledgement {
  readonly #tracker = new OffsetTracker();
  readonly #runs = new Map<string, Run>();
  readonly #startWaiters = new Set<() => void>();
  #generation = 0;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  /** The error of the commits failing now, logged once. */
  #failing: string | undefined;
  /** Offsets taken in ended generations that no commit covered: read again by whoever owns them now. */
  #leftUncommitted = 0;
  /**
   * Per partition, the offsets the last generation left uncommitted when it ended, `[from, after)`:
   * a commit of that generation still under way then and landing after covers part of them.
   */
  #leftRanges = new Map<string, [number, number]>();
  /** Whether the generation's runs started: a partition with none then is not this member's. */
  #started = false;

  constructor(private readonly deps: AcknowledgementDeps) {}

  /** The current generation: it changes at each rebalance. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Where each partition's reading starts in `generation`: the group's commit read after the
   * join (or where Kafka's reset puts a partition without one). Ignored once another generation
   * began; a partition whose run began already keeps it.
   */
  startRuns(generation: number, starts: ReadonlyMap<string, RunStart>): void {
    if (generation !== this.#generation) return;
    for (const [key, { offset, fromReset }] of starts) {
      if (this.#runs.has(key)) continue;
      // A start without a commit is committed at once: a member that takes the partition over, or
      // this one restarted, goes on from it rather than from a reset again (for `latest`, past
      // the records that came meanwhile), and a group that read a partition always has a commit.
      this.#runs.set(key, Object.assign(newRun(offset), fromReset ? { startToCommit: offset } : {}));
    }
    this.#started = true;
    for (const wake of this.#startWaiters) wake();
    this.#startWaiters.clear();
    if ([...starts.values()].some(({ fromReset }) => fromReset)) this.commitReady();
  }

  /** Resolves once runs start (or after `timeoutMs`): a batch refused as `start_unknown` waits here. */
  whenStarted(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#startWaiters.delete(wake);
        resolve();
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#startWaiters.add(wake);
    });
  }

  /**
   * Whether a batch of `key` fetched from `fetchedOffset` is taken, handed over in `generation`.
   * Only a batch that continues the partition's run is: kafkajs may hand over a batch fetched
   * before a rejoin after it, or fetch again from an offset it resolved earlier; taking either
   * would let the commit pass records that were dropped, or count records twice. A refused batch
   * is read again from the run's end.
   */
  admit(key: string, fetchedOffset: number, generation: number): Admission {
    if (generation !== this.#generation) return { take: false, reason: "stale_generation" };
    const run = this.#runs.get(key);
    if (run === undefined) return { take: false, reason: this.#started ? "not_assigned" : "start_unknown" };
    if (run.moved && fetchedOffset <= (this.#tracker.nextAfterBegun(key) ?? -1) - 1) {
      // The log went back (made again, or cut by an unclean leader election): a new run reads
      // the offsets again, from the first one the old run had not finished if that is earlier
      // (the same records there, which nothing else would read again); the records there now
      // are indexed under ids of their own. It commits its start at once, so that no commit of
      // the old run stays ahead of it.
      const holding = this.#tracker.oldestUnfinished(key);
      const from = holding !== undefined && holding < fetchedOffset ? holding : fetchedOffset;
      this.#tracker.forget(key);
      Object.assign(run, newRun(from), { startToCommit: from });
      if (from !== fetchedOffset) return { take: false, reason: "not_contiguous", seekTo: from };
    } else if (run.moved) {
      run.moved = false;
      run.next = fetchedOffset;
    }
    if (fetchedOffset === run.next) {
      run.refusals = 0;
      return { take: true, run: run.id };
    }
    if (run.refusedNext === run.next && run.refusedFetch === fetchedOffset) run.refusals++;
    else Object.assign(run, { refusedNext: run.next, refusedFetch: fetchedOffset, refusals: 1 });
    if (run.refusals >= GAP_PROOF && fetchedOffset > run.next) {
      this.deps.log.info("offsets hold no message the bridge can read (compacted away, or transaction markers)", {
        partition: key.replace("\u0000", ":"),
        offsets: `${run.next}-${fetchedOffset - 1}`,
      });
      run.next = fetchedOffset;
      run.refusals = 0;
      return { take: true, run: run.id };
    }
    return { take: false, reason: "not_contiguous", seekTo: run.next };
  }

  /**
   * Kafka moved the partition because the offset it was to read is gone (`offsetOutOfRange`):
   * its next batch, wherever fetched, starts the run again. The move is logged by the caller.
   */
  moved(key: string): void {
    const run = this.#runs.get(key);
    if (run) run.moved = true;
    else this.#runs.set(key, newRun(-1, true));
  }

  /**
   * kafkajs resolved a batch of `key` itself because nothing in it was for the bridge (transaction
   * markers, aborted or compacted records): when it was read from the run's end, the run goes on
   * past it.
   */
  passedOver(key: string, firstOffset: number | undefined, lastOffset: number): void {
    const run = this.#runs.get(key);
    if (run && !run.moved && (firstOffset ?? lastOffset) === run.next) run.next = lastOffset + 1;
  }

  /**
   * Registers a message that finishes after `units` acknowledgements (its records and dead
   * letters), and moves the run past it; `false` if it was taken already in this generation.
   */
  begin(key: string, offset: string, units: number): boolean {
    const at = Number(offset);
    if (!this.#tracker.begin(key, at, units)) return false;
    const run = this.#runs.get(key);
    if (run && at >= run.next) run.next = at + 1;
    return true;
  }

  /**
   * A batch of the run `runId` was taken up to `resolvedOffset` (kafkajs' last resolved offset,
   * past trailing markers): the run goes on after it. `false` when the run ended meanwhile (a new
   * generation): the offset must not be resolved, for kafkajs would then fetch from there.
   */
  settle(key: string, resolvedOffset: number, runId: number): boolean {
    const run = this.#runs.get(key);
    if (run?.id !== runId) return false;
    if (resolvedOffset >= run.next) run.next = resolvedOffset + 1;
    return true;
  }

  /** One record of the message at `offset` is indexed or dead-lettered; ignored from a run that ended. */
  acknowledge(key: string, offset: string, runId: number): void {
    if (this.#runs.get(key)?.id !== runId) return;
    this.#tracker.complete(key, Number(offset));
  }

  /** The run reading `key` now, if one is. */
  runOf(key: string): number | undefined {
    return this.#runs.get(key)?.id;
  }

  /** The offset after the last one taken of a partition in this generation, if any was. */
  nextToRead(key: string): number | undefined {
    return this.#tracker.nextAfterBegun(key);
  }

  /** The offset `key`'s next batch is to be fetched from, once its run started. */
  position(key: string): number | undefined {
    const run = this.#runs.get(key);
    return run === undefined || run.moved ? undefined : run.next;
  }

  /** Messages of `key` tracked now, from the first unfinished one on (see {@linkcode OffsetTracker.span}). */
  span(key: string): number {
    return this.#tracker.span(key);
  }

  /** The offset whose records hold `key`'s commit, if one does. */
  holdingOffset(key: string): number | undefined {
    return this.#tracker.oldestUnfinished(key);
  }

  /** The last offset committed for a partition in this generation. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.#tracker.committedOffset(partitionKey(topic, partition));
  }

  /**
   * Starts a new generation (after a rebalance): every partition's state is forgotten, and the
   * offsets taken but not committed are counted as left to be read again.
   */
  newGeneration(): void {
    this.#generation++;
    this.#leftRanges.clear();
    for (const key of this.#tracker.keys()) {
      const after = this.#tracker.nextAfterBegun(key);
      const from = this.#tracker.committedOffset(key) ?? this.#tracker.firstBegun(key);
      if (after !== undefined && from !== undefined && after > from) {
        this.#leftUncommitted += after - from;
        this.#leftRanges.set(key, [from, after]);
      }
      this.#tracker.forget(key);
    }
    this.#runs.clear();
    this.#started = false;
  }

  /**
   * Offsets this process took in generations that ended before their commit covered them: another
   * member (or this one, later) reads them again. Shutdown reports them.
   */
  get leftUncommitted(): number {
    return this.#leftUncommitted;
  }

  /** Resolves once no commit is under way: a new generation's reads of the group's commit wait for it. */
  async idle(): Promise<void> {
    while (this.#committing) await this.#committing;
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
    const committedRuns = offsets.map(({ topic, partition }) => this.#runs.get(partitionKey(topic, partition))?.id);
    this.#committing = this.deps.commit(offsets).then(() => {
      if (this.#failing !== undefined) {
        this.deps.log.info("offset commits go through again", { was: this.#failing });
        this.#failing = undefined;
      }
      if (generation !== this.#generation) return this.#landedLate(offsets);
      for (const [i, { topic, partition, offset }] of offsets.entries()) {
        const key = partitionKey(topic, partition);
        // A run begun again meanwhile (its log went back) commits from its own offsets.
        const run = this.#runs.get(key);
        if (run === undefined || run.id !== committedRuns[i]) continue;
        run.startToCommit = undefined;
        this.#tracker.markCommitted(key, Number(offset));
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

  /**
   * A commit of the generation before the last landed after the generation ended: what it covers
   * was not left to be read again after all.
   */
  #landedLate(offsets: CommitRequest[]): void {
    for (const { topic, partition, offset } of offsets) {
      const key = partitionKey(topic, partition);
      const range = this.#leftRanges.get(key);
      if (range === undefined) continue;
      const covered = Math.min(Number(offset), range[1]) - range[0];
      if (covered <= 0) continue;
      this.#leftUncommitted -= covered;
      range[0] += covered;
    }
  }

  /** Every partition's safe offset that is not committed yet. */
  #committable(): CommitRequest[] {
    const offsets: CommitRequest[] = [];
    for (const key of new Set([...this.#tracker.keys(), ...this.#runs.keys()])) {
      const next = this.#tracker.committable(key) ?? this.#runs.get(key)?.startToCommit;
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
