/**
 * Which time a pmacct record is filed under: the flow's own time, by a fixed precedence, so that
 * a replay lands in the same daily index as the first run.
 *
 * @example
 * ```ts
 * const time = flowTime({ timestamp_start: "0000-00-00 00:00:00", stamp_inserted: "2026-11-24 19:10:00" }, "UTC", 0);
 * time.field; // "stamp_inserted"
 * ```
 */
import { parsePmacctTime } from "./pmacct_time.ts";

/**
 * pmacct time fields in the order they win. The flow's own start comes first (what an operator
 * means by "when"), then its end, then the `kafka_history` bucket the counters were accounted
 * in, then when the collector received or the exporter sent it. Zero ("unknown") values are
 * skipped.
 */
export const FLOW_TIME_FIELDS = [
  "timestamp_start",
  "timestamp_min",
  "timestamp_end",
  "timestamp_max",
  "stamp_inserted",
  "stamp_updated",
  "timestamp_arrival",
  "timestamp_export",
] as const;

/** Name used when no pmacct field carries a time and the Kafka message timestamp is used. */
export const KAFKA_TIMESTAMP = "kafka_timestamp";

export interface FlowTime {
  epochMs: number;
  field: (typeof FLOW_TIME_FIELDS)[number] | typeof KAFKA_TIMESTAMP;
}

/**
 * The record's time. Without any usable pmacct time field it falls back to the Kafka message's
 * timestamp (when pmacct produced it), which, unlike the wall clock, is the same on every replay.
 */
export function flowTime(record: Record<string, unknown>, zone: string, kafkaTimestampMs: number): FlowTime {
  for (const field of FLOW_TIME_FIELDS) {
    if (!(field in record)) continue;
    const parsed = parsePmacctTime(record[field], zone);
    if (typeof parsed === "number") return { epochMs: parsed, field };
  }
  return { epochMs: kafkaTimestampMs, field: KAFKA_TIMESTAMP };
}
