/**
 * The one shape in which the bridge talks to a search server, whichever client carries it
 * (`@elastic/elasticsearch` for Elasticsearch, `@opensearch-project/opensearch` for OpenSearch),
 * and the one error it raises.
 */
import type { Buffer } from "node:buffer";
import type { ElasticConfig } from "../config/mod.ts";
import type { PemMaterial } from "../config/settings.ts";

export interface SearchRequest {
  method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD";
  path: string;
  querystring?: Record<string, string>;
  body?: Record<string, unknown>;
  /** NDJSON, sent as is (`_bulk`). */
  bulkBody?: string | Buffer;
  /**
   * Sent to one node only, never again by the client: a request whose repeat would answer
   * otherwise (`_create` of a document the first try may have written).
   */
  once?: boolean;
}

export interface SearchResponse {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Record<string, unknown>;
}

/** Sends one request; throws {@linkcode SearchError} unless the server answered 2xx. */
export interface SearchTransport {
  request(request: SearchRequest, signal?: AbortSignal): Promise<SearchResponse>;
  close(): Promise<void>;
}

/** A request that failed: no answer (`status` undefined) or an error status. */
export class SearchError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The server's `error.type`, e.g. `resource_already_exists_exception`. */
    readonly type?: string,
    /** The server answered but is not the product this client serves. */
    readonly otherProduct = false,
  ) {
    super(message);
    this.name = "SearchError";
  }
}

/** Turns either client's error into a {@linkcode SearchError}. */
export function toSearchError(error: unknown): SearchError {
  if (error instanceof SearchError) return error;
  const failure = error as { name?: string; message?: string; statusCode?: number; body?: unknown };
  const name = failure?.name ?? "Error";
  if (name === "ProductNotSupportedError") return new SearchError(failure.message ?? name, undefined, undefined, true);
  if (name === "ResponseError") {
    const body = failure.body as { error?: { type?: string; reason?: string } | string } | undefined;
    const type = typeof body?.error === "object" ? body.error.type : undefined;
    const reason = typeof body?.error === "object" ? body.error.reason : body?.error;
    return new SearchError(
      reason ? `${type ?? "error"}: ${reason}` : failure.message ?? name,
      failure.statusCode,
      type,
    );
  }
  return new SearchError(failure?.message ?? String(error));
}

/** Options both clients understand in the same way. */
export function commonClientOptions(config: ElasticConfig, trustedCa: string | undefined, pem: PemMaterial) {
  return {
    nodes: config.nodes,
    auth: config.username ? { username: config.username, password: config.password! } : undefined,
    headers: config.apiKey ? { authorization: `ApiKey ${config.apiKey}` } : undefined,
    tls: config.useSsl
      ? { ca: trustedCa ?? pem.ca, cert: pem.cert, key: pem.key, rejectUnauthorized: config.tls.verify }
      : undefined,
    // One try per node: a request that cannot reach one node moves on to the next at once; the
    // bulk writer's own retries (with backoff) take over after that.
    maxRetries: Math.max(0, config.nodes.length - 1),
    requestTimeout: config.requestTimeoutSeconds * 1000,
  };
}

export type ClientOptions = ReturnType<typeof commonClientOptions>;
