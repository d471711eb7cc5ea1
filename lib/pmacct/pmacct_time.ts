/**
 * Parses the time encodings pmacct writes into epoch milliseconds.
 *
 * pmacct prints times as `"2026-11-24 19:10:16"` or with microseconds (`timestamps_secs` off),
 * in the collector's local time unless `timestamps_utc: true`; as RFC 3339
 * (`timestamps_rfc3339`); or as epoch seconds with decimals (`timestamps_since_epoch`,
 * `"1677577599.000000"`). A zero time (`"0000-00-00 00:00:00.000000"`, `"0.000000"`, `0`) means
 * "unknown" and parses to `null`, never to 1970. So does a time that no four-digit-year UTC text
 * can hold (before 0000-01-01 or from 10000-01-01, a negative or non-finite number): such a
 * value is no instant an exporter meant, and nothing here ever throws on one.
 *
 * @example
 * ```ts
 * parsePmacctTime("2026-11-24 19:10:16.250000", "UTC"); // 1795547416250
 * parsePmacctTime("0000-00-00 00:00:00", "UTC"); // null
 * parsePmacctTime("1677577599.000000", "UTC"); // 1677577599000
 * readPmacctTime("2026-11-24 20:10:16.250000", "Europe/Zurich")?.utc; // "2026-11-24 19:10:16.250000"
 * ```
 */
import { memoise } from "../runtime/memoise.ts";
import { isRawInteger } from "./exact_integers.ts";

/** Epoch milliseconds; `null` for pmacct's zero ("unknown") time; `undefined` if not a time. */
export type ParsedTime = number | null | undefined;

/** A pmacct time resolved to an instant. */
export interface PmacctTime {
  epochMs: number;
  /**
   * The same instant in UTC, in pmacct's own layout (`yyyy-MM-dd HH:mm:ss`, with six fraction
   * digits when pmacct printed a fraction): what the bridge writes into documents, so that every
   * encoding lands as one unambiguous format the original tool's template also accepts.
   */
  utc: string;
  /** Set for a date and time without a zone (pmacct's default, local time): read in the configured zone. */
  zoneless?: true;
  /** The second instant of a local time in the hour that repeats when the clocks go back. */
  later?: PmacctTime;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;
const EPOCH = /^(\d+)(?:\.(\d+))?$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The names the IANA database gives UTC: a host's zone may be any of them. */
const UTC_ZONES: ReadonlySet<string> = new Set(
  [
    "UTC",
    "Etc/UTC",
    "UCT",
    "Etc/UCT",
    "GMT",
    "Etc/GMT",
    "GMT0",
    "Etc/GMT0",
    "GMT+0",
    "GMT-0",
    "Etc/GMT+0",
    "Etc/GMT-0",
    "Greenwich",
    "Etc/Greenwich",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
  ],
);

/** Whether `zone` is UTC under one of its names. */
export function isUtcZone(zone: string): boolean {
  return UTC_ZONES.has(zone);
}

/** 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the instants a four-digit-year UTC text can hold lie between. */
const FIRST_MS = -62_167_219_200_000;
const PAST_LAST_MS = 253_402_300_800_000;
/** Four hundred Gregorian years, a whole number of weeks and leap cycles. */
const FOUR_CENTURIES_MS = 146_097 * 86_400_000;

/** `Date.UTC` of a wall clock, for every year: `Date.UTC` itself reads years 0 to 99 as 1900 to 1999. */
function wallClockAsUtc(year: number, month: number, day: number, hour: number, minute: number, second: number) {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  return Date.UTC(year + 400, month - 1, day, hour, minute, second) - FOUR_CENTURIES_MS;
}

function formatter(zone: string): Intl.DateTimeFormat {
  let found = formatters.get(zone);
  if (!found) {
    found = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(zone, found);
  }
  return found;
}

const QUARTER_HOUR_MS = 15 * 60_000;

/**
 * Per zone, its offset over each quarter-hour that starts and ends with the same one (`NaN` where
 * the offset changes within it): a conversion costs microseconds, and pmacct's times with their
 * microseconds are nearly all new to the memo of whole time strings, but fall in few quarters.
 */
const quarterOffsets = memoise(
  (zone: string) =>
    memoise((quarter: number) => {
      const start = exactZoneOffsetMs(zone, quarter * QUARTER_HOUR_MS);
      return start === exactZoneOffsetMs(zone, (quarter + 1) * QUARTER_HOUR_MS - 1000) ? start : NaN;
    }, 10_000),
  100,
);

/** Offset of `zone` from UTC at instant `utcMs`, in milliseconds (east positive). */
function zoneOffsetMs(zone: string, utcMs: number): number {
  const offset = quarterOffsets(zone)(Math.floor(utcMs / QUARTER_HOUR_MS));
  return Number.isNaN(offset) ? exactZoneOffsetMs(zone, utcMs) : offset;
}

function exactZoneOffsetMs(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(utcMs))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const wallAsUtc = wallClockAsUtc(parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second);
  return wallAsUtc - Math.floor(utcMs / 1000) * 1000;
}

const DAY_MS = 86_400_000;

/**
 * The instants a wall-clock time in `zone` names, earliest first: one, or two in the hour that
 * repeats when the clocks go back. A time in the hour skipped when they go forward is read with
 * the offset before the change (02:30 becomes 03:30), as `Temporal`'s "compatible" does.
 */
function wallClockToUtc(wallAsUtc: number, zone: string): number[] {
  const offsets = [zoneOffsetMs(zone, wallAsUtc - DAY_MS), zoneOffsetMs(zone, wallAsUtc + DAY_MS)];
  const instants = [...new Set(offsets.map((offset) => wallAsUtc - offset))]
    .filter((utcMs) => zoneOffsetMs(zone, utcMs) === wallAsUtc - utcMs)
    .sort((a, b) => a - b);
  return instants.length > 0 ? instants : [wallAsUtc - offsets[0]];
}

