/**
 * Retry policy, kept out of the I/O: which Elasticsearch answers are worth retrying, which retries
 * spend a document's budget, and which refusals a smaller request would pass (how long to wait
 * before the next try is `lib/runtime/retry.ts`).
 *
 * @example
 * ```ts
 * classifyStatus(201); // "indexed"
 * classifyStatus(429); // "retry"
 * classifyStatus(400); // "reject"
 * ```
 */
import { INDEX_CLOSED, isWriteBlocked } from "./block.ts";

/** What to do with a document after Elasticsearch answered for it with an HTTP status. */
export type Outcome = "indexed" | "retry" | "reject";

/** The error type of a write to an index that does not exist (and may not be auto-created). */
export const INDEX_NOT_FOUND = "index_not_found_exception";

/** The error type of a circuit breaker's refusal (`[parent] Data too large, ...`), 429 when it may pass later. */
export const CIRCUIT_BREAKER = "circuit_breaking_exception";

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
 * A missing index is created and the write retried; a missing ingest pipeline is waited for, and
 * so is a closed index (400 `index_closed_exception`), reopened by an operator. Any other 4xx
 * (mapping conflict, parse error) will fail again: reject to the dead letters.
 */
export function classifyStatus(status: number, error?: { type?: string; reason?: string }): Outcome {
  if (status >= 200 && status < 300) return "indexed";
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 408) return "retry";
  if (error?.type === INDEX_NOT_FOUND || error?.type === INDEX_CLOSED || isMissingPipeline(error)) return "retry";
  return "reject";
}

/**
 * Whether retrying a document after this answer spends its `ELASTIC_MAX_RETRIES`: refused
 * credentials, a block or closed index, a missing index or ingest pipeline are the cluster's state,
 * not the data's fault, and are waited out for ever.
 */
export function spendsRetryBudget(status: number | undefined, error?: { type?: string; reason?: string }): boolean {
  return !isAuthFailure(status) && !isWriteBlocked(error?.type) && error?.type !== INDEX_NOT_FOUND &&
    !isMissingPipeline(error);
}

/** The error type of a refusal for load: a full thread pool's queue, or indexing pressure. */
export const REJECTED_EXECUTION = "es_rejected_execution_exception";

/**
 * Indexing pressure's refusal (`rejected execution of coordinating operation [...
 * max_coordinating_and_primary_bytes=...]`): the request's bytes over the memory the node gives
 * writes in flight (10 % of its heap). One over the limit on its own is refused every time.
 */
const INDEXING_PRESSURE =
  /^(?:es_rejected_execution_exception: )?rejected execution of (?:coordinating|primary) operation/;

/**
 * Whether a whole request was refused for its size, so that a smaller one may pass: 413 (over
 * `http.max_content_length`), a circuit breaker (the request's bytes in flight, or the heap's
 * use with them, over a breaker's limit), or indexing pressure (its bytes over the memory for
 * writes in flight).
 */
export function refusedForSize(status: number | undefined, type: string | undefined, reason = ""): boolean {
  return status === 413 || type === CIRCUIT_BREAKER || (type === REJECTED_EXECUTION && INDEXING_PRESSURE.test(reason));
}

/** Whether an HTTP status means the credentials are refused. */
export function isAuthFailure(status: number | undefined): boolean {
  return status === 401 || status === 403;
}
