/**
 * Whether a consumer group read a partition before, kept where it outlives Kafka's memory of the
 * group: a group's committed offsets expire after `offsets.retention.minutes` with no member
 * running, and go with a deleted topic, after which Kafka cannot tell the group from a new one.
 * One small document per Kafka cluster, group and partition, in a hidden index beside the daily
 * ones (`<prefix>-bridge-state`, under the same privileges), written once with `_create`: its
 * answer says whether it was there already. The index has a template of its own, so that no other
 * template matching its name (`logs-*-*` makes data streams only) decides what it is, and an index
 * made again by a write (someone deleted it) is hidden too.
 *
 * @example
 * ```ts
 * const marks = new ReadingMarks(service, "sflow", "MkU3OEVB");
 * await marks.firstReading("flows", "pmacct", 3); // true: never read before; false the next time
 * ```
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { type IndexTemplate, templatePriority } from "./index_template.ts";
import type { SearchService } from "./service.ts";

/** Elasticsearch refuses longer document ids. */
const MAX_ID_BYTES = 512;

/** The template of `<prefix>-bridge-state`: one shard, a replica where there is a node for it, hidden. */
export function readingMarksTemplate(prefix: string): IndexTemplate {
  return {
    index_patterns: [readingMarksIndex(prefix)],
    // The daily template's: no other index of the prefix matches both.
    priority: templatePriority(prefix),
    template: {
      settings: { "index.hidden": true, "index.number_of_shards": 1, "index.auto_expand_replicas": "0-1" },
      mappings: {
        dynamic: false,
        properties: {
          cluster: { type: "keyword" },
          group: { type: "keyword" },
          topic: { type: "keyword" },
          partition: { type: "integer" },
          first_read: { type: "date" },
        },
      },
    },
    _meta: { managed_by: "pmacct-kafka-elastic", index_prefix: prefix },
  };
}

/** Where the prefix's reading marks are kept. */
export function readingMarksIndex(prefix: string): string {
  return `${prefix}-bridge-state`;
}

/** A mark's id: its cluster, group, topic and partition, or their SHA-256 where that is too long. */
export function readingMarkId(cluster: string, group: string, topic: string, partition: number): string {
  const id = `${cluster}:${group}:${topic}:${partition}`;
  return Buffer.byteLength(id) <= MAX_ID_BYTES ? id : `sha256:${createHash("sha256").update(id).digest("hex")}`;
}

export class ReadingMarks {
  readonly #template: IndexTemplate;
  #ready: Promise<unknown> | undefined;

  /** `cluster`: the Kafka cluster's id, so that two clusters' groups of one name are apart. */
  constructor(private readonly service: SearchService, private readonly prefix: string, private readonly cluster = "") {
    this.#template = readingMarksTemplate(prefix);
  }

  /**
   * Marks that `group` reads `topic`:`partition`; `true` when it never had, `false` when it had
   * (its commit, if it has none now, was lost).
   */
  async firstReading(group: string, topic: string, partition: number): Promise<boolean> {
    this.#ready ??= this.#prepare().catch((error) => {
      this.#ready = undefined;
      throw error;
    });
    await this.#ready;
    const body = { cluster: this.cluster, group, topic, partition, first_read: new Date().toISOString() };
    const id = readingMarkId(this.cluster, group, topic, partition);
    return await this.service.createDocument(readingMarksIndex(this.prefix), id, body) === "created";
  }

  /** The template, then the index (`action.auto_create_index: false` is fine). */
  async #prepare(): Promise<void> {
    await this.service.putIndexTemplate(`${readingMarksIndex(this.prefix)}`, this.#template);
    await this.service.createIndex(readingMarksIndex(this.prefix), this.#template.template);
  }
}
