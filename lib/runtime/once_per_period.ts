/**
 * Says yes to a key once per period: for a log line that would otherwise repeat with every
 * record, such as one per misconfigured exporter.
 *
 * @example
 * ```ts
 * const once = new OncePerPeriod(600_000);
 * once.due("192.0.2.1", 0); // true
 * once.due("192.0.2.1", 1000); // false: within the period
 * once.due("192.0.2.1", 600_000); // true
 * ```
 */
export class OncePerPeriod {
  readonly #last = new Map<string, number>();

  /** `maxKeys` bounds the memory: past it, every key is due again once. */
  constructor(private readonly periodMs: number, private readonly maxKeys = 10_000) {}

  due(key: string, nowMs: number): boolean {
    const last = this.#last.get(key);
    if (last !== undefined && nowMs - last < this.periodMs) return false;
    if (last === undefined && this.#last.size >= this.maxKeys) this.#last.clear();
    this.#last.set(key, nowMs);
    return true;
  }
}
