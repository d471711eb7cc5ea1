/**
 * Parses the time encodings pmacct writes into epoch milliseconds.
 *
 * pmacct prints times as `"2026-11-24 19:10:16"` or with microseconds (`timestamps_secs` off),
 * in the collector's local time unless `timestamps_utc: true`; as RFC 3339
 * (`timestamps_rfc3339`); or as epoch seconds with decimals (`timestamps_since_epoch`,
 * `"1677577599.000000"`). A zero time (`"0000-00-00 00:00:00.000000"`, `"0.000000"`, `0`) means
 * "unknown" and parses to `null`, never to 1970.
 *
 * @example
 * ```ts
 * parsePmacctTime("2026-11-24 19:10:16.250000", "UTC"); // 1795547416250
 * parsePmacctTime("0000-00-00 00:00:00", "UTC"); // null
 * parsePmacctTime("1677577599.000000", "UTC"); // 1677577599000
 * ```
 */

/** Epoch milliseconds; `null` for pmacct's zero ("unknown") time; `undefined` if not a time. */
export type ParsedTime = number | null | undefined;

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;
const EPOCH = /^\d+(?:\.\d+)?$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

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

/** Offset of `zone` from UTC at instant `utcMs`, in milliseconds (east positive). */
function zoneOffsetMs(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(utcMs))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const wallAsUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wallAsUtc - Math.floor(utcMs / 1000) * 1000;
}

/** Converts a wall-clock time in `zone` to UTC, resolving DST gaps and overlaps like `Temporal` "compatible". */
function wallClockToUtc(wallAsUtc: number, zone: string): number {
  const firstGuess = wallAsUtc - zoneOffsetMs(zone, wallAsUtc);
  const offset = zoneOffsetMs(zone, firstGuess);
  return wallAsUtc - offset;
}

function offsetMinutes(designator: string): number {
  if (designator === "Z") return 0;
  const digits = designator.slice(1).replace(":", "");
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  return designator[0] === "-" ? -minutes : minutes;
}

function parseDateTime(match: RegExpExecArray, zone: string): ParsedTime {
  const [, y, mo, d, h, mi, s, fraction, designator] = match;
  if (y === "0000") return null;
  const millis = fraction ? Number(fraction.padEnd(3, "0").slice(0, 3)) : 0;
  const wallAsUtc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), millis);
  if (Number.isNaN(wallAsUtc)) return undefined;
  if (designator !== undefined) return wallAsUtc - offsetMinutes(designator) * 60_000;
  return zone === "UTC" || zone === "Etc/UTC" ? wallAsUtc : wallClockToUtc(wallAsUtc, zone);
}

const cache = new Map<string, ParsedTime>();
const CACHE_LIMIT = 50_000;

/**
 * Parses one pmacct time value. Results are memoised: a batch of flows shares few distinct
 * time strings (`stamp_inserted` is one per history bucket), and zone conversion is costly.
 */
export function parsePmacctTime(value: unknown, zone: string): ParsedTime {
  if (typeof value === "number") return Number.isFinite(value) && value > 0 ? Math.round(value * 1000) : null;
  if (typeof value !== "string") return undefined;
  const key = `${zone}|${value}`;
  if (cache.has(key)) return cache.get(key);
  let parsed: ParsedTime;
  if (EPOCH.test(value)) {
    const seconds = Number(value);
    parsed = seconds > 0 ? Math.round(seconds * 1000) : null;
  } else {
    const match = DATE_TIME.exec(value);
    parsed = match ? parseDateTime(match, zone) : undefined;
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, parsed);
  return parsed;
}
