/**
 * Creates each daily index before the first write to it, with the template's settings and
 * mappings, as the original tool did: clusters with `action.auto_create_index: false` then take
 * every record. An index Elasticsearch reports missing later (deleted by hand or by retention)
 * is forgotten and created again before the retry. An index that cannot be created (shards at
 * `cluster.max_shards_per_node`, an alias holding its name, a missing privilege) holds only its
 * own documents: it is named on `/readyz` until it is made, and the other indices are written
 * meanwhile. A block that refuses the creation is passed on as the block it is.
 */
import { BulkRequestError, type IndexPreparer } from "./bulk_writer.ts";
import type { Health } from "../runtime/health.ts";
import type { IndexTemplate } from "./index_template.ts";
import { indexPattern } from "./index_name.ts";
import type { Logger } from "../runtime/log.ts";
import { isClusterBlock } from "./block.ts";
import type { SearchService } from "./service.ts";
import type { SearchError } from "./transport.ts";

/** The readiness check this file owns. */
export const INDEX_CHECK = "index_creation";

export class IndexCreator implements IndexPreparer {
  readonly #known = new Set<string>();
  readonly #creating = new Map<string, Promise<void>>();
  /** Why each index that the cluster refused to create is not there, until it is. */
  readonly #problems = new Map<string, string>();

  constructor(
    private readonly service: SearchService,
    private readonly template: IndexTemplate,
    private readonly health: Health,
    private readonly log: Logger,
  ) {}

  async ensure(indices: Iterable<string>): Promise<Map<string, BulkRequestError>> {
    const missing = [...new Set(indices)].filter((index) => !this.#known.has(index));
    const failures = new Map<string, BulkRequestError>();
    await Promise.all(missing.map((index) =>
      this.#create(index).catch((error: BulkRequestError) => {
        failures.set(index, error);
      })
    ));
    return failures;
  }

  forget(index: string): void {
    this.#known.delete(index);
  }

  #create(index: string): Promise<void> {
    let creating = this.#creating.get(index);
    if (!creating) {
      creating = this.#attempt(index).finally(() => this.#creating.delete(index));
      this.#creating.set(index, creating);
    }
    return creating;
  }

  async #attempt(index: string): Promise<void> {
    try {
      const outcome = await this.service.createIndex(index, this.template.template);
      this.#known.add(index);
      this.#report(index, undefined);
      if (outcome === "created") this.log.info("daily index created", { index });
    } catch (error) {
      const { status, message, type } = error as SearchError;
      // A block (the cluster is read-only) is no missing privilege, and no answer is an outage:
      // the bulk writer reports both.
      if (isClusterBlock(type) || status === undefined) throw new BulkRequestError(message, status, type);
      const problem = status === 403
        ? `the bridge's user may not create index ${index}: grant it the create_index privilege on ${
          indexPattern(this.template._meta.index_prefix)
        }`
        : `cannot create index ${index}: ${message}; its records are retried, the other indices' are written`;
      this.#report(index, problem, message);
      throw new BulkRequestError(problem, status, type);
    }
  }

  /** Records why `index` is not there (`undefined`: it is now), and puts every such index on `/readyz`. */
  #report(index: string, problem: string | undefined, error?: string): void {
    if (problem === undefined) this.#problems.delete(index);
    else this.#problems.set(index, problem);
    if (this.#problems.size === 0) return this.health.pass(INDEX_CHECK);
    this.health.fail(INDEX_CHECK, [...this.#problems.values()].join("; "), error === undefined ? {} : { error });
  }
}
