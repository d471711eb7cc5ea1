/**
 * Sends a batch of documents with `_bulk` until every one has an outcome: indexed, or rejected
 * for good. Whole-request failures and per-item 429/5xx/401/403 are retried (only the failed
 * items) with capped, jittered backoff, for ever unless a retry budget is set: nothing is
 * reported as sent before Elasticsearch said so. A document a block refuses (`index.blocks.write`,
 * read-only, flood stage) is retried for ever, and the blocks in force are reported as one state.
 */
import { bulkBody, type BulkDocument } from "./bulk_body.ts";
import { CLUSTER_BLOCK, type ClusterBlock, isClusterBlock, parseBlocks } from "./block.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { Aborted, backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF, sleep } from "../runtime/retry.ts";
import { classifyStatus, INDEX_NOT_FOUND, isAuthFailure, isMissingPipeline } from "./retry_policy.ts";

/** One item of a `_bulk` response. */
export interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string };
}

/**
 * Retries of documents a block holds wait at most this long: an operator lifts a block at any
 * moment, and a blocked write costs the cluster next to nothing.
 */
const BLOCK_MAX_BACKOFF_MS = 5_000;

/** Raised by a {@linkcode BulkTransport} when the whole request failed. */
export class BulkRequestError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** The server's `error.type`, when it answered, e.g. `cluster_block_exception`. */
    readonly type?: string,
  ) {
    super(message);
    this.name = "BulkRequestError";
  }
}

/** Posts an NDJSON body to `_bulk` and returns the per-item results in request order. */
export type BulkTransport = (body: Uint8Array, signal: AbortSignal) => Promise<BulkItemResult[]>;

export interface BulkOutcomeHandlers<T> {
  indexed(documents: T[]): void;
  /** A permanent rejection; the returned promise settles once the document is dead-lettered. */
  rejected(document: T, item: BulkItemResult): Promise<void>;
  /**
   * Called on every request: `undefined` when it reached Elasticsearch and no block is in force,
   * else the failure; while blocks are in force, one `cluster_block_exception` naming them all.
   */
  health(failure: BulkRequestError | undefined): void;
  /** Called when documents are to be sent again, with why (the status and error, or the request's failure). */
  retrying?(documents: T[], why: string): void;
  /**
   * Called on every answered request: the reason Elasticsearch gave when the ingest pipeline its
   * items name is missing (`ELASTIC_PIPELINE` deleted under the bridge), else `undefined`.
   */
  pipeline?(missing: string | undefined): void;
}

/**
 * Makes sure the indices a request writes to exist before it is sent, for clusters that create
 * none on their own; told to forget an index Elasticsearch reports missing.
 */
export interface IndexPreparer {
  ensure(indices: Iterable<string>): Promise<void>;
  forget(index: string): void;
}

/** Options of a {@linkcode BulkWriter}. */
export interface RetryOptions {
  indices?: IndexPreparer;
  backoff?: BackoffPolicy;
  /**
   * Retries per document before it is dead-lettered as `retry_budget_exhausted`; `undefined`
   * retries for ever. Never applies to 401/403, blocks or a missing ingest pipeline: refused
   * credentials, an index that takes no writes and a pipeline yet to be made are not the data's
   * fault.
   */
  maxRetries?: number;
}

export class BulkWriter<T extends BulkDocument> {
  readonly #backoff: BackoffPolicy;
  readonly #blockBackoff: BackoffPolicy;
  readonly #maxRetries: number | undefined;
  readonly #indices: IndexPreparer | undefined;
  readonly #sleepers = new Set<() => void>();
  /** The blocks last seen refusing writes, by index ("" for the cluster's own). */
  readonly #blocks = new Map<string, ClusterBlock>();

  constructor(
    private readonly transport: BulkTransport,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    { backoff = DEFAULT_BACKOFF, maxRetries, indices }: RetryOptions = {},
  ) {
    this.#backoff = backoff;
    this.#blockBackoff = { ...backoff, maxMs: Math.min(backoff.maxMs, BLOCK_MAX_BACKOFF_MS) };
    this.#maxRetries = maxRetries;
    this.#indices = indices;
  }

