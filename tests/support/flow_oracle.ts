/**
 * What the bridge should make of a pmacct record, worked out independently of `lib/`: times are
 * read with JavaScript's own date parser, so a bug in the bridge's time handling cannot hide in
 * the expectation.
 */
import { FLOW_TIME_FIELDS } from "../../lib/pmacct/flow_time.ts";

/**
 * Epoch milliseconds of one pmacct time value; `null` for pmacct's zero time. `offset` is the
 * zone of strings that carry none (`"Z"`, `"+05:30"`).
 */
export function expectedEpochMs(value: unknown, offset: string): number | null | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "number") return value > 0 ? Math.floor(value * 1000) : null;
  const text = String(value);
  if (/^\d+(\.\d+)?$/.test(text)) {
    const [seconds, fraction = ""] = text.split(".");
    const ms = Number(seconds) * 1000 + Number(fraction.padEnd(3, "0").slice(0, 3));
    return ms > 0 ? ms : null;
  }
  if (text.startsWith("0000-")) return null;
  const iso = text.replace(" ", "T");
  return Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(iso) ? iso : iso + offset);
}

/** The flow's time by the documented precedence, else the Kafka message time. */
export function expectedFlowMs(record: Record<string, unknown>, offset: string, kafkaMs: number): number {
  for (const field of FLOW_TIME_FIELDS) {
    const ms = expectedEpochMs(record[field], offset);
    if (typeof ms === "number") return ms;
  }
  return kafkaMs;
}

/** Per daily index: records, bytes and packets. */
export type DayTotals = Record<string, { count: number; bytes: number; packets: number }>;

export function addToDay(totals: DayTotals, day: string, record: Record<string, unknown>): void {
  totals[day] ??= { count: 0, bytes: 0, packets: 0 };
  totals[day].count++;
  totals[day].bytes += Number(record.bytes ?? 0);
  totals[day].packets += Number(record.packets ?? 0);
}
