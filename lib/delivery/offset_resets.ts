/**
 * Records Kafka deleted before the bridge read them. When a partition's next offset is no longer
 * held (retention deleted it while the bridge lagged, or before the group came back to it),
 * kafkajs moves the partition to the first or last offset held, as `KAFKA_AUTO_OFFSET_RESET`
 * says, and only logs a line of its own. What lay between is gone: this keeps which partitions
 * were moved, and from the first offset read after the move, which offsets were lost.
 *
 * @example
 * ```ts
 * const resets = new OffsetResets();
 * resets.note("t\u00000", { topic: "t", partition: 0, from: 120 });
 * resets.resumed("t\u00000", 500); // { topic: "t", partition: 0, from: 120, resumedAt: 500 }
 * resets.lost().map(lostText); // ["t:0 offsets 120-499"]
 * ```
 */

/** A partition kafkajs moved because Kafka no longer held the offset it was to read. */
export interface OffsetReset {
  topic: string;
  partition: number;
  /** The next offset to read, when this process read the partition before; else the group's commit. */
  from?: number;
}

/** What a move skipped: `from` up to the offset reading resumed at (not known until a message came). */
export interface SkippedOffsets extends OffsetReset {
  resumedAt?: number;
}

/**
 * `t:0 offsets 120-499`; `t:0 offsets from the group's commit to 499` when the offset read from
 * is not known; `t:0 from offset 120, no longer held` before a message came.
 */
export function lostText({ topic, partition, from, resumedAt }: SkippedOffsets): string {
  const start = from === undefined ? "from the group's commit" : `${from}`;
  if (resumedAt === undefined) return `${topic}:${partition} offsets ${start} on, no longer held`;
  return from === undefined
    ? `${topic}:${partition} offsets ${start} to ${resumedAt - 1}`
    : `${topic}:${partition} offsets ${from}-${resumedAt - 1}`;
}

export class OffsetResets {
  readonly #pending = new Map<string, OffsetReset>();
  readonly #lost: SkippedOffsets[] = [];

  /** Whether a move waits for its partition's next message (checked once a fetched batch). */
  get waiting(): boolean {
    return this.#pending.size > 0;
  }

  /** kafkajs moved the partition `key`; the next message taken of it shows where to. */
  note(key: string, reset: OffsetReset): void {
    this.#pending.set(key, reset);
  }

  /**
   * The first message taken of `key` since its move, at `offset`: the offsets skipped, or
   * `undefined` when none were (no move pending, or reading went back, not on).
   */
  resumed(key: string, offset: number): SkippedOffsets | undefined {
    const reset = this.#pending.get(key);
    if (reset === undefined) return undefined;
    this.#pending.delete(key);
    if (reset.from !== undefined && offset <= reset.from) return undefined;
    const skipped = { ...reset, resumedAt: offset };
    this.#lost.push(skipped);
    return skipped;
  }

  /** Every loss so far, also of moves after which no message came yet. */
  lost(): SkippedOffsets[] {
    return [...this.#lost, ...this.#pending.values()];
  }
}
