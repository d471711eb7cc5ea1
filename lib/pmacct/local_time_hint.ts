/**
 * A sign that pmacct's local-time strings are being read in the wrong zone. pmacct prints times
 * without a zone, in the collector's local time, unless `timestamps_utc` is set; the bridge reads
 * them in `PMACCT_TIMEZONE`, else the host's zone, which inside a container is usually UTC. A
 * record's latest time (when pmacct last updated or purged it) lies within a purge interval of
 * the moment pmacct published it; read in the wrong zone, it lies a whole zone offset away.
 *
 * @example
 * ```ts
 * // Zurich's wall clock (UTC+1) read as UTC: an hour after the Kafka time.
 * const kafkaMs = Date.UTC(2026, 10, 24, 19, 10, 30);
 * suspectedZoneOffsetMs({ stamp_updated: "2026-11-24 20:10:00" }, "UTC", kafkaMs); // 3600000
 * suspectedZoneOffsetMs({ stamp_updated: "2026-11-24 19:10:00" }, "UTC", kafkaMs); // undefined
 * ```
 */
import { FLOW_TIME_FIELDS } from "./flow_time.ts";
import { readPmacctTime } from "./pmacct_time.ts";

/** Zone offsets are whole quarter-hours (India +05:30, Nepal +05:45). */
const QUARTER_HOUR_MS = 15 * 60_000;
/** How far from a whole quarter-hour the gap may be: what a purge interval adds. */
const TOLERANCE_MS = 5 * 60_000;
/** The largest zone offsets are +14:00 and -12:00. */
const MAX_OFFSET_MS = 14 * 3_600_000;

/**
 * The zone offset (milliseconds east of UTC) that would explain the record's latest zone-less
 * time lying a whole number of quarter-hours, at least half an hour, from its Kafka time;
 * `undefined` when no offset does (the times are right, or too far off to be a zone's doing).
 */
export function suspectedZoneOffsetMs(
  record: Record<string, unknown>,
  zone: string,
  kafkaMs: number,
): number | undefined {
  if (!(kafkaMs > 0)) return undefined;
  let latest: number | undefined;
  for (const field of FLOW_TIME_FIELDS) {
    if (!(field in record)) continue;
    const time = readPmacctTime(record[field], zone);
    if (time?.zoneless && (latest === undefined || time.epochMs > latest)) latest = time.epochMs;
  }
  if (latest === undefined) return undefined;
  const ahead = latest - kafkaMs;
  const quarters = Math.round(ahead / QUARTER_HOUR_MS);
  if (Math.abs(quarters) < 2 || Math.abs(ahead) > MAX_OFFSET_MS + TOLERANCE_MS) return undefined;
  if (Math.abs(ahead - quarters * QUARTER_HOUR_MS) > TOLERANCE_MS) return undefined;
  return quarters * QUARTER_HOUR_MS;
}

/** `+01:00`, `-05:00`, `+05:45`: an offset as ISO 8601 writes it. */
export function formatZoneOffset(offsetMs: number): string {
  const minutes = Math.abs(offsetMs) / 60_000;
  const pad = (value: number) => String(Math.floor(value)).padStart(2, "0");
  return `${offsetMs < 0 ? "-" : "+"}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}
