/**
 * Waiting between tries, kept out of the I/O: capped exponential backoff with jitter, retrying a
 * start-up step until it succeeds, and waits that shutdown cuts short ({@linkcode Aborted}).
 *
 * @example
 * ```ts
 * backoffDelay(0); // between 125 and 250 ms
 * backoffDelay(10); // between 15 and 30 s: the cap
 * ```
 */

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
