/**
 * Elasticsearch 8.14.1's own answers when a block refuses a write, captured with `curl` from the
 * stack's node (index blocks) and from a second node of the same build (cluster blocks, which
 * would have stopped every test sharing the stack).
 */

/** Per-item errors of `_bulk` (HTTP 200, `errors: true`), by the setting that made them. */
export const BLOCKED_ITEMS = {
  "index.blocks.write": {
    status: 403,
    error: {
      type: "cluster_block_exception",
      reason: "index [sflow-2026-12-01] blocked by: [FORBIDDEN/8/index write (api)];",
    },
  },
  "index.blocks.read_only": {
    status: 403,
    error: {
      type: "cluster_block_exception",
      reason: "index [sflow-2026-12-01] blocked by: [FORBIDDEN/5/index read-only (api)];",
    },
  },
  "index.blocks.read_only_allow_delete": {
    status: 429,
    error: {
      type: "cluster_block_exception",
      reason:
        "index [sflow-2026-12-01] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];",
    },
  },
};

/** Whole-request answers (HTTP 403) under `cluster.blocks.read_only`. */
export const CLUSTER_READ_ONLY = {
  bulk: {
    error: {
      root_cause: [{ type: "cluster_block_exception", reason: "blocked by: [FORBIDDEN/6/cluster read-only (api)];" }],
      type: "cluster_block_exception",
      reason: "blocked by: [FORBIDDEN/6/cluster read-only (api)];",
    },
    status: 403,
  },
  createIndex: {
    error: {
      root_cause: [{
        type: "cluster_block_exception",
        reason: "index [sflow-2026-12-02] blocked by: [FORBIDDEN/6/cluster read-only (api)];",
      }],
      type: "cluster_block_exception",
      reason: "index [sflow-2026-12-02] blocked by: [FORBIDDEN/6/cluster read-only (api)];",
    },
    status: 403,
  },
};

/** The whole `_bulk` answer (HTTP 403) under `cluster.blocks.read_only_allow_delete`. */
export const CLUSTER_READ_ONLY_ALLOW_DELETE_BULK = {
  error: {
    root_cause: [{
      type: "cluster_block_exception",
      reason: "blocked by: [FORBIDDEN/13/cluster read-only / allow delete (api)];",
    }],
    type: "cluster_block_exception",
    reason: "blocked by: [FORBIDDEN/13/cluster read-only / allow delete (api)];",
  },
  status: 403,
};

/** The client's error for a whole-request answer, as `@elastic/elasticsearch` raises it. */
export function responseError(body: { status: number; error: unknown }): unknown {
  return { name: "ResponseError", message: "cluster_block_exception", statusCode: body.status, body };
}
