/**
 * `--backfill PERIOD`, the part that talks to Kafka: which offsets to read, a consumer group of
 * its own seeded with them (the live group's offsets are never touched, and running bridges go
 * on beside it), the progress while the bridge's usual pipeline reads them, and the summary.
 * The plan itself is pure (`backfill_plan.ts`).
 */
import type { Admin, Kafka } from "kafkajs";
import type { Config } from "../config/mod.ts";
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
 * and commits never touch the live group's offsets; the group is deleted at the end.
 */
export function backfillConfig(config: Config): Config {
  return {
    ...config,
    kafka: { ...config.kafka, groupId: `${config.kafka.groupId}.backfill.${Date.now().toString(36)}` },
  };
}

/** What a backfill reads, and where Kafka no longer holds the start of the period. */
export interface BackfillPlan {
  /** The group the backfill reads in (see {@linkcode backfillConfig}). */
  groupId: string;
  ranges: PartitionRange[];
  /** Per truncated partition, a sentence saying from when it can be rebuilt. */
  truncated: string[];
}

/** The time of the first record Kafka still holds at `low`: the last instant whose offset lookup gives `low`. */
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

/** Asks Kafka for each partition's offsets around the period and plans what to read. */
export async function planBackfill(kafka: Kafka, config: Config, command: BackfillCommand): Promise<BackfillPlan> {
  const { fromMs, untilMs } = kafkaTimesOf(command.backfill, config.flowTimeWindow, command.marginMs);
  return await withAdmin(kafka, async (admin) => {
    const partitions: PartitionOffsets[] = [];
    for (const topic of config.kafka.topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const from = fromMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, fromMs);
      const until = untilMs === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, untilMs);
      for (const { partition, low, high } of ends) {
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
    for (const { topic, partition, truncatedAt } of ranges) {
      if (truncatedAt === undefined) continue;
      const since = await firstHeldTime(admin, topic, partition, truncatedAt, fromMs ?? 0);
      truncated.push(
        `${topic}:${partition} holds records only from ${new Date(since).toISOString()} (offset ${truncatedAt})`,
      );
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

async function total(counter: Metrics["indexed"]): Promise<number> {
  return (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/** How many offsets of the plan the pipeline has committed. */
function doneOffsets(plan: BackfillPlan, pipeline: Pipeline): number {
  let done = 0;
  for (const { topic, partition, start, end } of plan.ranges) {
    const committed = pipeline.committedOffset(topic, partition);
    done += committed === undefined ? 0 : Math.min(Math.max(committed, start), end) - start;
  }
  return done;
}

/**
 * Resolves once every range is read, indexed or dead-lettered and committed. Meanwhile it shows
 * the progress: rewritten in place on a terminal, else a log line every `logEveryMs`.
 */
export async function watchBackfill(
  plan: BackfillPlan,
  period: Period,
  { pipeline, metrics, log }: { pipeline: Pipeline; metrics: Metrics; log: Logger },
  { terminal = Deno.stderr.isTerminal(), logEveryMs = 5000 } = {},
): Promise<void> {
  const totalOffsets = plan.ranges.reduce((sum, { start, end }) => sum + end - start, 0);
  const started = Date.now();
  let lastLog = started;
  const encoder = new TextEncoder();
  for (;;) {
    const done = doneOffsets(plan, pipeline);
    const now = Date.now();
    const progress = {
      totalOffsets,
      doneOffsets: done,
      indexed: await total(metrics.indexed),
      seconds: (now - started) / 1000,
    };
    if (terminal) Deno.stderr.writeSync(encoder.encode(`\r${progressText(period, progress)}\u001b[K`));
    else if (now - lastLog >= logEveryMs || done >= totalOffsets) {
      log.info(progressText(period, progress));
      lastLog = now;
    }
    if (done >= totalOffsets) break;
    await new Promise((resolve) => setTimeout(resolve, terminal ? 500 : 1000));
  }
  if (terminal) Deno.stderr.writeSync(encoder.encode("\n"));
}

/** The closing line's counts. */
export async function backfillSummary(pipeline: Pipeline, metrics: Metrics): Promise<Record<string, number>> {
  const indexed = await total(metrics.indexed);
  const deadLettered = await total(metrics.deadLetters);
  const invalid = await total(metrics.decodeErrors);
  const buffered = await total(metrics.samples);
  return {
    records_read: buffered + invalid + pipeline.outOfPeriod,
    indexed,
    dead_lettered: deadLettered,
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

/**
 * Plans the backfill, bounds the pipeline to it and seeds its group, before the source starts.
 * Exits 1 when Kafka no longer holds the period's start, unless `--partial`. Returns what, once
 * the source has started, waits until everything planned is committed, shuts down, deletes the
 * group, says what was done, and gives the exit status.
 */
export async function prepareBackfill(command: BackfillCommand, parts: BackfillParts): Promise<() => Promise<number>> {
  const { kafka, config, pipeline, metrics, log } = parts;
  const { backfill: period, partial } = command;
  const plan = await planBackfill(kafka, config, command);
  if (plan.truncated.length > 0) {
    const what = `Kafka no longer holds the start of ${period.text}: ${plan.truncated.join("; ")}`;
    if (!partial) {
      log.error(`${what}; run again with --partial to rebuild what is left`);
      Deno.exit(1);
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
  await seedGroup(kafka, plan);
  log.info("backfill: reading the period's offsets in a group of its own", {
    period: period.text,
    group: plan.groupId,
    offsets: plan.ranges.map(({ topic, partition, start, end }) => `${topic}:${partition}:${start}-${end}`).join(" "),
  });
  return async () => {
    await watchBackfill(plan, period, { pipeline, metrics, log });
    const status = await parts.shutdown();
    await dropGroup(kafka, plan, log);
    log.info(`backfill of ${period.text} done`, await backfillSummary(pipeline, metrics));
    return status;
  };
}
