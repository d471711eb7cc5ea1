/**
 * Records a partition skipped because Kafka no longer held the offset it was to read. When that
 * offset is gone (retention deleted it while the bridge lagged, or before the group came back to
 * it), kafkajs moves the partition to the first offset held, or with `KAFKA_AUTO_OFFSET_RESET=latest`
 * to the log's end, and only logs a line of its own. This keeps which partitions were moved and,
 * from the first offset read after the move, which offsets were skipped.
 *
 * @example
 * ```ts
 * const resets = new OffsetResets();
 * resets.note("t\u00000", { topic: "t", partition: 0, from: 120 });
 * resets.resumed("t\u00000", 500); // { kind: "skipped", topic: "t", partition: 0, from: 120, resumedAt: 500 }
 * resets.lost().map(lostText); // ["t:0 offsets 120-499"]
 * ```
 */

/** A partition kafkajs moved because Kafka no longer held the offset it was to read. */
export interface OffsetReset {
  topic: string;
  partition: number;
  /** The next offset to read, when this generation read the partition; else the group's commit. */
  from?: number;
}

/** What a move skipped: `from` up to the offset reading resumed at (not known until a message came). */
export interface SkippedOffsets extends OffsetReset {
  resumedAt?: number;
}

/**
 * Where reading resumed: past offsets never read (`skipped`), or back before offsets already read
 * (`back`: the topic was made again, or cut short by an unclean leader election); at the offset it
 * was to read, there is nothing to say.
 */
export type Resumption = SkippedOffsets & { kind: "skipped" | "back"; resumedAt: number };

/**
 * `t:0 offsets 120-499`; `t:0 offsets from the group's commit to 499` when the offset read from
 * is not known; `t:0 offsets 120 on, no longer held` before a message came.
 */
export function lostText({ topic, partition, from, resumedAt }: SkippedOffsets): string {
  const start = from === undefined ? "from the group's commit" : `${from}`;
  if (resumedAt === undefined) return `${topic}:${partition} offsets ${start} on, no longer held`;
  if (resumedAt < (from ?? 0)) return `${topic}:${partition} went back to offset ${resumedAt} from ${start}`;
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
   * The first message taken of `key` since its move, at `offset`; `undefined` when no move waits.
   * Offset 0 with no known `from` skipped nothing (no offset lies below it).
   */
  resumed(key: string, offset: number): Resumption | undefined {
    const reset = this.#pending.get(key);
    if (reset === undefined) return undefined;
    this.#pending.delete(key);
    // Resumed where it was (or at 0 with no known start): nothing skipped, nothing read again.
    if (reset.from === undefined ? offset <= 0 : offset === reset.from) return undefined;
    const kind = reset.from !== undefined && offset < reset.from ? "back" : "skipped";
    const resumption: Resumption = { ...reset, resumedAt: offset, kind };
    this.#lost.push(resumption);
    return resumption;
  }

  /**
   * A rebalance: the partitions may now be read elsewhere, so no later message tells where a move
   * led. The moves still waiting stay lost, without their end.
   */
  newGeneration(): void {
    this.#lost.push(...this.#pending.values());
    this.#pending.clear();
  }

  /** Every loss so far, also of moves after which no message came. */
  lost(): SkippedOffsets[] {
    return [...this.#lost, ...this.#pending.values()];
  }
}
