/**
 * Daily index naming: `<prefix>-yyyy-MM-dd` from a time's UTC date.
 *
 * @example
 * ```ts
 * dailyIndexName("sflow", Date.UTC(2026, 10, 24, 23, 59)); // "sflow-2026-11-24"
 * ```
 */

const DAY_MS = 86_400_000;
/** Names by prefix and UTC day: the date is formatted once a day, not once a record. */
const recentNames = new Map<string, string>();

export function dailyIndexName(prefix: string, epochMs: number): string {
  const day = Math.floor(epochMs / DAY_MS);
  const key = `${prefix}\u0000${day}`;
  let name = recentNames.get(key);
  if (name === undefined) {
    // Flows arrive from a few days at a time; a replay of years only refills the memo.
    if (recentNames.size >= 1000) recentNames.clear();
    name = `${prefix}-${new Date(day * DAY_MS).toISOString().slice(0, 10)}`;
    recentNames.set(key, name);
  }
  return name;
}

/** Pattern that matches every daily index of `prefix`, used by the index template. */
export function indexPattern(prefix: string): string {
  return `${prefix}-*`;
}
