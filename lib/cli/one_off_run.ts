/**
 * The runs that read planned ranges of offsets to their end and exit (`--backfill`,
 * `--replay-dead-letters`), the part around the bridge's usual parts: the progress while they
 * read (rewritten in place on a terminal, a log line every few seconds off one), the Kafka
 * deleting records under them, and one end, whether everything was committed or a signal came.
 */
import type { Admin, Kafka } from "kafkajs";
import type { Pipeline } from "../delivery/pipeline.ts";
import { withAdmin } from "../kafka/client.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { type PartitionRange, progressText, RangeProgress, type ReadPlan } from "./range_progress.ts";

/** Commits each range's start offset into `groupId`, where its consumer then begins; the group must have no members. */
export async function commitStarts(admin: Admin, groupId: string, ranges: readonly PartitionRange[]): Promise<void> {
  for (const topic of new Set(ranges.map((range) => range.topic))) {
    const partitions = ranges.filter((range) => range.topic === topic)
      .map(({ partition, start }) => ({ partition, offset: String(start) }));
    await admin.setOffsets({ groupId, topic, partitions });
  }
}

/** The total of a counter over its labels. */
export async function counterTotal(counter: Metrics["indexed"]): Promise<number> {
  return (await counter.get()).values.reduce((sum, { value }) => sum + value, 0);
}

/**
 * Resolves once every range is read, indexed or dead-lettered and committed, or `stopped()`
 * says to stop. Meanwhile it shows the progress, labelled `label`: rewritten in place on a
 * terminal, else a log line every `logEveryMs`.
 */
export async function watchRanges(
  plan: ReadPlan,
  label: string,
  { pipeline, metrics, log, kafkaOffsets }: {
    pipeline: Pick<Pipeline, "committedOffset">;
    metrics: Metrics;
    log: Logger;
    /** Each partition's first offset held and the group's commit (by `topic:partition`), asked every `lowEveryMs`. */
    kafkaOffsets?: () => Promise<KafkaOffsets>;
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
    if (kafkaOffsets && Date.now() - lastLow >= lowEveryMs) {
      lastLow = Date.now();
      const { lows, committed } = await kafkaOffsets().catch(() => ({ lows: new Map(), committed: new Map() }));
      ranges.held(lows, committed);
    }
    const { done, finished } = ranges.read();
    const now = Date.now();
    const seconds = (now - started) / 1000;
    const text = progressText(label, {
      totalOffsets,
      doneOffsets: done,
      indexed: await counterTotal(metrics.indexed),
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

/** Of each partition, by `topic:partition`: the first offset Kafka holds, and the group's commit where it has one. */
export interface KafkaOffsets {
  lows: Map<string, number>;
  committed: Map<string, number>;
}

/** What Kafka says of the plan's partitions, asked anew at each call. */
function kafkaOffsetsOf(kafka: Kafka, plan: ReadPlan): () => Promise<KafkaOffsets> {
  const topics = [...new Set(plan.ranges.map((range) => range.topic))];
  return () =>
    withAdmin(kafka, async (admin) => {
      const lows = new Map<string, number>();
      const committed = new Map<string, number>();
      for (const topic of topics) {
        for (const { partition, low } of await admin.fetchTopicOffsets(topic)) {
          lows.set(`${topic}:${partition}`, Number(low));
        }
      }
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: plan.groupId, topics })) {
        for (const { partition, offset } of partitions) {
          if (Number(offset) >= 0) committed.set(`${topic}:${partition}`, Number(offset));
        }
      }
      return { lows, committed };
    });
}

/** What a one-off run drives: the bridge's parts, built as for normal running. */
export interface OneOffParts {
  kafka: Kafka;
  pipeline: Pipeline;
  metrics: Metrics;
  log: Logger;
  /** The bridge's graceful shutdown; resolves to its exit status. */
  shutdown(): Promise<number>;
}

/** A prepared one-off run: what finishes it, and what stops it early (a signal). Each gives the exit status. */
export interface OneOffRun {
  /** Waits until everything planned is committed, then ends. */
  finish(): Promise<number>;
  /** Ends at once; its `end` never gives 0. */
  interrupt(): Promise<number>;
}

/** How a one-off run ended, for its own closing words. */
export interface RunEnd {
  /** A signal stopped it before everything planned was committed. */
  interrupted: boolean;
  /** The shutdown's status: not 0 when its last records were not all indexed and committed. */
  shutdownStatus: number;
  /** What the watch saw (absent when interrupted before it began). */
  progress?: RangeProgress;
}

/**
 * Drives a one-off run over `plan`: {@linkcode OneOffRun.finish} shows the progress until
 * every range is committed. Either way the run ends once: the bridge shuts down, then `end`
 * says what became of it and gives the exit status; a signal while the run is ending waits for
 * that end. `ready` resolves once an interrupt may end the run (say, once a group exists that
 * the end deletes).
 */
export function oneOffRun(
  plan: ReadPlan,
  label: string,
  parts: OneOffParts,
  end: (ended: RunEnd) => Promise<number>,
  ready: () => Promise<void> = () => Promise.resolve(),
): OneOffRun {
  let interrupted = false;
  let ending: Promise<number> | undefined;
  let progress: RangeProgress | undefined;
  const endOnce = () => {
    if (ending) return ending;
    const stopped = interrupted;
    return ending = parts.shutdown().then((shutdownStatus) => end({ interrupted: stopped, shutdownStatus, progress }));
  };
  return {
    finish: async () => {
      const kafkaOffsets = kafkaOffsetsOf(parts.kafka, plan);
      progress = await watchRanges(plan, label, { ...parts, kafkaOffsets }, { stopped: () => interrupted });
      // A signal came meanwhile: its own path ends the run and the process.
      if (interrupted) return await new Promise<never>(() => {});
      return await endOnce();
    },
    interrupt: async () => {
      interrupted = true;
      await ready().catch(() => {});
      return await endOnce();
    },
  };
}
