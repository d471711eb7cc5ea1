/**
 * The batching policy: documents wait in per-index buckets until a full batch is buffered or
 * the oldest has waited long enough. Pure: the caller passes the clock in.
 *
 * @example
 * ```ts
 * const buffer = new BulkBuffer<{ index: string }>({ maxBatch: 2, maxWaitMs: 10_000 });
 * buffer.add({ index: "sflow-2026-11-24" }, 0);
 * buffer.due(5_000); // false: one document, 5 s old
 * buffer.due(10_000); // true: the oldest has waited 10 s
 * ```
 */

export interface BufferPolicy<T = unknown> {
  /** Documents per `_bulk` request (`ELASTIC_MAX_SAMPLES_PER_SEND`). */
  maxBatch: number;
  /** How long a document may wait (`ELASTIC_MAX_TIME_TO_SEND`, in ms). */
  maxWaitMs: number;
  /** Bytes per `_bulk` request, as `sizeOf` counts them; a document larger goes alone. */
  maxBatchBytes?: number;
  /** A document's bytes; 0 each by default. */
  sizeOf?: (item: T) => number;
}

interface Bucket<T> {
  items: T[];
  head: number;
  oldestAt: number;
}

/** Documents grouped by index, so one `_bulk` request writes few indices in long runs. */
export class BulkBuffer<T extends { index: string }> {
  #buckets = new Map<string, Bucket<T>>();
  #size = 0;
  #bytes = 0;
  readonly #sizeOf: (item: T) => number;
  readonly #maxBatchBytes: number;

  constructor(readonly policy: BufferPolicy<T>) {
    this.#sizeOf = policy.sizeOf ?? (() => 0);
    this.#maxBatchBytes = policy.maxBatchBytes ?? Infinity;
  }

  get size(): number {
    return this.#size;
  }

  /** The buffered documents' bytes, as the policy's `sizeOf` counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  add(item: T, now: number): void {
    let bucket = this.#buckets.get(item.index);
    if (!bucket) {
      bucket = { items: [], head: 0, oldestAt: now };
      this.#buckets.set(item.index, bucket);
    }
    bucket.items.push(item);
    this.#size++;
    this.#bytes += this.#sizeOf(item);
  }

  /** Time the oldest buffered document was added, or `undefined` when empty. */
  oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const bucket of this.#buckets.values()) {
      if (oldest === undefined || bucket.oldestAt < oldest) oldest = bucket.oldestAt;
    }
    return oldest;
  }

  /** Whether a batch should be sent now: a full batch is waiting, or the oldest is due. */
  due(now: number): boolean {
    if (this.#size >= this.policy.maxBatch || this.#bytes >= this.#maxBatchBytes) return true;
    const oldest = this.oldestAt();
    return oldest !== undefined && now - oldest >= this.policy.maxWaitMs;
  }

  /** Empties the buffer; returns how many documents were dropped. */
  clear(): number {
    const dropped = this.#size;
    this.#buckets.clear();
    this.#size = 0;
    this.#bytes = 0;
    return dropped;
  }

  /**
   * Removes and returns up to `maxBatch` documents and `maxBatchBytes` (one at least), oldest
   * bucket first, grouped by index.
   */
  take(now: number): T[] {
    const batch: T[] = [];
    let bytes = 0;
    const buckets = [...this.#buckets.entries()].sort(([, a], [, b]) => a.oldestAt - b.oldestAt);
    for (const [index, bucket] of buckets) {
      const count = Math.min(this.policy.maxBatch - batch.length, bucket.items.length - bucket.head);
      let taken = 0;
      while (taken < count) {
        const item = bucket.items[bucket.head + taken];
        const size = this.#sizeOf(item);
        if (batch.length > 0 && bytes + size > this.#maxBatchBytes) break;
        batch.push(item);
        bytes += size;
        taken++;
      }
      bucket.head += taken;
      if (bucket.head === bucket.items.length) {
        this.#buckets.delete(index);
      } else if (taken > 0) {
        bucket.items = bucket.items.slice(bucket.head);
        bucket.head = 0;
        bucket.oldestAt = now;
      }
      if (batch.length === this.policy.maxBatch || taken < count) break;
    }
    this.#size -= batch.length;
    this.#bytes -= bytes;
    return batch;
  }
}
