/**
 * Reads back what a search server holds, over plain `fetch` (with the stack's CA for HTTPS):
 * independent of the clients the bridge uses, and the same for Elasticsearch 7 to 9 and
 * OpenSearch. Every read-back goes through {@linkcode SearchTarget.request}, which waits out
 * shards that have not started yet: a daily index the bridge has just created answers a search
 * with 503 `no_shard_available_action_exception`, or, searched with others by a pattern, with 200
 * and the documents of the started shards only (`_shards.failed` 1), which would be a silent
 * undercount.
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

/** How long a read-back waits for shards to start before it fails, naming them. */
export const READ_BACK_PATIENCE_MS = 60_000;
const READ_BACK_POLL_MS = 250;

/** Reads, which may be sent again: searches, counts, refreshes and every GET. */
const READ_BACK_PATH = /\/_(search|count|refresh|msearch)(\/|\?|$)/;
const SEARCH_PATH = /\/_(search|count|msearch)(\/|\?|$)/;
/** A scroll's next page is not asked again: the scroll has moved on past what a failure returned. */
const SCROLL_PAGE = /^\/_search\/scroll/;

/** The errors, answered 503, of a search or count that met a shard not started. */
const SHARD_ERRORS = new Set(["no_shard_available_action_exception", "search_phase_execution_exception"]);

/**
 * Why an answer is not a whole one yet (a shard not started), or `undefined` when it is. A
 * search's or count's `_shards` counts one copy per shard; a refresh's counts replicas too, so
 * only a search's missing shards say anything.
 */
export function shardsNotReady(status: number, body: unknown, search: boolean): string | undefined {
  const answer = body as {
    error?: { type?: string };
    _shards?: { total: number; successful: number; skipped?: number };
  };
  const error = answer?.error?.type;
  if (status === 503 && error !== undefined && SHARD_ERRORS.has(error)) return `503 ${error}`;
  const shards = answer?._shards;
  if (search && status >= 200 && status < 300 && shards && shards.successful + (shards.skipped ?? 0) < shards.total) {
    return `${shards.total - shards.successful - (shards.skipped ?? 0)} of ${shards.total} shards did not answer`;
  }
  return undefined;
}

/** The answer's JSON; an error's text that is not JSON (a proxy's page) is kept as it is. */
function parseAnswer(text: string, status: number): unknown {
  if (text === "") return {};
  if (status >= 200 && status < 300) return JSON.parse(text);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Where a document's counters are: pmacct's names, or ECS's. */
export interface CounterFields {
  bytes: string;
  packets: string;
}
export const PMACCT_COUNTERS: CounterFields = { bytes: "bytes", packets: "packets" };
export const ECS_COUNTERS: CounterFields = { bytes: "network.bytes", packets: "network.packets" };

export class SearchTarget {
  readonly #client: Deno.HttpClient | undefined;
  readonly #authorization: string | undefined;

  constructor(
    readonly url: string,
    auth?: { username: string; password: string },
    private readonly patienceMs = READ_BACK_PATIENCE_MS,
  ) {
    this.#authorization = auth && `Basic ${btoa(`${auth.username}:${auth.password}`)}`;
    this.#client = url.startsWith("https:")
      ? Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(STACK_CA)] })
      : undefined;
  }

  /**
   * Sends one request and returns its parsed answer; throws unless it was 2xx. A read-back is
   * sent again while a shard it needs has not started (see {@linkcode shardsNotReady}), for up to
   * the target's patience; then it throws, naming why.
   */
  // deno-lint-ignore no-explicit-any
  async request(method: string, path: string, body?: unknown): Promise<any> {
    const readBack = (method === "GET" || READ_BACK_PATH.test(path)) && !SCROLL_PAGE.test(path);
    const scrollPage = SCROLL_PAGE.test(path) && method !== "DELETE";
    const deadline = Date.now() + this.patienceMs;
    for (;;) {
      const { status, text } = await this.#send(method, path, body);
      const parsed = parseAnswer(text, status);
      const notReady = readBack || scrollPage ? shardsNotReady(status, parsed, SEARCH_PATH.test(path)) : undefined;
      if (notReady !== undefined && readBack && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, READ_BACK_POLL_MS));
        continue;
      }
      if (notReady !== undefined) {
        throw new Error(`${method} ${this.url}${path}: shards not started (${notReady}): ${text.slice(0, 500)}`);
      }
      if (status < 200 || status >= 300) {
        throw new Error(`${method} ${this.url}${path} answered ${status}: ${text.slice(0, 500)}`);
      }
      return parsed;
    }
  }

  async #send(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      client: this.#client,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(this.#authorization ? { authorization: this.#authorization } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  }

  /**
   * Makes everything written so far searchable. Waits first for the primaries of the prefix's
   * indices that exist now; one created after that is waited for by {@linkcode request}.
   */
  async refresh(prefix: string): Promise<void> {
    const seconds = Math.ceil(this.patienceMs / 1000);
    await this.request("GET", `/_cluster/health/${prefix}-*?wait_for_status=yellow&timeout=${seconds}s`);
    await this.request("POST", `/${prefix}-*/_refresh?allow_no_indices=true`);
  }

  /** How many documents the prefix's indices hold. */
  async count(prefix: string): Promise<number> {
    await this.refresh(prefix);
    return Number((await this.request("GET", `/${prefix}-*/_count?allow_no_indices=true`)).count);
  }

  /** Per daily index: documents, bytes and packets, as the server aggregates them. */
  async sums(prefix: string, counters: CounterFields = PMACCT_COUNTERS): Promise<DayTotals> {
    await this.refresh(prefix);
    const response = await this.request("POST", `/${prefix}-*/_search?allow_no_indices=true`, {
      size: 0,
      aggs: {
        by_index: {
          terms: { field: "_index", size: 1000 },
          aggs: { bytes: { sum: { field: counters.bytes } }, packets: { sum: { field: counters.packets } } },
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

  /**
   * Every document in the prefix's indices (with repeats, should a record be there twice), with
   * its source if `withSource`, or only the fields it names.
   */
  async documents(prefix: string, withSource: boolean | string[] = false): Promise<IndexedDocument[]> {
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
    type Properties = Record<string, { type?: string; properties?: Properties }>;
    const flatten = (properties: Properties, path: string, into: Record<string, string>) => {
      for (const [field, { type, properties: inner }] of Object.entries(properties)) {
        into[`${path}${field}`] = type ?? "object";
        if (inner) flatten(inner, `${path}${field}.`, into);
      }
      return into;
    };
    return Object.fromEntries(
      Object.entries(mappings).map(([index, value]) => [
        index,
        flatten((value as { mappings: { properties?: Properties } }).mappings.properties ?? {}, "", {}),
      ]),
    );
  }
}
