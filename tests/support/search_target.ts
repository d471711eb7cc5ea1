/**
 * Reads back what a search server holds, over plain `fetch` (with the stack's CA for HTTPS):
 * independent of the clients the bridge uses, and the same for Elasticsearch 7 to 9 and
 * OpenSearch.
 */
import type { DayTotals } from "./flow_oracle.ts";
import { REPO_ROOT } from "./fixtures.ts";

/** The stack's test certificates (`stack/stack.sh install` makes them) and its CA. */
export const STACK_CERTS = `${REPO_ROOT}.stack/certs`;
export const STACK_CA = `${STACK_CERTS}/ca.pem`;

export interface IndexedDocument {
  id: string;
  index: string;
  /** Above 1: the document was written again. */
  version: number;
  /** The document's source, when asked for. */
  source?: Record<string, unknown>;
}

/** es9 of the stack has no anonymous access; its superuser, made at each start. */
export const ES9_ADMIN = { username: "admin", password: "admin-secret" };

export class SearchTarget {
  readonly #client: Deno.HttpClient | undefined;
  readonly #authorization: string | undefined;

  constructor(readonly url: string, auth?: { username: string; password: string }) {
    this.#authorization = auth && `Basic ${btoa(`${auth.username}:${auth.password}`)}`;
    this.#client = url.startsWith("https:")
      ? Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(STACK_CA)] })
      : undefined;
  }

  // deno-lint-ignore no-explicit-any
  async request(method: string, path: string, body?: unknown): Promise<any> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      client: this.#client,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(this.#authorization ? { authorization: this.#authorization } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${this.url}${path} answered ${response.status}: ${text.slice(0, 500)}`);
    }
    return text === "" ? {} : JSON.parse(text);
  }

  /**
   * Makes everything written so far searchable. Waits first for the prefix's primaries to
   * start: a search that meets an index the bridge is creating right now fails with 503
   * `no_shard_available_action_exception` instead of finding it empty.
   */
  async refresh(prefix: string): Promise<void> {
    await this.request("GET", `/_cluster/health/${prefix}-*?wait_for_status=yellow&timeout=60s`);
    await this.request("POST", `/${prefix}-*/_refresh?allow_no_indices=true`);
  }

  /** Per daily index: documents, bytes and packets, as the server aggregates them. */
  async sums(prefix: string): Promise<DayTotals> {
    await this.refresh(prefix);
    const response = await this.request("POST", `/${prefix}-*/_search?allow_no_indices=true`, {
      size: 0,
      aggs: {
        by_index: {
          terms: { field: "_index", size: 1000 },
          aggs: { bytes: { sum: { field: "bytes" } }, packets: { sum: { field: "packets" } } },
        },
      },
    });
    const buckets: Array<{ key: string; doc_count: number; bytes: { value: number }; packets: { value: number } }> =
      response.aggregations?.by_index?.buckets ?? [];
    return Object.fromEntries(
      buckets.map((bucket) => [bucket.key, {
        count: bucket.doc_count,
        bytes: bucket.bytes.value,
        packets: bucket.packets.value,
      }]),
    );
  }

  /** Every document in the prefix's indices (with repeats, should a record be there twice). */
  async documents(prefix: string, withSource = false): Promise<IndexedDocument[]> {
    await this.refresh(prefix);
    const documents: IndexedDocument[] = [];
    let page = await this.request("POST", `/${prefix}-*/_search?allow_no_indices=true&scroll=1m`, {
      size: 5000,
      _source: withSource,
      version: true,
      sort: ["_doc"],
    });
    while (page.hits.hits.length > 0) {
      for (const hit of page.hits.hits) {
        documents.push({ id: hit._id, index: hit._index, version: hit._version ?? 1, source: hit._source });
      }
      page = await this.request("POST", "/_search/scroll", { scroll: "1m", scroll_id: page._scroll_id });
    }
    if (page._scroll_id) {
      await this.request("DELETE", "/_search/scroll", { scroll_id: page._scroll_id }).catch(() => {});
    }
    return documents;
  }

  /** Field → mapping type, per index of the prefix. */
  async fieldTypes(prefix: string): Promise<Record<string, Record<string, string>>> {
    const mappings = await this.request("GET", `/${prefix}-*/_mapping`);
    return Object.fromEntries(
      Object.entries(mappings).map(([index, value]) => {
        const properties = (value as { mappings: { properties?: Record<string, { type?: string }> } }).mappings
          .properties ?? {};
        return [
          index,
          Object.fromEntries(Object.entries(properties).map(([field, { type }]) => [field, type ?? "object"])),
        ];
      }),
    );
  }
}