  /** Ends every backoff wait now; called when a probe sees Elasticsearch answer again. */
  retryNow(): void {
    for (const wake of this.#sleepers) wake();
  }

  /**
   * Resolves when every document is indexed or dead-lettered; rejects with {@linkcode Aborted}
   * if `signal` fires first (the unfinished documents then have no outcome and stay uncommitted).
   */
  async write(documents: T[], handlers: BulkOutcomeHandlers<T>, signal: AbortSignal): Promise<void> {
    let pending = documents;
    let attempt = 0;
    /**
     * Per document, the retries that spent its budget (refused credentials, blocks and missing
     * indices spend none); kept only when there is a budget.
     */
    const spentRetries = new Map<T, number>();
    while (pending.length > 0) {
      if (signal.aborted) throw new Aborted();
      const failure = await this.#attempt(pending, handlers, signal);
      if (signal.aborted) throw new Aborted();
      if (failure === undefined) {
        this.metrics.bulkRequests.inc({ outcome: "ok" });
        return;
      }
      if ("retry" in failure) {
        this.metrics.bulkRequests.inc({ outcome: "partial" });
        pending = failure.retry;
      } else {
        this.metrics.bulkRequests.inc({ outcome: "failed" });
      }
      const status = failure.status;
      if (status === 413 && !("retry" in failure)) {
        // The body exceeds http.max_content_length: halve it until it fits, or a lone document
        // is itself too large and will never be accepted.
        await this.#split(pending, handlers, signal, failure.error);
        return;
      }
      // Refused credentials, blocks, missing indices and a missing pipeline are not the data's
      // fault: they never spend the budget, and documents held by them stay when the others are
      // given up.
      const spent = "retry" in failure ? failure.spent : (failure.blocked || isAuthFailure(status)) ? [] : pending;
      const maxRetries = this.#maxRetries;
      if (spent.length > 0 && maxRetries !== undefined) {
        const exhausted = spent.filter((doc) => (spentRetries.get(doc) ?? 0) >= maxRetries);
        if (exhausted.length > 0) {
          await this.#giveUp(exhausted, handlers, status);
          const givenUp = new Set(exhausted);
          pending = pending.filter((doc) => !givenUp.has(doc));
          if (pending.length === 0) return;
        }
        for (const doc of spent) spentRetries.set(doc, (spentRetries.get(doc) ?? 0) + 1);
      }
      const delay = backoffDelay(attempt++, failure.blocked ? this.#blockBackoff : this.#backoff);
      this.metrics.retried.inc({ status: String(status ?? 0) }, pending.length);
      const fields = { status, error: failure.error, documents: pending.length, attempt, retry_in_ms: delay };
      handlers.retrying?.(pending, status === undefined ? failure.error : `${status} ${failure.error}`);
      if (!("retry" in failure) || (failure.blocked && !failure.auth)) {
        // The request failed whole, or a block holds the documents: `handlers.health` (or the
        // index preparer) reported why, once.
        this.log.debug("_bulk request failed or blocked; retrying", fields);
      } else if (failure.auth) {
        this.log.error("Elasticsearch refused the credentials for some documents; retrying", fields);
      } else this.log.warn("documents not accepted by Elasticsearch; retrying", fields);
      await this.#sleep(delay, signal);
    }
  }

  /** One `_bulk` request; `undefined` when all documents got their final outcome. */
  async #attempt(
    pending: T[],
    handlers: BulkOutcomeHandlers<T>,
    signal: AbortSignal,
  ): Promise<{ status?: number; error: string; blocked: boolean } | Retry<T> | undefined> {
    try {
      if (this.#indices) await this.#indices.ensure(pending.map((doc) => doc.index));
    } catch (error) {
      const failure = error as BulkRequestError;
      const blocked = isClusterBlock(failure.type);
      if (blocked) this.#reportBlocks(handlers, parseBlocks(failure.message));
      // Otherwise a refusal (403) is reported by the preparer as the privilege it needs, and
      // anything else says the cluster is unwell.
      else if (failure.status !== 403) handlers.health(failure);
      return { status: failure.status, error: failure.message, blocked };
    }
    let items: BulkItemResult[];
    const started = performance.now();
    try {
      items = await this.transport(bulkBody(pending), signal);
    } catch (error) {
      const failure = error instanceof BulkRequestError ? error : new BulkRequestError((error as Error).message);
      const blocked = isClusterBlock(failure.type);
      if (blocked) this.#reportBlocks(handlers, parseBlocks(failure.message));
      else handlers.health(failure);
      return { status: failure.status, error: failure.message, blocked };
    } finally {
      this.metrics.bulkDuration.observe((performance.now() - started) / 1000);
    }
    if (items.length !== pending.length) {
      handlers.health(undefined);
      return {
        error: `_bulk answered ${items.length} items for ${pending.length} documents; resending all`,
        blocked: false,
      };
    }
    this.#answeredBlocks(pending, items, handlers);
    const retry = await this.#settle(pending, items, handlers);
    return retry.retry.length === 0 ? undefined : retry;
  }

  /**
   * Updates the blocks in force from an answered request: each index it wrote to is blocked by
   * what refused its items, or no longer blocked; a cluster-level block is over since it answered.
   */
  #answeredBlocks(sent: T[], items: BulkItemResult[], handlers: BulkOutcomeHandlers<T>): void {
    const seen = new Map<string, ClusterBlock | undefined>();
    for (let i = 0; i < sent.length; i++) {
      const error = items[i].error;
      const block = isClusterBlock(error?.type) ? parseBlocks(error?.reason ?? "")[0] : undefined;
      if (block !== undefined || !seen.has(sent[i].index)) seen.set(sent[i].index, block);
    }
    this.#blocks.delete("");
    for (const [index, block] of seen) {
      if (block === undefined) this.#blocks.delete(index);
      else this.#blocks.set(index, block);
    }
    this.#reportBlocks(handlers, []);
  }

  /** Adds `blocks` to those in force and reports them all: `undefined` when none is. */
  #reportBlocks(handlers: BulkOutcomeHandlers<T>, blocks: ClusterBlock[]): void {
    for (const block of blocks) this.#blocks.set(block.index ?? "", block);
    if (this.#blocks.size === 0) return handlers.health(undefined);
    const text = [...this.#blocks.values()].map((block) => block.text).join("");
    // No one status: a block answers 403, or 429 at the flood stage.
    handlers.health(new BulkRequestError(`${CLUSTER_BLOCK}: ${text}`, undefined, CLUSTER_BLOCK));
  }

  async #split(pending: T[], handlers: BulkOutcomeHandlers<T>, signal: AbortSignal, error: string): Promise<void> {
    if (pending.length === 1) {
      this.metrics.rejected.inc({ status: "413", reason: "request_too_large" });
      this.log.error("Elasticsearch refused a document as too large", { id: pending[0].id, error });
      await handlers.rejected(pending[0], { status: 413, error: { type: "request_too_large", reason: error } });
      return;
    }
    this.log.warn("_bulk request too large for Elasticsearch; splitting it", { documents: pending.length });
    const half = Math.ceil(pending.length / 2);
    await this.write(pending.slice(0, half), handlers, signal);
    await this.write(pending.slice(half), handlers, signal);
  }

  /** The retry budget is spent: dead-letter what is left, saying why. */
  async #giveUp(pending: T[], handlers: BulkOutcomeHandlers<T>, status: number | undefined): Promise<void> {
    this.log.error("retry budget exhausted; dead-lettering documents", {
      documents: pending.length,
      max_retries: this.#maxRetries,
      status,
    });
    const item: BulkItemResult = {
      status: status ?? 0,
      error: { type: "retry_budget_exhausted", reason: `not accepted after ${this.#maxRetries} retries` },
    };
    this.metrics.rejected.inc({ status: String(status ?? 0), reason: "retry_budget_exhausted" }, pending.length);
    await Promise.all(pending.map((doc) => handlers.rejected(doc, item)));
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    let wake: (() => void) | undefined;
    try {
      await sleep(ms, signal, (wakeEarly) => {
        wake = wakeEarly;
        this.#sleepers.add(wakeEarly);
      });
    } finally {
      if (wake) this.#sleepers.delete(wake);
    }
  }

