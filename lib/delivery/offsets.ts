/**
 * Tracks which Kafka offsets are safe to commit: per partition, the offset below which every
 * message has been fully acknowledged (indexed by Elasticsearch or dead-lettered). Messages
 * finish out of order (batches are sent concurrently and retried); the commit point only moves
 * over a contiguous run of finished messages.
 *
 * @example
 * ```ts
 * const tracker = new OffsetTracker();
 * tracker.begin("t:0", 5, 1);
 * tracker.begin("t:0", 6, 1);
 * tracker.complete("t:0", 6);
 * tracker.committable("t:0"); // undefined: offset 5 is still in flight
 * tracker.complete("t:0", 5);
 * tracker.committable("t:0"); // 7: the next offset to read
 * ```
 */

/**
 * One partition's messages in the order they were taken (Kafka delivers a partition's offsets in
 * increasing order), as parallel arrays: no object per message, and an acknowledgement finds its
 * message by binary search.
 */
class PartitionOffsets {
  offsets: number[] = [];
  /** Acknowledgements each message still waits for. */
  remaining: number[] = [];
  /** Messages before this index are finished and no longer searched. */
  head = 0;
  unfinished = 0;
  /** Next offset to commit once nothing is in flight (last finished offset + 1). */
  frontier: number | undefined;
  committed: number | undefined;
  /** The highest offset begun: Kafka may deliver a message again, and it is taken only once. */
  lastBegun = -1;
  /** The first offset begun. */
  firstBegun: number | undefined;

  indexOf(offset: number): number {
    let low = this.head;
    let high = this.offsets.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = this.offsets[middle];
      if (found === offset) return middle;
      if (found < offset) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }
}

export class OffsetTracker {
  #partitions = new Map<string, PartitionOffsets>();

  #partition(key: string): PartitionOffsets {
    let state = this.#partitions.get(key);
    if (!state) {
      state = new PartitionOffsets();
      this.#partitions.set(key, state);
    }
    return state;
  }

  /**
   * Registers a message that will finish after `units` acknowledgements (its records and dead
   * letters). A message with no units (only markers) is finished at once. A partition's messages
   * begin in offset order; a message at or below the last one begun was delivered again (kafkajs
   * re-fetches after an `eachBatch` error) and is refused (`false`): its first copy is already
   * on its way, and counting its acknowledgements twice would let the commit pass a record that
   * neither copy has indexed.
   */
  begin(key: string, offset: number, units: number): boolean {
    const state = this.#partition(key);
    if (offset <= state.lastBegun) return false;
    state.lastBegun = offset;
    state.firstBegun ??= offset;
    state.offsets.push(offset);
    state.remaining.push(units);
    if (units > 0) state.unfinished++;
    return true;
  }

  /** Whether the message at `offset` was already begun in this generation (so is not taken again). */
  begun(key: string, offset: number): boolean {
    return offset <= (this.#partitions.get(key)?.lastBegun ?? -1);
  }

  /** The offset after the last one begun, if any was. */
  nextAfterBegun(key: string): number | undefined {
    const lastBegun = this.#partitions.get(key)?.lastBegun ?? -1;
    return lastBegun < 0 ? undefined : lastBegun + 1;
  }

  /**
   * Messages of `key` tracked now: from the first one not yet finished (the commit waits there)
   * to the last one begun. Each costs a few bytes, so a partition whose commit cannot move is
   * read no further past a bound of these.
   */
  span(key: string): number {
    const state = this.#partitions.get(key);
    if (!state) return 0;
    this.#advance(state);
    return state.offsets.length - state.head;
  }

  /** The offset of the first message of `key` not finished, which holds its commit; none when all are. */
  oldestUnfinished(key: string): number | undefined {
    const state = this.#partitions.get(key);
    if (!state) return undefined;
    this.#advance(state);
    return state.head < state.offsets.length ? state.offsets[state.head] : undefined;
  }

  /** The first offset begun of `key`, if any was. */
  firstBegun(key: string): number | undefined {
    return this.#partitions.get(key)?.firstBegun;
  }

  /** Acknowledges `units` of the message at `offset`. */
  complete(key: string, offset: number, units = 1): void {
    const state = this.#partitions.get(key);
    const index = state?.indexOf(offset) ?? -1;
    if (index < 0 || state!.remaining[index] <= 0) return;
    state!.remaining[index] -= units;
    if (state!.remaining[index] <= 0) state!.unfinished--;
  }

  /** Messages registered but not finished, over all partitions. */
  inFlight(): number {
    let count = 0;
    for (const state of this.#partitions.values()) count += state.unfinished;
    return count;
  }

  /**
   * The offset to commit for `key` (Kafka's "next offset to read"), or `undefined` when it has
   * not moved since the last {@linkcode markCommitted}.
   */
  committable(key: string): number | undefined {
    const state = this.#partitions.get(key);
    if (!state) return undefined;
    this.#advance(state);
    if (state.frontier === undefined) return undefined;
    const next = state.head < state.offsets.length ? state.offsets[state.head] : state.frontier;
    if ((state.committed !== undefined && next <= state.committed)) return undefined;
    return next;
  }

  /** Moves the head past finished messages, and lets the arrays go once most of them are behind it. */
  #advance(state: PartitionOffsets): void {
    const { offsets, remaining } = state;
    while (state.head < offsets.length && remaining[state.head] <= 0) {
      state.frontier = offsets[state.head] + 1;
      state.head++;
    }
    if (state.head > 1024 && state.head * 2 > offsets.length) {
      state.offsets = offsets.slice(state.head);
      state.remaining = remaining.slice(state.head);
      state.head = 0;
    }
  }

  markCommitted(key: string, offset: number): void {
    const state = this.#partition(key);
    state.committed = Math.max(state.committed ?? offset, offset);
  }

  committedOffset(key: string): number | undefined {
    return this.#partitions.get(key)?.committed;
  }

  /** Keys of the partitions being tracked. */
  keys(): string[] {
    return [...this.#partitions.keys()];
  }

  /** Forgets a partition (after it was revoked); its late acknowledgements are ignored. */
  forget(key: string): void {
    this.#partitions.delete(key);
  }
}