/** How far a flow's time may lie after its message's Kafka time: clocks that disagree a little. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Which reading of a repeated local hour a record means: the later one when it puts the flow
 * less than the repeat's length (an hour, mostly) before the message's Kafka time, and not more
 * than 5 minutes after it. The earlier reading would put the flow more than that length before
 * its message, longer than pmacct and exporters hold a flow. Otherwise, and without a Kafka
 * time, the earlier one: a record published long after says nothing of which was meant. A time
 * published an hour or more after it (the start of an hourly `kafka_history` bucket) is beyond
 * telling: it is read as the later one when published in the hour after that.
 */
export function meansLaterReading(earlierMs: number, laterMs: number, kafkaMs: number | undefined): boolean {
  return kafkaMs !== undefined && kafkaMs >= laterMs - CLOCK_SKEW_MS && kafkaMs < laterMs + (laterMs - earlierMs);
}

function offsetMinutes(designator: string): number {
  if (designator === "Z") return 0;
  const digits = designator.slice(1).replace(":", "");
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  return designator[0] === "-" ? -minutes : minutes;
}

/**
 * Builds the result from whole epoch seconds and the fraction digits pmacct printed, if any;
 * `null` for an instant outside the four-digit years.
 */
function fromSeconds(seconds: number, fraction: string | undefined): PmacctTime | null {
  if (!(seconds * 1000 >= FIRST_MS && seconds * 1000 < PAST_LAST_MS)) return null;
  const micros = fraction === undefined ? undefined : fraction.padEnd(6, "0").slice(0, 6);
  const epochMs = seconds * 1000 + (micros === undefined ? 0 : Number(micros.slice(0, 3)));
  const whole = new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  return { epochMs, utc: micros === undefined ? whole : `${whole}.${micros}` };
}

function isWallClock(month: number, day: number, hour: number, minute: number, second: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && second < 61;
}

function parseDateTime(match: RegExpExecArray, zone: string): PmacctTime | null | undefined {
  const [, y, mo, d, h, mi, s, fraction, designator] = match;
  if (y === "0000") return null;
  if (!isWallClock(Number(mo), Number(d), Number(h), Number(mi), Number(s))) return undefined;
  const wallAsUtc = wallClockAsUtc(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s));
  if (designator !== undefined) return fromSeconds((wallAsUtc - offsetMinutes(designator) * 60_000) / 1000, fraction);
  const [utcMs, laterMs] = isUtcZone(zone) ? [wallAsUtc] : wallClockToUtc(wallAsUtc, zone);
  const time = fromSeconds(utcMs / 1000, fraction);
  if (time === null) return null;
  const later = laterMs === undefined ? null : fromSeconds(laterMs / 1000, fraction);
  return later === null
    ? { ...time, zoneless: true }
    : { ...time, zoneless: true, later: { ...later, zoneless: true } };
}

function parseNumber(value: number): PmacctTime | null {
  if (!Number.isFinite(value) || value <= 0) return null;
  const whole = Math.floor(value);
  const micros = Math.round((value - whole) * 1e6);
  // A fraction a hair under one rounds up to the next whole second.
  const seconds = micros === 1e6 ? whole + 1 : whole;
  return fromSeconds(seconds, Number.isInteger(value) ? undefined : String(micros % 1e6).padStart(6, "0"));
}

function parseText(value: string, zone: string): PmacctTime | null | undefined {
  const epoch = EPOCH.exec(value);
  if (epoch) {
    const [, seconds, fraction] = epoch;
    return /^0+$/.test(seconds) && /^0*$/.test(fraction ?? "") ? null : fromSeconds(Number(seconds), fraction);
  }
  const match = DATE_TIME.exec(value);
  return match ? parseDateTime(match, zone) : undefined;
}

/** A memoised "not a time", as the memo computes `undefined` again. */
const NOT_A_TIME = Symbol("not a time");

/** Memoised reads of time strings, per zone. */
const readerOf = memoise(
  (zone: string) =>
    memoise((value: string) => {
      const read = parseText(value, zone);
      return read === undefined ? NOT_A_TIME : read;
    }, 50_000),
  100,
);

/**
 * Reads one pmacct time value: `null` for the zero ("unknown") time, `undefined` if it is not a
 * time. A local time in the hour that repeats is the earlier instant, unless the record's Kafka
 * time `kafkaMs` shows the later one is meant ({@linkcode meansLaterReading}). Results are
 * memoised: a batch of flows shares few distinct time strings (`stamp_inserted` is one per
 * history bucket), and zone conversion is costly.
 */
export function readPmacctTime(value: unknown, zone: string, kafkaMs?: number): PmacctTime | null | undefined {
  if (typeof value === "number") return parseNumber(value);
  // Epoch seconds beyond 2^53: past any four-digit year, or before it.
  if (isRawInteger(value)) return null;
  if (typeof value !== "string") return undefined;
  const parsed = readerOf(zone)(value);
  if (parsed === NOT_A_TIME) return undefined;
  return parsed?.later && meansLaterReading(parsed.epochMs, parsed.later.epochMs, kafkaMs) ? parsed.later : parsed;
}

/** Parses one pmacct time value to epoch milliseconds (see {@linkcode readPmacctTime}). */
export function parsePmacctTime(value: unknown, zone: string, kafkaMs?: number): ParsedTime {
  const time = readPmacctTime(value, zone, kafkaMs);
  return time ? time.epochMs : time;
}
