/**
 * Creates each daily index before the first write to it, with the template's settings and
 * mappings, as the original tool did: clusters with `action.auto_create_index: false` then take
 * every record. An index Elasticsearch reports missing later (deleted by hand or by retention)
 * is forgotten and created again before the retry. A block that refuses the creation is
 * passed on as the block it is.
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

  constructor(
    private readonly service: SearchService,
    private readonly template: IndexTemplate,
    private readonly health: Health,
    private readonly log: Logger,
  ) {}

  async ensure(indices: Iterable<string>): Promise<void> {
    const missing = [...new Set(indices)].filter((index) => !this.#known.has(index));
    await Promise.all(missing.map((index) => this.#create(index)));
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
      this.health.pass(INDEX_CHECK);
      if (outcome === "created") this.log.info("daily index created", { index });
    } catch (error) {
      const { status, message, type } = error as SearchError;
      // A block (the cluster is read-only) is no missing privilege: the bulk writer reports it.
      if (isClusterBlock(type)) throw new BulkRequestError(message, status, type);
      if (status === 403) {
        const problem = `the bridge's user may not create index ${index}: grant it the create_index privilege on ${
          indexPattern(this.template._meta.index_prefix)
        }`;
        this.health.fail(INDEX_CHECK, problem, { error: message });
        throw new BulkRequestError(problem, status);
      }
      throw new BulkRequestError(`cannot create index ${index}: ${message}`, status);
    }
  }
}
