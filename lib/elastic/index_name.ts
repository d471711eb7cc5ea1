/**
 * Daily index naming: `<prefix>-yyyy-MM-dd` from a time's UTC date.
 *
 * @example
 * ```ts
 * dailyIndexName("sflow", Date.UTC(2026, 10, 24, 23, 59)); // "sflow-2026-11-24"
 * ```
 */
import { memoise } from "../runtime/memoise.ts";

const DAY_MS = 86_400_000;
/**
 * Names by prefix and UTC day: the date is formatted once a day, not once a record. Flows arrive
 * from a few days at a time; a replay of years only refills the memo.
 */
const namesOf = memoise(
  (prefix: string) => memoise((day: number) => `${prefix}-${new Date(day * DAY_MS).toISOString().slice(0, 10)}`, 1000),
  100,
);

/** Days since 1970-01-01 (UTC) of an instant: what a daily index stands for. */
export function utcDay(epochMs: number): number {
  return Math.floor(epochMs / DAY_MS);
}

export function dailyIndexName(prefix: string, epochMs: number): string {
  return namesOf(prefix)(utcDay(epochMs));
}

/**
 * The UTC day (days since 1970-01-01) of a daily index of `prefix`, read from its name; `undefined`
 * for any other name: another prefix's (`sflow-eu-2026-11-24` is not `sflow`'s), or a date that
 * is not one (`sflow-2026-02-30`).
 */
export function dayOfIndex(prefix: string, name: string): number | undefined {
  if (!name.startsWith(`${prefix}-`)) return undefined;
  const date = name.slice(prefix.length + 1);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return undefined;
  const epochMs = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(epochMs) || dailyIndexName(prefix, epochMs) !== name) return undefined;
  return utcDay(epochMs);
}

/** Every index whose name starts with `prefix-`: what retention lists (and then reads strictly). */
export function indexPattern(prefix: string): string {
  return `${prefix}-*`;
}

/**
 * The index template's patterns: `prefix-` and a digit, as a daily index's year begins. Unlike
 * `prefix-*` they never match another prefix's indices (`sflow-eu-2026-12-01` is not `sflow`'s),
 * so the templates of `sflow` and `sflow-eu` do not overlap. (Patterns have only `*` wildcards.)
 */
export function dailyIndexPatterns(prefix: string): string[] {
  return Array.from({ length: 10 }, (_, digit) => `${prefix}-${digit}*`);
}
