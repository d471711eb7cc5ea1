/**
 * Daily index naming: `<prefix>-yyyy-MM-dd` from a time's UTC date.
 *
 * @example
 * ```ts
 * dailyIndexName("sflow", Date.UTC(2026, 10, 24, 23, 59)); // "sflow-2026-11-24"
 * ```
 */
export function dailyIndexName(prefix: string, epochMs: number): string {
  return `${prefix}-${new Date(epochMs).toISOString().slice(0, 10)}`;
}

/** Pattern that matches every daily index of `prefix`, used by the index template. */
export function indexPattern(prefix: string): string {
  return `${prefix}-*`;
}
