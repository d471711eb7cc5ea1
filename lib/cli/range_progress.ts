/**
 * What the one-off runs (`--backfill`, `--replay-dead-letters`) read, and how far they got, pure:
 * each partition's planned range of offsets, how far each is committed, where Kafka cut one,
 * and the progress line.
 *
 * @example
 * ```ts
 * progressText("backfill 2026-11-24", { totalOffsets: 1000, doneOffsets: 450, indexed: 9000, seconds: 45 });
 * // "backfill 2026-11-24: 45.0% of offsets, 200 records/s, 55s left"
 * ```
 */
import { lostText } from "../delivery/offset_resets.ts";
import type { Pipeline } from "../delivery/pipeline.ts";
import type { RangeAdmission } from "./range_admission.ts";

/** One partition's share of a one-off run: read offsets `[start, end)`. */
export interface PartitionRange {
  topic: string;
  partition: number;
  start: number;
  end: number;
  /** Set when Kafka deleted records that may have held flows of the period: the first one it still holds. */
  truncatedAt?: number;
}

/** What a one-off run reads, in a consumer group of its own. */
export interface ReadPlan {
  groupId: string;
  ranges: PartitionRange[];
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

  constructor(private readonly plan: ReadPlan, private readonly pipeline: Pick<Pipeline, "committedOffset">) {}

  /**
   * Takes what Kafka says of each partition (by `topic:partition`): its first offset held, and the
   * group's committed offset. A range not committed to its end that Kafka deleted to its end has
   * nothing left to read (and no message may come to commit past it). The group's commit counts
   * as reached: one stored while the group rejoined is never the pipeline's own.
   */
  held(lows: ReadonlyMap<string, number>, committed: ReadonlyMap<string, number> = new Map()): void {
    for (const range of this.plan.ranges) {
      const key = `${range.topic}:${range.partition}`;
      const commit = committed.get(key);
      if (commit !== undefined && commit > (this.#reached.get(range) ?? range.start)) {
        this.#reached.set(range, Math.min(commit, range.end));
      }
      const low = lows.get(key);
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
 * The ranges Kafka cut while the run read them: the first offset taken lies past the planned
 * start (the consumer resumed at the first offset still held), or the consumer was moved past
 * offsets Kafka deleted before it read them.
 */
export function cutWhileRead(
  plan: ReadPlan,
  admission: Pick<RangeAdmission, "firstOffset">,
  pipeline: Pick<Pipeline, "lostOffsets">,
): string[] {
  const late = plan.ranges.flatMap(({ topic, partition, start, end }) => {
    const first = admission.firstOffset(topic, partition);
    return first !== undefined && first > start && start < end
      ? [`${topic}:${partition} from offset ${first}, not ${start}`]
      : [];
  });
  // Only what lies in a range counts; a move before anything was read is the late start already named.
  const lost = pipeline.lostOffsets().filter(({ topic, partition, from }) =>
    plan.ranges.some((range) =>
      range.topic === topic && range.partition === partition && range.start < range.end &&
      (from === undefined || from < range.end)
    ) && (from !== undefined || !late.some((text) => text.startsWith(`${topic}:${partition} `)))
  );
  return [...late, ...lost.map(lostText)];
}

/** How far a one-off run got, for the progress line. */
export interface Progress {
  /** Offsets of every partition's range, and how many of them are done (committed). */
  totalOffsets: number;
  doneOffsets: number;
  /** Records indexed so far, and the seconds since reading began. */
  indexed: number;
  seconds: number;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, "0")}m`;
}

/** `<label>: 45.0% of offsets, 12,345 records/s, 1m20s left` */
export function progressText(label: string, { totalOffsets, doneOffsets, indexed, seconds }: Progress): string {
  const share = totalOffsets === 0 ? 1 : doneOffsets / totalOffsets;
  const rate = seconds > 0 ? indexed / seconds : 0;
  const offsetRate = seconds > 0 ? doneOffsets / seconds : 0;
  const left = share >= 1 ? 0 : offsetRate > 0 ? (totalOffsets - doneOffsets) / offsetRate : Infinity;
  return `${label}: ${(share * 100).toFixed(1)}% of offsets, ` +
    `${Math.round(rate).toLocaleString("en-US")} records/s, ${duration(left)} left`;
}
