/** Elasticsearch through `@elastic/elasticsearch`, which also sends the versioned headers 8.x and 9.x expect. */
import { Client } from "@elastic/elasticsearch";
import { type ClientOptions, type SearchRequest, type SearchTransport, toSearchError } from "./transport.ts";

export function elasticsearchTransport(options: ClientOptions): SearchTransport {
  const { nodes, auth, headers, tls, maxRetries, requestTimeout } = options;
  const client = new Client({ nodes, auth, headers, tls, maxRetries, requestTimeout, compression: false });
  return {
    async request(request: SearchRequest, signal?: AbortSignal) {
      try {
        const response = await client.transport.request<unknown>(request, { signal, meta: true });
        return { status: response.statusCode ?? 200, body: response.body, headers: response.headers ?? {} };
      } catch (error) {
        throw toSearchError(error);
      }
    },
    close: () => client.close(),
  };
}
