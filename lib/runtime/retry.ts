/**
 * Retry policy, kept out of the I/O: which Elasticsearch answers are worth retrying, and how
 * long to wait before the next try.
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
 * 2xx is done. 429 and 5xx are load or outage: retry. 401/403 mean the bridge's credentials are
 * wrong, or a block refuses writes (`cluster_block_exception`, also 429 at the flood stage), not
 * the data: retry (and alert) rather than dead-letter good records. 408 is a timeout.
 * A missing index is created and the write retried. Any other 4xx (mapping conflict, parse
 * error) will fail again: reject to the dead letters.
 */
export function classifyStatus(status: number, errorType?: string): Outcome {
  if (status >= 200 && status < 300) return "indexed";
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 408) return "retry";
  if (errorType === INDEX_NOT_FOUND) return "retry";
  return "reject";
}

/** Whether an HTTP status means the credentials are refused. */
export function isAuthFailure(status: number | undefined): boolean {
  return status === 401 || status === 403;
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 30_000 };

/**
 * Capped exponential backoff with "equal jitter": half the step is fixed, half random, so
 * retries of many bridges spread out but never collapse to zero wait.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random = Math.random): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/**
 * Runs `attempt` until it succeeds, waiting {@linkcode backoffDelay} between failures and
 * reporting each one; for start-up steps a bridge must not give up on (Kafka or Elasticsearch
 * being down is a state to wait out, not a reason to crash-loop).
 */
export async function retryUntilDone<T>(
  attempt: () => Promise<T>,
  onFailure: (error: Error, retryInMs: number, attempt: number) => void,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): Promise<T> {
  for (let count = 0;; count++) {
    try {
      return await attempt();
    } catch (error) {
      const delay = backoffDelay(count, policy);
      onFailure(error as Error, delay, count + 1);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Raised by waits and sends cut short by shutdown. */
export class Aborted extends Error {
  constructor() {
    super("aborted");
    this.name = "Aborted";
  }
}

/** Waits `ms`, or rejects with {@linkcode Aborted} as soon as `signal` fires. */
export function sleep(ms: number, signal: AbortSignal, onStart?: (wakeEarly: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Aborted());
    const finish = (error?: Aborted) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(new Aborted());
    const timer = setTimeout(finish, ms);
    signal.addEventListener("abort", onAbort, { once: true });
    onStart?.(() => finish());
  });
}
