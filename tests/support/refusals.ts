/**
 * Elasticsearch 8.14.1's own answers to writes it refuses for the cluster's state, not the data,
 * captured with `curl`: from the stack's `elasticsearch` (a closed index, an alias holding an
 * index's name) and from `eslimits` (the shard limit, the in-flight requests breaker), whose
 * cluster settings a test may change.
 */

/** An error answer as Elasticsearch writes one: its root cause is the error itself. */
function answer(status: number, error: Record<string, unknown>): { status: number; error: unknown } {
  return { error: { root_cause: [error], ...error }, status };
}

/** A `_bulk` item written to a closed index (HTTP 200, `errors: true`), trimmed as the bridge asks. */
export const CLOSED_INDEX_ITEM = { status: 400, error: { type: "index_closed_exception", reason: "closed" } };

/** `PUT /<index>` where an alias already has the index's name. */
export const ALIAS_HOLDS_NAME = answer(400, {
  type: "invalid_index_name_exception",
  reason: "Invalid index name [sflow-2026-12-02], already exists as alias",
  index_uuid: "_na_",
  index: "sflow-2026-12-02",
});

/** `PUT /<index>` at `cluster.max_shards_per_node`. */
export const SHARD_LIMIT = answer(400, {
  type: "validation_exception",
  reason:
    "Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1]/[1] maximum normal shards open;",
});

/** The whole `_bulk` answer when the request trips `network.breaker.inflight_requests.limit`. */
export const INFLIGHT_BREAKER = answer(429, {
  type: "circuit_breaking_exception",
  reason:
    "[inflight_requests] Data too large, data for [<http_request>] would be [733560/716.3kb], which is larger than the limit of [262144/256kb]",
  bytes_wanted: 733560,
  bytes_limit: 262144,
  durability: "TRANSIENT",
});
