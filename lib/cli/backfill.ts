/**
 * `--backfill PERIOD`, the part that talks to Kafka: which offsets to read, a consumer group of
 * its own seeded with them (the live group's offsets are never touched, and running bridges go
 * on beside it), the progress while the bridge's usual pipeline reads them, and the summary.
 * The plan itself is pure (`backfill_plan.ts`).
 */
import { type Admin, ConfigResourceTypes, type Kafka } from "kafkajs";
import { type Config, ConfigError } from "../config/mod.ts";
import { partitionKey } from "../delivery/acknowledgement.ts";
import { withAdmin } from "../kafka/client.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { kafkaTimesOf, type PartitionOffsets, type Period, planRanges } from "./backfill_plan.ts";
import { commitStarts, counterTotal, type OneOffParts, type OneOffRun, oneOffRun, type RunEnd } from "./one_off_run.ts";
import { cutWhileRead, type ReadPlan } from "./range_progress.ts";
import { RangeAdmission, type ReadBounds } from "./range_admission.ts";
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

/**
 * What a backfill reads, in the group of {@linkcode backfillConfig}, and where Kafka no longer
 * holds the start of the period.
 */
export interface BackfillPlan extends ReadPlan {
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
  await withAdmin(kafka, (admin) => commitStarts(admin, plan.groupId, plan.ranges));
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

/** The closing line's counts. */
export async function backfillSummary(
  admission: Pick<RangeAdmission, "outOfPeriod">,
  metrics: Metrics,
): Promise<Record<string, number>> {
  const invalid = await counterTotal(metrics.decodeErrors);
  const buffered = await counterTotal(metrics.samples);
  return {
    records_read: buffered + invalid + admission.outOfPeriod,
    indexed: await counterTotal(metrics.indexed),
    dead_lettered: await counterTotal(metrics.deadLetters),
    out_of_period: admission.outOfPeriod,
  };
}

/** What a backfill drives: the bridge's parts, built as for normal running, and its settings. */
export interface BackfillParts extends OneOffParts {
  config: Config;
}

/**
 * Plans the backfill, bounds the pipeline to it and seeds its group, before the source starts.
 * Gives exit status 1 instead when Kafka no longer holds the period's start, unless `--partial`.
 */
export async function prepareBackfill(
  command: BackfillCommand,
  parts: BackfillParts,
  /** Called with the run before its group exists, so that a signal from then on ends it (and deletes the group). */
  started: (run: OneOffRun) => void,
): Promise<OneOffRun | 1> {
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
  const admission = new RangeAdmission(boundsOf(plan, period));
  pipeline.plug({ admission });
  const end = async ({ interrupted, shutdownStatus, progress }: RunEnd) => {
    await dropGroup(kafka, plan, log);
    const summary = await backfillSummary(admission, metrics);
    const cut = [...cutWhileRead(plan, admission, pipeline), ...progress?.deleted() ?? []];
    const outcome = interrupted ? "interrupted: run it again to rebuild the whole period" : "done";
    const failed = interrupted || shutdownStatus !== 0;
    const said = failed && !interrupted
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
  // The group is deleted once it exists, never before its seeding could make it again.
  const run = oneOffRun(plan, `backfill ${period.text}`, parts, end, () => seeding);
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