  /** Applies per-item results; returns what is to be retried, and why. */
  async #settle(sent: T[], items: BulkItemResult[], handlers: BulkOutcomeHandlers<T>): Promise<Retry<T>> {
    const indexed: T[] = [];
    const retry: T[] = [];
    const spent: T[] = [];
    let status = 0;
    let error = "";
    let auth = false;
    let blocked = false;
    let missingPipeline: string | undefined;
    const rejections: Promise<void>[] = [];
    /** Documents indexed per status, counted once per request rather than once per document. */
    const indexedByStatus = new Map<number, number>();
    for (let i = 0; i < sent.length; i++) {
      const item = items[i];
      const outcome = classifyStatus(item.status, item.error);
      if (item.error?.type === INDEX_NOT_FOUND) this.#indices?.forget(sent[i].index);
      if (outcome === "indexed") {
        indexed.push(sent[i]);
        indexedByStatus.set(item.status, (indexedByStatus.get(item.status) ?? 0) + 1);
      } else if (outcome === "retry") {
        retry.push(sent[i]);
        const block = isClusterBlock(item.error?.type);
        blocked ||= block;
        auth ||= !block && isAuthFailure(item.status);
        // A missing pipeline is configuration, like a block: waited out, never dead-lettered.
        const pipeline = isMissingPipeline(item.error);
        if (pipeline) missingPipeline = item.error!.reason;
        if (!block && !isAuthFailure(item.status) && item.error?.type !== INDEX_NOT_FOUND && !pipeline) {
          spent.push(sent[i]);
        }
        status = item.status;
        error = pipeline ? item.error!.reason! : item.error?.type ?? `status ${item.status}`;
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
    for (const [status, count] of indexedByStatus) this.metrics.indexed.inc({ status: String(status) }, count);
    handlers.pipeline?.(missingPipeline);
    if (indexed.length > 0) handlers.indexed(indexed);
    await Promise.all(rejections);
    return { retry, spent, status, error, auth, blocked };
  }
}

/** Documents of an answered request that are to be sent again, and why. */
interface Retry<T> {
  retry: T[];
  /** Those whose retry spends the budget (not held by credentials, a block, a missing index or pipeline). */
  spent: T[];
  /** The status and error type of the last of them. */
  status: number;
  error: string;
  /** Some were refused for the credentials. */
  auth: boolean;
  /** Some were refused by a block. */
  blocked: boolean;
}
