/**
 * `--backfill PERIOD`, the part that talks to Kafka: which offsets to read, a consumer group of
 * its own seeded with them (the live group's offsets are never touched, and running bridges go
 * on beside it), the progress while the bridge's usual pipeline reads them, and the summary.
 * The plan itself is pure (`backfill_plan.ts`).
 */
import { type Admin, ConfigResourceTypes, type Kafka } from "kafkajs";
import { type Config, ConfigError } from "../config/mod.ts";
import { partitionKey } from "../delivery/acknowledgement.ts";
import type { Pipeline, ReadBounds } from "../delivery/pipeline.ts";
import { withAdmin } from "../kafka/client.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import {
  kafkaTimesOf,
  type PartitionOffsets,
  type PartitionRange,
  type Period,
  planRanges,
  progressText,
} from "./backfill_plan.ts";
import type { BackfillCommand } from "./command.ts";

/**
 * The settings of a backfill: the live group's id with `.backfill.<time>`, so that its reading
 * and commits never touch the live group's offsets (the group is deleted at the end), and
 * `earliest`, so that an offset Kafka deletes under it resumes at the next one held, never at
 * the end. `TIMESTAMP_SOURCE=ingest` files records under the moment they are read, so no period
 * can be rebuilt with it: a {@linkcode ConfigError}.
 */
export function backfillConfig(config: Config): Config {
  if (config.timestampSource === "ingest") {
    throw new ConfigError(
      "TIMESTAMP_SOURCE",
      "flow or kafka for --backfill (ingest files records under the time they are read)",
      "ingest",
    );
  }
  const groupId = `${config.kafka.groupId}.backfill.${Date.now().toString(36)}`;
  return { ...config, kafka: { ...config.kafka, groupId, fromBeginning: true } };
}

/** What a backfill reads, and where Kafka no longer holds the start of the period. */
export interface BackfillPlan {
  /** The group the backfill reads in (see {@linkcode backfillConfig}). */
  groupId: string;
  /** Each partition's offsets to read. */
  ranges: PartitionRange[];
  /** Per truncated partition, a sentence saying from when it can be rebuilt. */
  truncated: string[];
}

/**
 * The Kafka time of the first record held at `low`: the last instant whose offset lookup still
 * gives `low` (lookups give the first offset at or after an instant), found by halving.
 */
async function firstHeldTime(admin: Admin, topic: string, partition: number, low: number, fromMs: number) {
  const offsetAt = async (ms: number) =>
    Number(
      (await admin.fetchTopicOffsetsByTimestamp(topic, ms)).find((entry) => entry.partition === partition)?.offset,
    );
  let before = fromMs;
  let after = Date.now();
  if (await offsetAt(after) === low) return after;
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (await offsetAt(middle) === low) before = middle;
    else after = middle;
  }
  return before;
}

/** The topic's `retention.ms`, or `undefined` when it cannot be read. */
async function retentionMs(admin: Admin, topic: string): Promise<number | undefined> {
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["retention.ms"] }],
    });
    const value = Number(resources[0]?.configEntries.find((entry) => entry.configName === "retention.ms")?.configValue);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Asks Kafka for each partition's offsets around the period and plans what to read. */
