/**
 * `--backfill PERIOD`, the pure part: the period, which Kafka times can carry its flows, and each
 * partition's offsets to read. The bridge files a flow under its own time
 * while that lies within `FLOW_TIME_MAX_AGE` before and `FLOW_TIME_MAX_AHEAD` after its Kafka
 * time, else under the Kafka time; so a flow of the period reached Kafka between the period's
 * start less `FLOW_TIME_MAX_AHEAD` and its end plus `FLOW_TIME_MAX_AGE` (or the margin given),
 * and nothing outside those Kafka times is read.
 *
 * @example
 * ```ts
 * const period = parsePeriod("2026-11-24");
 * period.startMs; // Date.UTC(2026, 10, 24)
 * period.endMs; // Date.UTC(2026, 10, 25)
 * ```
 */
import type { FlowTimeWindow } from "../pmacct/flow_time.ts";
import type { PartitionRange } from "./range_progress.ts";
import { UsageError } from "./usage_error.ts";

/** A half-open span of time, `[startMs, endMs)`, as the operator wrote it. */
export interface Period {
  startMs: number;
  endMs: number;
  text: string;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** With `TIMESTAMP_SOURCE=kafka`, how far around the period records are read (see `kafkaTimesOf`). */
const KAFKA_TIME_MARGIN_MS = 3_600_000;
/** An instant with its zone: `2026-11-24T10:00Z`, `2026-11-24T10:00:00+01:00`. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

const invalidPeriod = (text: string) =>
  new UsageError(text, "a UTC day (2026-11-24) or two instants with their zone (2026-11-24T10:00Z..2026-11-24T12:00Z)");

function instant(part: string, text: string): number {
  const ms = INSTANT.test(part) ? Date.parse(part) : NaN;
  if (Number.isNaN(ms)) throw invalidPeriod(text);
  return ms;
}

/** `2026-11-24` (that UTC day) or `START..END`, each an ISO 8601 instant with its zone. */
export function parsePeriod(text: string): Period {
  const day = DAY.exec(text);
  if (day) {
    const startMs = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    if (new Date(startMs).toISOString().slice(0, 10) !== text) throw invalidPeriod(text);
    return { startMs, endMs: startMs + 86_400_000, text };
  }
  const parts = text.split("..");
  if (parts.length !== 2) throw invalidPeriod(text);
  const [startMs, endMs] = parts.map((part) => instant(part, text));
  if (!(endMs > startMs)) throw new UsageError(text, "a period whose end comes after its start");
  return { startMs, endMs, text };
}

/**
 * The Kafka times that can carry a record filed in `period`; `undefined` is no bound on that side.
 * Filed by the flow's own time (`TIMESTAMP_SOURCE=flow`), a flow of the period reached Kafka at
 * most `FLOW_TIME_MAX_AHEAD` before it began and `FLOW_TIME_MAX_AGE` (or `marginMs`) after it ended.
 * Filed by the Kafka time, the period itself and `marginMs` (an hour by default) on each side:
 * records' times need not grow with their offsets (producers' clocks differ), and the lookup by
 * time assumes they do; what lies outside the period is skipped anyway.
 */
export function kafkaTimesOf(
  period: Period,
  window: FlowTimeWindow,
  marginMs?: number,
  byKafkaTime = false,
): { fromMs?: number; untilMs?: number } {
  if (byKafkaTime) {
    const margin = marginMs ?? KAFKA_TIME_MARGIN_MS;
    return { fromMs: period.startMs - margin, untilMs: period.endMs + margin };
  }
  const after = marginMs ?? window.maxAgeMs;
  return {
    fromMs: window.maxAheadMs === undefined ? undefined : period.startMs - window.maxAheadMs,
    untilMs: after === undefined ? undefined : period.endMs + after,
  };
}

/** What Kafka said of one partition: its offsets, and the first at or after each bound's time. */
export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** The first offset still held, and the next one to be written. */
  low: number;
  high: number;
  /** The first offset whose time is at or after the start bound (`low` without one). */
  fromOffset: number;
  /** The first offset whose time is at or after the end bound (`high` without one). */
  untilOffset: number;
}

/**
 * The range to read of each partition. A partition whose log no longer starts at offset 0, and
 * whose first record held is already at or after the start bound (or that holds none), may have
 * lost records of the period to Kafka's retention, even all of them: it is marked `truncatedAt`.
 */
export function planRanges(partitions: readonly PartitionOffsets[], hasStartBound: boolean): PartitionRange[] {
  return partitions.map(({ topic, partition, low, high, fromOffset, untilOffset }) => {
    const start = Math.min(Math.max(fromOffset, low), high);
    const end = Math.max(start, Math.min(untilOffset, high));
    const truncated = low > 0 && (!hasStartBound || fromOffset <= low);
    return truncated ? { topic, partition, start, end, truncatedAt: low } : { topic, partition, start, end };
  });
}
