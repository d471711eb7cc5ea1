/** OpenSearch through `@opensearch-project/opensearch`: plain JSON headers, no Elastic product check. */
import { Client } from "@opensearch-project/opensearch";
import { type ClientOptions, type SearchRequest, type SearchTransport, toSearchError } from "./transport.ts";

export function opensearchTransport(options: ClientOptions): SearchTransport {
  const { nodes, auth, headers, tls, maxRetries, requestTimeout } = options;
  const client = new Client({ nodes, auth, headers, ssl: tls, maxRetries, requestTimeout, compression: undefined });
  return {
    async request({ once, ...request }: SearchRequest, signal?: AbortSignal) {
      const sending = client.transport.request(request, { requestTimeout, ...(once ? { maxRetries: 0 } : {}) });
      const abort = () => sending.abort();
      signal?.addEventListener("abort", abort, { once: true });
      try {
        const response = await sending;
        return { status: response.statusCode ?? 200, body: response.body, headers: response.headers ?? {} };
      } catch (error) {
        throw toSearchError(error);
      } finally {
        signal?.removeEventListener("abort", abort);
      }
    },
    close: () => client.close(),
  };
}