export async function planBackfill(kafka: Kafka, config: Config, command: BackfillCommand): Promise<BackfillPlan> {
  const byKafkaTime = config.timestampSource === "kafka";
  const { fromMs, untilMs } = kafkaTimesOf(command.backfill, config.flowTimeWindow, command.marginMs, byKafkaTime);
  return await withAdmin(kafka, async (admin) => {
    const partitions: PartitionOffsets[] = [];
    for (const topic of config.kafka.topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const from = fromMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
      const until = untilMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, untilMs);
      for (const { partition, low, high } of ends.sort((a, b) => a.partition - b.partition)) {
        const at = (list: typeof from, fallback: string) =>
          Number(list?.find((entry) => entry.partition === partition)?.offset ?? fallback);
        partitions.push({
          topic,
          partition,
          low: Number(low),
          high: Number(high),
          fromOffset: at(from, low),
          untilOffset: at(until, high),
        });
      }
    }
    const ranges = planRanges(partitions, fromMs !== undefined);
    const truncated: string[] = [];
    for (const range of ranges) {
      const { topic, partition, truncatedAt } = range;
      if (truncatedAt === undefined) continue;
      const held = partitions.find((candidate) => candidate.topic === topic && candidate.partition === partition)!;
      if (held.low === held.high) {
        // An idle partition whose records retention deleted for age: older than the start bound,
        // so none of the period's.
        const kept = await retentionMs(admin, topic);
        if (fromMs !== undefined && kept !== undefined && kept > 0 && fromMs >= Date.now() - kept) {
          delete range.truncatedAt;
          continue;
        }
        truncated.push(`${topic}:${partition} holds no records (those before offset ${truncatedAt} were deleted)`);
        continue;
      }
      const since = new Date(await firstHeldTime(admin, topic, partition, truncatedAt, fromMs ?? 0)).toISOString();
      truncated.push(`${topic}:${partition} holds records only from ${since} (offset ${truncatedAt})`);
    }
    return { groupId: config.kafka.groupId, ranges, truncated };
  });
}

/** The pipeline's bounds for the plan: documents filed in the period, messages before each end offset. */
export function boundsOf(plan: BackfillPlan, period: Period): ReadBounds {
  return {
    period,
    endOffsets: new Map(plan.ranges.map(({ topic, partition, end }) => [partitionKey(topic, partition), end])),
  };
}

/** Commits each range's start offset into the backfill's own group, where its consumer then begins. */
export async function seedGroup(kafka: Kafka, plan: BackfillPlan): Promise<void> {
  await withAdmin(kafka, async (admin) => {
    for (const topic of new Set(plan.ranges.map((range) => range.topic))) {
      const partitions = plan.ranges.filter((range) => range.topic === topic)
        .map(({ partition, start }) => ({ partition, offset: String(start) }));
      await admin.setOffsets({ groupId: plan.groupId, topic, partitions });
    }
  });
}

/** Deletes the backfill's group once its consumer has left; a failure only leaves it to expire. */
export async function dropGroup(kafka: Kafka, plan: BackfillPlan, log: Logger): Promise<void> {
  try {
    await withAdmin(kafka, (admin) => admin.deleteGroups([plan.groupId]));
  } catch (error) {
    log.warn("could not delete the backfill's consumer group; Kafka expires it", {
      group: plan.groupId,
      error: (error as Error).message,
    });
  }
}

