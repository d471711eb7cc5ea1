/**
 * A sign that pmacct's local-time strings are being read in the wrong zone. pmacct prints times
 * without a zone, in the collector's local time, unless `timestamps_utc` is set; the bridge reads
 * them in `PMACCT_TIMEZONE`, else the host's zone, which inside a container is usually UTC. A
 * record's latest time near publishing (when pmacct last updated or purged it, when the flow
 * ended) lies within a purge interval of the moment pmacct published it; read in the wrong zone,
 * it lies a zone's offset away.
 *
 * @example
 * ```ts
 * // Zurich's wall clock (UTC+1) read as UTC: an hour after the Kafka time.
 * const kafkaMs = Date.UTC(2026, 10, 24, 19, 10, 30);
 * suspectedZoneOffsetMs({ stamp_updated: "2026-11-24 20:10:00" }, "UTC", kafkaMs); // 3600000
 * suspectedZoneOffsetMs({ stamp_updated: "2026-11-24 19:10:00" }, "UTC", kafkaMs); // undefined
 * ```
 */
import { readPmacctTime } from "./pmacct_time.ts";

/**
 * The times pmacct sets near the moment it publishes a record: when it last updated or purged the
 * entry, when the collector received the flow, when the exporter sent it, when the flow ended.
 * A flow's start can be far older (a long active timeout), so it is not one of them.
 */
const NEAR_PUBLISHING = ["stamp_updated", "timestamp_arrival", "timestamp_export", "timestamp_end", "timestamp_max"];

/** The offsets from UTC that zones use, in minutes east (the IANA database's, DST included). */
const ZONE_OFFSETS_MINUTES: ReadonlySet<number> = new Set([
  -720,
  -660,
  -600,
  -570,
  -540,
  -480,
  -420,
  -360,
  -300,
  -240,
  -210,
  -180,
  -150,
  -120,
  -60,
  60,
  120,
  180,
  210,
  240,
  270,
  300,
  330,
  345,
  360,
  390,
  420,
  480,
  525,
  540,
  570,
  600,
  630,
  660,
  720,
  765,
  780,
  825,
  840,
]);

/** Zone offsets are whole quarter-hours (India +05:30, Nepal +05:45). */
const QUARTER_HOUR_MS = 15 * 60_000;
/** How far from a whole quarter-hour the gap may be: what a purge interval adds. */
const TOLERANCE_MS = 5 * 60_000;
/** The largest zone offsets are +14:00 and -12:00. */
const MAX_OFFSET_MS = 14 * 3_600_000;

/**
 * The zone offset (milliseconds east of UTC) that would explain the record's latest zone-less
 * time near publishing lying that far from its Kafka time (within 5 minutes); `undefined` when no
 * zone's offset does (the times are right, or too far off to be a zone's doing).
 */
export function suspectedZoneOffsetMs(
  record: Record<string, unknown>,
  zone: string,
  kafkaMs: number,
): number | undefined {
  if (!(kafkaMs > 0)) return undefined;
  let latest: number | undefined;
  for (const field of NEAR_PUBLISHING) {
    if (!(field in record)) continue;
    const time = readPmacctTime(record[field], zone, kafkaMs);
    if (time?.zoneless && (latest === undefined || time.epochMs > latest)) latest = time.epochMs;
  }
  if (latest === undefined) return undefined;
  const ahead = latest - kafkaMs;
  const quarters = Math.round(ahead / QUARTER_HOUR_MS);
  if (Math.abs(ahead) > MAX_OFFSET_MS + TOLERANCE_MS) return undefined;
  if (Math.abs(ahead - quarters * QUARTER_HOUR_MS) > TOLERANCE_MS) return undefined;
  return ZONE_OFFSETS_MINUTES.has(quarters * 15) ? quarters * QUARTER_HOUR_MS : undefined;
}

/** `+01:00`, `-05:00`, `+05:45`: an offset as ISO 8601 writes it. */
export function formatZoneOffset(offsetMs: number): string {
  const minutes = Math.abs(offsetMs) / 60_000;
  const pad = (value: number) => String(Math.floor(value)).padStart(2, "0");
  return `${offsetMs < 0 ? "-" : "+"}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}
