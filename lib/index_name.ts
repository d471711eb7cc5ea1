/**
 * Daily index naming: `<prefix>-yyyy-MM-dd` from a time's UTC date.
 *
 * @example
 * ```ts
 * dailyIndexName("sflow", Date.UTC(2026, 10, 24, 23, 59)); // "sflow-2026-11-24"
 * ```
 */
import { memoise } from "./memoise.ts";

const DAY_MS = 86_400_000;
/**
 * Names by prefix and UTC day: the date is formatted once a day, not once a record. Flows arrive
 * from a few days at a time; a replay of years only refills the memo.
 */
const namesOf = memoise(
  (prefix: string) => memoise((day: number) => `${prefix}-${new Date(day * DAY_MS).toISOString().slice(0, 10)}`, 1000),
  100,
);

export function dailyIndexName(prefix: string, epochMs: number): string {
  return namesOf(prefix)(Math.floor(epochMs / DAY_MS));
}

/** Pattern that matches every daily index of `prefix`, used by the index template. */
export function indexPattern(prefix: string): string {
  return `${prefix}-*`;
}
