/**
 * Sends a batch of documents with `_bulk` until every one has an outcome: indexed, or rejected
 * for good. Whole-request failures and per-item 429/5xx/401/403 are retried (only the failed
 * items) with capped, jittered backoff, for as long as it takes: nothing is reported as sent
 * before Elasticsearch said so.
 */
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { backoffDelay, type BackoffPolicy, classifyStatus, DEFAULT_BACKOFF, isAuthFailure } from "./retry.ts";

/** A document ready to send; `source` is its serialised JSON. */
export interface BulkDocument {
  index: string;
  id: string;
  source: string;
}

/** One item of a `_bulk` response. */
export interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string };
}

/** Raised by a {@linkcode BulkTransport} when the whole request failed. */
export class BulkRequestError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = "BulkRequestError";
  }
}

/** Posts an NDJSON body to `_bulk` and returns the per-item results in request order. */
export type BulkTransport = (body: string, signal: AbortSignal) => Promise<BulkItemResult[]>;

export interface BulkOutcomeHandlers<T> {
  indexed(documents: T[]): void;
  /** A permanent rejection; the returned promise settles once the document is dead-lettered. */
  rejected(document: T, item: BulkItemResult): Promise<void>;
  /** Called with `true` on every request that reached Elasticsearch, `false` when one failed. */
  health(ok: boolean, authFailed: boolean): void;
}

/** Builds the `_bulk` body: an `index` action and the source for each document. */
export function bulkBody(documents: BulkDocument[]): string {
  let body = "";
  for (const doc of documents) {
    body += `{"index":{"_index":${JSON.stringify(doc.index)},"_id":${JSON.stringify(doc.id)}}}\n${doc.source}\n`;
  }
  return body;
}

export class Aborted extends Error {
  constructor() {
    super("aborted");
    this.name = "Aborted";
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Aborted());
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Aborted());
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class BulkWriter<T extends BulkDocument> {
  constructor(
    private readonly transport: BulkTransport,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly backoff: BackoffPolicy = DEFAULT_BACKOFF,
  ) {}

  /**
   * Resolves when every document is indexed or dead-lettered; rejects with {@linkcode Aborted}
   * if `signal` fires first (the unfinished documents then have no outcome and stay uncommitted).
   */
  async write(documents: T[], handlers: BulkOutcomeHandlers<T>, signal: AbortSignal): Promise<void> {
    let pending = documents;
    let attempt = 0;
    while (pending.length > 0) {
      if (signal.aborted) throw new Aborted();
      const started = performance.now();
      let items: BulkItemResult[];
      try {
        items = await this.transport(bulkBody(pending), signal);
      } catch (error) {
        if (signal.aborted) throw new Aborted();
        const status = error instanceof BulkRequestError ? error.status : undefined;
        this.metrics.bulkRequests.inc({ outcome: "failed" });
        this.metrics.retried.inc({ status: String(status ?? 0) }, pending.length);
        handlers.health(false, isAuthFailure(status));
        const delay = backoffDelay(attempt++, this.backoff);
        const log = isAuthFailure(status) ? this.log.error.bind(this.log) : this.log.warn.bind(this.log);
        log(
          isAuthFailure(status) ? "Elasticsearch refused the credentials; retrying" : "bulk request failed; retrying",
          {
            status,
            error: (error as Error).message,
            documents: pending.length,
            attempt,
            retry_in_ms: delay,
          },
        );
        await sleep(delay, signal);
        continue;
      } finally {
        this.metrics.bulkDuration.observe((performance.now() - started) / 1000);
      }
      handlers.health(true, false);
      pending = await this.#settle(pending, items, handlers);
      this.metrics.bulkRequests.inc({ outcome: pending.length === 0 ? "ok" : "partial" });
      if (pending.length > 0) {
        const delay = backoffDelay(attempt++, this.backoff);
        this.log.warn("some documents were not accepted; retrying them", {
          documents: pending.length,
          attempt,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      } else {
        attempt = 0;
      }
    }
  }

  /** Applies per-item results; returns the documents to retry. */
  async #settle(sent: T[], items: BulkItemResult[], handlers: BulkOutcomeHandlers<T>): Promise<T[]> {
    if (items.length !== sent.length) {
      throw new Error(`_bulk answered ${items.length} items for ${sent.length} documents`);
    }
    const indexed: T[] = [];
    const retry: T[] = [];
    const rejections: Promise<void>[] = [];
    for (let i = 0; i < sent.length; i++) {
      const item = items[i];
      const outcome = classifyStatus(item.status);
      if (outcome === "indexed") {
        indexed.push(sent[i]);
        this.metrics.indexed.inc({ status: String(item.status) });
      } else if (outcome === "retry") {
        retry.push(sent[i]);
        this.metrics.retried.inc({ status: String(item.status) });
      } else {
        const reason = item.error?.type ?? "unknown";
        this.metrics.rejected.inc({ status: String(item.status), reason });
        this.log.error("Elasticsearch rejected a document", {
          index: sent[i].index,
          id: sent[i].id,
          status: item.status,
          reason,
          detail: item.error?.reason,
        });
        rejections.push(handlers.rejected(sent[i], item));
      }
    }
    if (indexed.length > 0) handlers.indexed(indexed);
    await Promise.all(rejections);
    return retry;
  }
}
