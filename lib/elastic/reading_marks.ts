/**
 * Whether a consumer group read a partition before, kept where it outlives Kafka's memory of the
 * group: a group's committed offsets expire after `offsets.retention.minutes` with no member
 * running, and go with a deleted topic, after which Kafka cannot tell the group from a new one.
 * One small document per group and partition, in a hidden index beside the daily ones
 * (`<prefix>-bridge-state`, under the same privileges), written once with `_create`: its answer
 * says whether it was there already.
 *
 * @example
 * ```ts
 * const marks = new ReadingMarks(service, "sflow", "MkU3OEVB");
 * await marks.firstReading("flows", "pmacct", 3); // true: never read before; false the next time
 * ```
 */
import type { SearchService } from "./service.ts";

export class ReadingMarks {
  readonly #index: string;
  #created: Promise<unknown> | undefined;

  /** `cluster`: the Kafka cluster's id, so that two clusters' groups of one name are apart. */
  constructor(private readonly service: SearchService, prefix: string, private readonly cluster = "") {
    this.#index = `${prefix}-bridge-state`;
  }

  /**
   * Marks that `group` reads `topic`:`partition`; `true` when it never had, `false` when it had
   * (its commit, if it has none now, was lost).
   */
  async firstReading(group: string, topic: string, partition: number): Promise<boolean> {
    // Hidden: searches of `<prefix>-*` never see it; one shard, a replica where there is a node for it.
    this.#created ??= this.service.createIndex(this.#index, {
      settings: { index: { hidden: true, number_of_shards: 1, auto_expand_replicas: "0-1" } },
      mappings: { dynamic: false, properties: {} },
    }).catch((error) => {
      this.#created = undefined;
      throw error;
    });
    await this.#created;
    const id = `${this.cluster}:${group}:${topic}:${partition}`;
    const body = { group, topic, partition, cluster: this.cluster, first_read: new Date().toISOString() };
    return await this.service.createDocument(this.#index, id, body) === "created";
  }
}
