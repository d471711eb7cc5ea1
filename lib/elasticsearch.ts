/**
 * The Elasticsearch adapter: the client built from the settings, the `_bulk` transport the
 * {@linkcode BulkWriter} uses, and a health probe. Retries are the writer's job, so the client's
 * own are switched off.
 */
import { Client, errors } from "@elastic/elasticsearch";
import type { ElasticConfig } from "./config.ts";
import { type BulkItemResult, BulkRequestError, type BulkTransport } from "./bulk_writer.ts";

export function createElasticClient(config: ElasticConfig): Client {
  return new Client({
    nodes: config.nodes,
    auth: config.apiKey
      ? { apiKey: config.apiKey }
      : config.username
      ? { username: config.username, password: config.password! }
      : undefined,
    tls: config.useSsl ? { rejectUnauthorized: config.verifySsl } : undefined,
    maxRetries: 0,
    requestTimeout: config.requestTimeoutSeconds * 1000,
    compression: false,
  });
}

/** HTTP status of a client error, when the server answered. */
export function errorStatus(error: unknown): number | undefined {
  return error instanceof errors.ResponseError ? error.statusCode : undefined;
}

interface BulkResponse {
  errors: boolean;
  items: Array<Record<string, BulkItemResult>>;
}

/** `_bulk` over the client; a failed request becomes a {@linkcode BulkRequestError}. */
export function elasticBulkTransport(client: Client): BulkTransport {
  return async (body, signal) => {
    let response: BulkResponse;
    try {
      response = await client.transport.request<BulkResponse>(
        { method: "POST", path: "/_bulk", bulkBody: body },
        { signal },
      );
    } catch (error) {
      throw new BulkRequestError((error as Error).message, errorStatus(error));
    }
    return response.items.map((item) => {
      const result = item.index ?? Object.values(item)[0];
      return { status: result.status, error: result.error };
    });
  };
}

/** Whether the cluster answers (`_cluster/health`, which every node serves). */
export async function elasticReachable(client: Client): Promise<{ ok: boolean; status?: number; error?: string }> {
  try {
    await client.cluster.health({ timeout: "5s" }, { requestTimeout: 5000 });
    return { ok: true };
  } catch (error) {
    return { ok: false, status: errorStatus(error), error: (error as Error).message };
  }
}
