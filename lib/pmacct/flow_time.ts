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
 * pmacct time fields of a flow in the order they win. The flow's own start comes first (what an
 * operator means by "when"), then its end, then the `kafka_history` bucket the counters were
 * accounted in, then when the collector received or the exporter sent it. Zero ("unknown")
 * values are skipped.
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

/**
 * The time fields of pmacct's other Kafka outputs, in the order they win: the `timestamp` of a
 * BMP message as the router stamped it, of a BGP message or telemetry as the collector received
 * it, or of a dump; a BMP dump's event records also the message's own `timestamp_event`; then
 * when the collector received it. A BMP initiation has no time of its own (zero).
 */
export const DAEMON_TIME_FIELDS = ["timestamp", "timestamp_event", "timestamp_arrival"] as const;

/**
 * The `event_type`s of the BMP, BGP and telemetry daemons' message logs and dumps. A flow's is
 * `purge` (or a marker's), so a flow's custom primitive named `timestamp` is never taken for one.
 */
const DAEMON_EVENT_TYPES: ReadonlySet<unknown> = new Set([
  "log",
  "log_init",
  "log_close",
  "dump",
  "dump_init",
  "dump_close",
]);

/** The time fields of `record`, in the order they win: a daemon's, or a flow's. */
export function timeFieldsOf(
  record: Record<string, unknown>,
): readonly (typeof FLOW_TIME_FIELDS | typeof DAEMON_TIME_FIELDS)[number][] {
  return DAEMON_EVENT_TYPES.has(record.event_type) ? DAEMON_TIME_FIELDS : FLOW_TIME_FIELDS;
}

/** Name used when no pmacct field carries a time and the Kafka message timestamp is used. */
export const KAFKA_TIMESTAMP = "kafka_timestamp";

export interface FlowTime {
  epochMs: number;
  field: (typeof FLOW_TIME_FIELDS | typeof DAEMON_TIME_FIELDS)[number] | typeof KAFKA_TIMESTAMP;
}

/**
 * The Kafka time that tells which reading of a repeated local hour a record means: its own, and
 * none for a dead letter written without it (`untimed`: the letter's time differs per copy, and
 * two copies of one record, one id, must land as one document).
 */
export function repeatedHourHint(kafkaMs: number, untimed?: string): number | undefined {
  return untimed === undefined ? kafkaMs : undefined;
}

/**
 * The record's time. Without any usable pmacct time field it falls back to the Kafka message's
 * timestamp (when pmacct produced it), which, unlike the wall clock, is the same on every replay.
 * The Kafka time also tells which reading of a repeated local hour is meant
 * ({@linkcode repeatedHourHint}).
 */
export function flowTime(
  record: Record<string, unknown>,
  zone: string,
  kafkaTimestampMs: number,
  untimed?: string,
): FlowTime {
  const hintMs = repeatedHourHint(kafkaTimestampMs, untimed);
  for (const field of timeFieldsOf(record)) {
    if (!(field in record)) continue;
    const parsed = parsePmacctTime(record[field], zone, hintMs);
    if (typeof parsed === "number") return { epochMs: parsed, field };
  }
  return { epochMs: kafkaTimestampMs, field: KAFKA_TIMESTAMP };
}

/**
 * How far from its Kafka message time a flow's own time may be and still name its day: at most
 * `maxAgeMs` before it and `maxAheadMs` after it (`undefined`: no bound on that side).
 */
export interface FlowTimeWindow {
  maxAgeMs?: number;
  maxAheadMs?: number;
}

/** Why a flow's own time was not used: outside the window, or outside what a daily index can name. */
export const MISDATED_REASONS = ["too_old", "too_far_ahead", "beyond_dates"] as const;
export type MisdatedReason = (typeof MISDATED_REASONS)[number];

/** The instants a daily index can name: years 0000 to 9999 (a four-digit year in its name). */
const FIRST_DATE_MS = -62_167_219_200_000;
const LAST_DATE_MS = 253_402_300_799_999;

/** Whether an instant falls on a day that `yyyy-MM-dd` can name. */
export function isNameableDate(epochMs: number): boolean {
  return Number.isFinite(epochMs) && epochMs >= FIRST_DATE_MS && epochMs <= LAST_DATE_MS;
}

/**
 * The time a flow is checked against and filed under when its own is refused: its message's Kafka
 * time, or the clock where that is no date (a producer that set none); the clock is read only then.
 */
export function referenceTime(kafkaMs: number, now: () => number): number {
  return isNameableDate(kafkaMs) && kafkaMs > 0 ? kafkaMs : now();
}

/**
 * Why `flowMs` may not file its flow, given its {@linkcode referenceTime}; `undefined` when it may.
 *
 * @example
 * ```ts
 * const window = { maxAgeMs: 7 * 86_400_000, maxAheadMs: 3_600_000 };
 * misdated(Date.UTC(2000, 0, 1), Date.UTC(2026, 11, 1), window); // "too_old"
 * ```
 */
export function misdated(
  flowMs: number,
  reference: number,
  window: FlowTimeWindow,
): MisdatedReason | undefined {
  if (!isNameableDate(flowMs)) return "beyond_dates";
  if (window.maxAgeMs !== undefined && flowMs < reference - window.maxAgeMs) return "too_old";
  if (window.maxAheadMs !== undefined && flowMs > reference + window.maxAheadMs) return "too_far_ahead";
  return undefined;
}
