/**
 * What the bridge asks of the cluster, over either client: health, the index template, daily
 * index creation and `_bulk`.
 */
import { Buffer } from "node:buffer";
import { type BulkItemResult, BulkRequestError, type BulkTransport } from "./bulk_writer.ts";
import type { IndexTemplate } from "./index_template.ts";
import type { ServerInfo } from "./search_server.ts";
import { SearchError, type SearchTransport } from "./transport.ts";

/** Per item, only what the bulk writer reads. */
const BULK_ANSWER_FIELDS = "items.*.status,items.*.error.type,items.*.error.reason";

interface BulkResponse {
  items: Array<Record<string, BulkItemResult>>;
}

export class SearchService {
  readonly #bulkQuery: Record<string, string>;

  /** `pipeline`: the ingest pipeline every `_bulk` request names (`ELASTIC_PIPELINE`). */
  constructor(readonly server: ServerInfo, private readonly transport: SearchTransport, pipeline?: string) {
    this.#bulkQuery = pipeline === undefined
      ? { filter_path: BULK_ANSWER_FIELDS }
      : { filter_path: BULK_ANSWER_FIELDS, pipeline };
  }

  /** Resolves when the cluster answers `_cluster/health`, which every node serves. */
  async health(): Promise<void> {
    await this.transport.request({ method: "GET", path: "/_cluster/health", querystring: { timeout: "5s" } });
  }

  async putIndexTemplate(name: string, template: IndexTemplate): Promise<void> {
    await this.transport.request({
      method: "PUT",
      path: `/_index_template/${encodeURIComponent(name)}`,
      body: { ...template },
    });
  }

  /**
   * Whether the server accepts the template, without storing it (`_index_template/_simulate`):
   * throws {@linkcode SearchError} (400) when it does not.
   */
  async simulateIndexTemplate(template: IndexTemplate): Promise<void> {
    await this.transport.request({ method: "POST", path: "/_index_template/_simulate", body: { ...template } });
  }

  /**
   * Whether the ingest pipeline `name` exists; `"unknown"` when the bridge's user may not read
   * pipelines (it needs no more than to write through one).
   */
  async pipelineExists(name: string): Promise<"exists" | "absent" | "unknown"> {
    try {
      await this.transport.request({ method: "GET", path: `/_ingest/pipeline/${encodeURIComponent(name)}` });
      return "exists";
    } catch (error) {
      const { status } = error as SearchError;
      if (status === 404) return "absent";
      if (status === 403) return "unknown";
      throw error;
    }
  }

  /** The names of the indices `pattern` matches, open or closed. */
  async listIndices(pattern: string): Promise<string[]> {
    const { body } = await this.transport.request({
      method: "GET",
      path: `/_cat/indices/${encodeURIComponent(pattern)}`,
      querystring: { format: "json", h: "index", expand_wildcards: "open,closed" },
    });
    return (body as Array<{ index: string }>).map((row) => row.index);
  }

  /** Deletes one index by its name; `"absent"` when it was gone already (another copy deleted it). */
  async deleteIndex(index: string): Promise<"deleted" | "absent"> {
    try {
      await this.transport.request({ method: "DELETE", path: `/${encodeURIComponent(index)}` });
      return "deleted";
    } catch (error) {
      if (error instanceof SearchError && error.type === "index_not_found_exception") return "absent";
      throw error;
    }
  }

  /**
   * Writes a document only if no document has its id (`_create`); `"exists"` when one had, which
   * the `create_doc` privilege alone can learn (reading it would need `read`).
   */
  async createDocument(index: string, id: string, body: Record<string, unknown>): Promise<"created" | "exists"> {
    try {
      await this.transport.request({
        method: "PUT",
        path: `/${encodeURIComponent(index)}/_create/${encodeURIComponent(id)}`,
        body,
        // A retry of a first try that was written would answer "exists".
        once: true,
      });
      return "created";
    } catch (error) {
      if (error instanceof SearchError && error.status === 409) return "exists";
      throw error;
    }
  }

  /** Creates `index` with `body`; `"exists"` when it already did (made by another bridge, say). */
  async createIndex(index: string, body: IndexTemplate["template"]): Promise<"created" | "exists"> {
    try {
      await this.transport.request({ method: "PUT", path: `/${encodeURIComponent(index)}`, body: { ...body } });
      return "created";
    } catch (error) {
      if (error instanceof SearchError && error.type === "resource_already_exists_exception") return "exists";
      throw error;
    }
  }

  /**
   * `_bulk` as the {@linkcode BulkWriter} needs it: per-item results in request order. The body
   * goes as the bytes it was written in (a string would be measured, then encoded, by the client),
   * and the answer is trimmed to what is read (whole, it is about 200 KB per 1,000 documents).
   */
  readonly bulk: BulkTransport = async (body, signal) => {
    let response: BulkResponse;
    try {
      response = (await this.transport.request({
        method: "POST",
        path: "/_bulk",
        querystring: this.#bulkQuery,
        bulkBody: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      }, signal)).body;
    } catch (error) {
      throw new BulkRequestError((error as Error).message, (error as SearchError).status, (error as SearchError).type);
    }
    return response.items.map((item) => {
      const result = item.index ?? Object.values(item)[0];
      return { status: result.status, error: result.error };
    });
  };

  close(): Promise<void> {
    return this.transport.close();
  }
}
