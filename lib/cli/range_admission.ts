/**
 * The admission stage of a one-off run over planned offset ranges (`--backfill`,
 * `--replay-dead-letters`): of each partition, the messages before its end offset; of their
 * records, those filed in the run's period. What it lets go is counted, and the first offset it
 * saw of each partition says where the run really began.
 *
 * @example
 * ```ts
 * const admission = new RangeAdmission({ period: { startMs: 0, endMs: 86_400_000 }, endOffsets: new Map([[key, 10]]) });
 * admission.message(key, "10"); // "skip": past the range
 * admission.document(90_000_000); // false: after the period, counted in outOfPeriod
 * ```
 */
import { partitionKey } from "../delivery/acknowledgement.ts";
import type { AdmissionStage, Reading } from "../delivery/stages.ts";

/** What a one-off run takes. */
export interface ReadBounds {
  /** Documents filed in `[startMs, endMs)`; undecodable lines published in it. */
  period: { startMs: number; endMs: number };
  /** Per partition key (see `partitionKey`), the first offset not to take. */
  endOffsets: ReadonlyMap<string, number>;
  /**
   * Leaves the messages at and after each end offset unacknowledged, so never committed: they are
   * the next run's, in a group that lasts (`--replay-dead-letters`). By default they are
   * acknowledged unread, so that the commit passes the end even where offsets are missing there.
   */
  keepPastEnd?: boolean;
}

/** Every period: a replay reads letters of any day. */
export const ANY_TIME = { startMs: -Infinity, endMs: Infinity } as const;

export class RangeAdmission implements AdmissionStage {
  readonly #firstOffsets = new Map<string, number>();
  #outOfPeriod = 0;

  constructor(private readonly bounds: ReadBounds) {}

  message(key: string, offset: string): Reading {
    if (!this.#firstOffsets.has(key)) this.#firstOffsets.set(key, Number(offset));
    const end = this.bounds.endOffsets.get(key);
    if (end === undefined || Number(offset) < end) return "read";
    return this.bounds.keepPastEnd ? "leave" : "skip";
  }

  document(epochMs: number): boolean {
    return this.#inPeriod(epochMs);
  }

  /**
   * A bounded run reads around its period: what cannot be a document there was dead-lettered by
   * the running bridge already, and is dead-lettered again only when published in the period.
   */
  letter(timestampMs: number): boolean {
    return this.#inPeriod(timestampMs);
  }

  /**
   * Lines not written because they are not of the period: documents filed outside it, and lines
   * that are no document, published outside it.
   */
  get outOfPeriod(): number {
    return this.#outOfPeriod;
  }

  /**
   * The first offset taken of a partition, whatever the generation: after its planned start,
   * Kafka deleted records of the range while the run read it.
   */
  firstOffset(topic: string, partition: number): number | undefined {
    return this.#firstOffsets.get(partitionKey(topic, partition));
  }

  #inPeriod(epochMs: number): boolean {
    const { startMs, endMs } = this.bounds.period;
    const inside = epochMs >= startMs && epochMs < endMs;
    if (!inside) this.#outOfPeriod++;
    return inside;
  }
}
