/**
 * Retention by name, as operators script it with curator: a daily index of the prefix goes once
 * the date in its name is more than `keepDays` days before today's UTC date. The date in the name
 * is the flows' own date, so a replay of old flows does not keep an old day alive, as ILM's and
 * ISM's ages (counted from the index's creation) would.
 *
 * @example
 * ```ts
 * // On 2026-11-26, keeping 30 days: today and the 30 days before it stay.
 * expiredIndices(["sflow-2026-10-26", "sflow-2026-10-27", "sflow-eu-2020-01-01"], "sflow", 30, Date.UTC(2026, 10, 26));
 * // ["sflow-2026-10-26"]
 * ```
 */
import { dayOfIndex, utcDay } from "./index_name.ts";

/** The names among `indices` that retention deletes, oldest first; never another prefix's. */
export function expiredIndices(indices: Iterable<string>, prefix: string, keepDays: number, nowMs: number): string[] {
  const today = utcDay(nowMs);
  const expired: Array<[string, number]> = [];
  for (const name of indices) {
    const day = dayOfIndex(prefix, name);
    if (day !== undefined && day < today - keepDays) expired.push([name, day]);
  }
  return expired.sort((a, b) => a[1] - b[1]).map(([name]) => name);
}
