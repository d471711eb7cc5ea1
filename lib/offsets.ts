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

interface Entry {
  offset: number;
  remaining: number;
}

class PartitionOffsets {
  entries: Entry[] = [];
  head = 0;
  byOffset = new Map<number, Entry>();
  /** Next offset to commit once nothing is in flight (last finished offset + 1). */
  frontier: number | undefined;
  committed: number | undefined;
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
   * letters). A message with no units (only markers) is finished at once.
   */
  begin(key: string, offset: number, units: number): void {
    const state = this.#partition(key);
    const entry = { offset, remaining: units };
    state.entries.push(entry);
    if (units > 0) state.byOffset.set(offset, entry);
  }

  /** Acknowledges `units` of the message at `offset`. */
  complete(key: string, offset: number, units = 1): void {
    const entry = this.#partitions.get(key)?.byOffset.get(offset);
    if (!entry) return;
    entry.remaining -= units;
    if (entry.remaining <= 0) this.#partitions.get(key)!.byOffset.delete(offset);
  }

  /** Messages registered but not finished, over all partitions. */
  inFlight(): number {
    let count = 0;
    for (const state of this.#partitions.values()) count += state.byOffset.size;
    return count;
  }

  /**
   * The offset to commit for `key` (Kafka's "next offset to read"), or `undefined` when it has
   * not moved since the last {@linkcode markCommitted}.
   */
  committable(key: string): number | undefined {
    const state = this.#partitions.get(key);
    if (!state) return undefined;
    while (state.head < state.entries.length && state.entries[state.head].remaining <= 0) {
      state.frontier = state.entries[state.head].offset + 1;
      state.head++;
    }
    if (state.head > 1024 && state.head * 2 > state.entries.length) {
      state.entries = state.entries.slice(state.head);
      state.head = 0;
    }
    if (state.frontier === undefined) return undefined;
    const next = state.head < state.entries.length ? state.entries[state.head].offset : state.frontier;
    if ((state.committed !== undefined && next <= state.committed)) return undefined;
    return next;
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
