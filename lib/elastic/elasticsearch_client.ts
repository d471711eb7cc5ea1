/** Elasticsearch through `@elastic/elasticsearch`, which also sends the versioned headers 8.x and 9.x expect. */
import { Client } from "@elastic/elasticsearch";
import { type ClientOptions, type SearchRequest, type SearchTransport, toSearchError } from "./transport.ts";

export function elasticsearchTransport(options: ClientOptions): SearchTransport {
  const { nodes, auth, headers, tls, maxRetries, requestTimeout } = options;
  // "remove": the default "replace" copies every error's request, body bytes included, entry by entry
  // (`Object.entries` of a Buffer): a failed 100 MB `_bulk` then needs gigabytes of heap.
  const client = new Client({
    nodes,
    auth,
    headers,
    tls,
    maxRetries,
    requestTimeout,
    compression: false,
    redaction: { type: "remove" },
  });
  return {
    async request({ once, ...request }: SearchRequest, signal?: AbortSignal) {
      try {
        const response = await client.transport.request<unknown>(request, {
          signal,
          meta: true,
          ...(once ? { maxRetries: 0 } : {}),
        });
        return { status: response.statusCode ?? 200, body: response.body, headers: response.headers ?? {} };
      } catch (error) {
        throw toSearchError(error);
      }
    },
    close: () => client.close(),
  };
}