/** The total of a counter over its labels. */
async function total(counter: Metrics["indexed"]): Promise<number> {
  return (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/**
 * How far each range is committed. The pipeline forgets its commits at each rejoin of the group
 * (a new generation) while Kafka keeps them, so the furthest commit seen of each range counts:
 * a range read to its end before a rejoin stays done, with nothing new to commit after it.
 */
export class RangeProgress {
  readonly #reached = new Map<PartitionRange, number>();
  /** Ranges Kafka deleted to their end before they were all committed: over, and cut. */
  readonly #deleted = new Set<PartitionRange>();

  constructor(private readonly plan: BackfillPlan, private readonly pipeline: Pick<Pipeline, "committedOffset">) {}

  /**
   * Takes each partition's first offset Kafka still holds: a range not committed to its end that
   * Kafka deleted to its end has nothing left to read (and no message may come to commit past it).
   */
  held(lows: ReadonlyMap<string, number>): void {
    for (const range of this.plan.ranges) {
      const low = lows.get(`${range.topic}:${range.partition}`);
      if (low !== undefined && low >= range.end && (this.#reached.get(range) ?? range.start) < range.end) {
        this.#deleted.add(range);
      }
    }
  }

  /** The ranges {@linkcode held} found deleted before they were read. */
  deleted(): string[] {
    return [...this.#deleted].map(({ topic, partition, end }) => `${topic}:${partition} deleted up to offset ${end}`);
  }

  /** Offsets committed over every range, and whether every range is committed to its end. */
  read(): { done: number; finished: boolean } {
    let done = 0;
    let finished = true;
    for (const range of this.plan.ranges) {
      const committed = this.#deleted.has(range)
        ? range.end
        : this.pipeline.committedOffset(range.topic, range.partition) ?? range.start;
      const reached = Math.min(Math.max(committed, this.#reached.get(range) ?? range.start), range.end);
      this.#reached.set(range, reached);
      done += reached - range.start;
      if (reached < range.end) finished = false;
    }
    return { done, finished };
  }
}

/**
 * Resolves once every range is read, indexed or dead-lettered and committed, or `stopped()`
 * says to stop. Meanwhile it shows the progress: rewritten in place on a terminal, else a log
 * line every `logEveryMs`.
 */
export async function watchBackfill(
  plan: BackfillPlan,
  period: Period,
  { pipeline, metrics, log, lowOffsets }: {
    pipeline: Pick<Pipeline, "committedOffset">;
    metrics: Metrics;
    log: Logger;
    /** Each partition's first offset held (`topic:partition`), asked every `lowEveryMs`. */
    lowOffsets?: () => Promise<Map<string, number>>;
  },
  { terminal = Deno.stderr.isTerminal(), logEveryMs = 5000, lowEveryMs = 5000, stopped = (): boolean => false } = {},
): Promise<RangeProgress> {
  const totalOffsets = plan.ranges.reduce((sum, { start, end }) => sum + end - start, 0);
  const ranges = new RangeProgress(plan, pipeline);
  const started = Date.now();
  let lastLog = started;
  let lastLow = started;
  const encoder = new TextEncoder();
  for (;;) {
    if (lowOffsets && Date.now() - lastLow >= lowEveryMs) {
      lastLow = Date.now();
      ranges.held(await lowOffsets().catch(() => new Map()));
    }
    const { done, finished } = ranges.read();
    const now = Date.now();
    const seconds = (now - started) / 1000;
    const text = progressText(period, {
      totalOffsets,
      doneOffsets: done,
      indexed: await total(metrics.indexed),
      seconds,
    });
    if (terminal) Deno.stderr.writeSync(encoder.encode(`\r${text}\u001b[K`));
    else if (now - lastLog >= logEveryMs || finished) {
      log.info(text);
      lastLog = now;
    }
    if (finished || stopped()) break;
    await new Promise((resolve) => setTimeout(resolve, terminal ? 500 : 1000));
  }
  if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
  return ranges;
}

/** Each partition's first offset held, by `topic:partition`, for the plan's topics. */
function lowOffsetsOf(kafka: Kafka, plan: BackfillPlan): () => Promise<Map<string, number>> {
  const topics = [...new Set(plan.ranges.map((range) => range.topic))];
  return () =>
    withAdmin(kafka, async (admin) => {
      const lows = new Map<string, number>();
      for (const topic of topics) {
        for (const { partition, low } of await admin.fetchTopicOffsets(topic)) {
          lows.set(`${topic}:${partition}`, Number(low));
        }
      }
      return lows;
    });
}

/**
 * The ranges Kafka cut while the backfill read them: the first offset taken lies past the
 * planned start (the consumer resumed at the first offset still held).
 */
export function cutWhileRead(plan: BackfillPlan, pipeline: Pick<Pipeline, "firstOffset">): string[] {
  return plan.ranges.flatMap(({ topic, partition, start, end }) => {
    const first = pipeline.firstOffset(topic, partition);
    return first !== undefined && first > start && start < end
      ? [`${topic}:${partition} from offset ${first}, not ${start}`]
      : [];
  });
}

/** The closing line's counts. */
export async function backfillSummary(pipeline: Pipeline, metrics: Metrics): Promise<Record<string, number>> {
  const invalid = await total(metrics.decodeErrors);
  const buffered = await total(metrics.samples);
  return {
    records_read: buffered + invalid + pipeline.outOfPeriod,
    indexed: await total(metrics.indexed),
    dead_lettered: await total(metrics.deadLetters),
    out_of_period: pipeline.outOfPeriod,
  };
}

/** What a backfill drives: the bridge's parts, built as for normal running. */
export interface BackfillParts {
  kafka: Kafka;
  config: Config;
  pipeline: Pipeline;
  metrics: Metrics;
  log: Logger;
  /** The bridge's graceful shutdown; resolves to its exit status. */
  shutdown(): Promise<number>;
}

/** A prepared backfill: what finishes it, and what stops it early (a signal). Each gives the exit status. */
export interface BackfillRun {
  /** Waits until everything planned is committed, then shuts down, deletes the group and sums up. */
  finish(): Promise<number>;
  /** Shuts down at once, says how far it got, deletes the group; never 0. */
  interrupt(): Promise<number>;
}

/**
 * Plans the backfill, bounds the pipeline to it and seeds its group, before the source starts.
 * Gives exit status 1 instead when Kafka no longer holds the period's start, unless `--partial`.
 */
export async function prepareBackfill(
  command: BackfillCommand,
  parts: BackfillParts,
  /** Called with the run before its group exists, so that a signal from then on ends it (and deletes the group). */
  started: (run: BackfillRun) => void,
): Promise<BackfillRun | 1> {
  const { kafka, config, pipeline, metrics, log } = parts;
  const { backfill: period, partial } = command;
  const plan = await planBackfill(kafka, config, command);
  if (plan.truncated.length > 0) {
    const what = `Kafka no longer holds the start of ${period.text}: ${plan.truncated.join("; ")}`;
    if (!partial) {
      log.error(`${what}; run again with --partial to rebuild what is left`);
      return 1;
    }
    log.warn(`${what}; --partial: rebuilding what is left`);
  }
  const keepDays = config.elastic.retentionDays;
  if (keepDays !== undefined && period.endMs <= Date.now() - keepDays * 86_400_000) {
    log.warn("the period is older than ELASTIC_RETENTION: a running bridge's retention deletes its days again", {
      keep_days: keepDays,
    });
  }
  pipeline.bound(boundsOf(plan, period));
  let interrupted = false;
  let ending: Promise<number> | undefined;
  let progress: RangeProgress | undefined;
  // Once: a signal while the backfill is already ending waits for that end.
  const end = (outcome: string, status: number) => ending ??= endWith(outcome, status);
  const endWith = async (outcome: string, status: number) => {
    const shutdownStatus = await parts.shutdown();
    await dropGroup(kafka, plan, log);
    const summary = await backfillSummary(pipeline, metrics);
    const cut = [...cutWhileRead(plan, pipeline), ...progress?.deleted() ?? []];
    const failed = status !== 0 || shutdownStatus !== 0;
    const said = failed && status === 0
      ? `${outcome}, but its last records were not all indexed and committed`
      : outcome;
    if (cut.length > 0) {
      const what = `backfill of ${period.text} ${said}; Kafka deleted records of it while it read`;
      if (!partial) {
        log.error(`${what}: run it again with --partial to keep what is left`, { ...summary, cut: cut.join("; ") });
        return 1;
      }
      log.warn(`${what} (--partial)`, { ...summary, cut: cut.join("; ") });
    } else {
      log.log(failed ? "error" : "info", `backfill of ${period.text} ${said}`, summary);
    }
    return failed ? 1 : 0;
  };
  let seeding: Promise<void> = Promise.resolve();
  const run: BackfillRun = {
    finish: async () => {
      progress = await watchBackfill(plan, period, { pipeline, metrics, log, lowOffsets: lowOffsetsOf(kafka, plan) }, {
        stopped: () => interrupted,
      });
      // A signal came meanwhile: its own path ends the backfill and the process.
      if (interrupted) return await new Promise<never>(() => {});
      return await end("done", 0);
    },
    interrupt: async () => {
      interrupted = true;
      // The group is deleted once it exists, never before its seeding could make it again.
      await seeding.catch(() => {});
      return await end("interrupted: run it again to rebuild the whole period", 1);
    },
  };
  started(run);
  seeding = seedGroup(kafka, plan);
  await seeding;
  log.info("backfill: reading the period's offsets in a group of its own", {
    period: period.text,
    group: plan.groupId,
    offsets: plan.ranges.map(({ topic, partition, start, end }) => `${topic}:${partition}:${start}-${end}`).join(" "),
  });
  return run;
}
