/**
 * Retry policy, kept out of the I/O: which Elasticsearch answers are worth retrying (how long to
 * wait before the next try is `lib/runtime/retry.ts`).
 *
 * @example
 * ```ts
 * classifyStatus(201); // "indexed"
 * classifyStatus(429); // "retry"
 * classifyStatus(400); // "reject"
 * ```
 */

/** What to do with a document after Elasticsearch answered for it with an HTTP status. */
export type Outcome = "indexed" | "retry" | "reject";

/** The error type of a write to an index that does not exist (and may not be auto-created). */
export const INDEX_NOT_FOUND = "index_not_found_exception";

/**
 * Whether an item was refused because the ingest pipeline it names (`ELASTIC_PIPELINE`) does not
 * exist: the cluster's configuration, not the record, is at fault (Elasticsearch answers 400).
 */
export function isMissingPipeline(error: { type?: string; reason?: string } | undefined): boolean {
  return error?.type === "illegal_argument_exception" &&
    /^pipeline with id \[.*\] does not exist/.test(error.reason ?? "");
}

/**
 * 2xx is done. 429 and 5xx are load or outage: retry. 401/403 mean the bridge's credentials are
 * wrong, or a block refuses writes (`cluster_block_exception`, also 429 at the flood stage), not
 * the data: retry (and alert) rather than dead-letter good records. 408 is a timeout.
 * A missing index is created and the write retried; a missing ingest pipeline is waited for. Any
 * other 4xx (mapping conflict, parse error) will fail again: reject to the dead letters.
 */
export function classifyStatus(status: number, error?: { type?: string; reason?: string }): Outcome {
  if (status >= 200 && status < 300) return "indexed";
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 408) return "retry";
  if (error?.type === INDEX_NOT_FOUND || isMissingPipeline(error)) return "retry";
  return "reject";
}

/** Whether an HTTP status means the credentials are refused. */
export function isAuthFailure(status: number | undefined): boolean {
  return status === 401 || status === 403;
}
