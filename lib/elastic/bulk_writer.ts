/**
 * Sends a batch of documents with `_bulk` until every one has an outcome: indexed, or rejected
 * for good. Whole-request failures and per-item 429/5xx/401/403 are retried (only the failed
 * items) with capped, jittered backoff, for ever unless a retry budget is set: nothing is
 * reported as sent before Elasticsearch said so. A document a block refuses (`index.blocks.write`,
 * read-only, flood stage, a closed index) is retried for ever, and the blocks in force are
 * reported as one state. A request refused for its size (413, a circuit breaker) is split; the
 * documents of an index that cannot be created wait while the others are sent.
 */
import { bulkBody, type BulkDocument } from "./bulk_body.ts";
import { CLUSTER_BLOCK, type ClusterBlock, isClusterBlock, isWriteBlocked, itemBlock, parseBlocks } from "./block.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { Aborted, backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF, sleep } from "../runtime/retry.ts";
import {
  classifyStatus,
  INDEX_NOT_FOUND,
  isAuthFailure,
  isMissingPipeline,
  refusedForSize,
  spendsRetryBudget,
} from "./retry_policy.ts";

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
   * Called on every request: `undefined` when it reached Elasticsearch (refused for its size, too)
   * and no block is in force, else the failure; while blocks are in force (a closed index is one),
   * one `cluster_block_exception` naming them all.
   */
  health(failure: BulkRequestError | undefined): void;
  /** Called when documents are to be sent again, with why (the status and error, or the request's failure). */
  retrying?(documents: T[], why: string): void;
  /**
   * Takes back documents that one index's state holds (a block, a closed index, an index that
   * cannot be created), to be written again later: their request then ends, and its slot serves
   * other indices' documents meanwhile. Without it, they are retried in the same request slot.
   */
  park?(documents: T[], why: string): void;
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
  /**
   * Creates those of `indices` not known to exist; resolves with the ones that could not be
   * created, each with why, so that only their documents wait.
   */
  ensure(indices: Iterable<string>): Promise<Map<string, BulkRequestError>>;
  forget(index: string): void;
}

/** Options of a {@linkcode BulkWriter}. */
export interface RetryOptions {
  indices?: IndexPreparer;
  backoff?: BackoffPolicy;
  /**
   * Retries per document before it is dead-lettered as `retry_budget_exhausted`; `undefined`
   * retries for ever. Never applies to 401/403, blocks, a closed index or a missing ingest
   * pipeline: refused credentials, an index that takes no writes and a pipeline yet to be made are
   * not the data's fault.
   */
  maxRetries?: number;
}

/** No index is missing: what a writer without a preparer finds. */
const ALL_CREATED: ReadonlyMap<string, BulkRequestError> = new Map();

export class BulkWriter<T extends BulkDocument> {
  readonly #backoff: BackoffPolicy;
  readonly #blockBackoff: BackoffPolicy;
  readonly #maxRetries: number | undefined;
  readonly #indices: IndexPreparer | undefined;
  readonly #sleepers = new Set<() => void>();
  /**
   * Per document, the retries that spent its budget (refused credentials, blocks and missing
   * indices spend none), across writes: a parked document keeps its count.
   */
  readonly #spentRetries = new WeakMap<T, number>();
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
    const spentRetries = this.#spentRetries;
    while (pending.length > 0) {
      if (signal.aborted) throw new Aborted();
      const left = await this.#attempt(pending, handlers, signal);
      if (signal.aborted) throw new Aborted();
      this.metrics.bulkRequests.inc({ outcome: left?.outcome ?? "ok" });
      if (left === undefined) return;
      // Over http.max_content_length, or a breaker's limit: halve the request until it passes. A
      // lone document still too large will never be accepted; one a breaker still refuses waits.
      if (left.tooLarge && pending.length > 1) return await this.#split(pending, handlers, signal, left);
      if (left.tooLarge && left.status === 413) return await this.#rejectTooLarge(pending[0], handlers, left.error);
      pending = left.retry;
      // Documents held by refused credentials, blocks, missing indices or a missing pipeline stay
      // when the others are given up.
      const maxRetries = this.#maxRetries;
      if (left.spent.length > 0 && maxRetries !== undefined) {
        const exhausted = left.spent.filter((doc) => (spentRetries.get(doc) ?? 0) >= maxRetries);
        if (exhausted.length > 0) {
          await this.#giveUp(exhausted, handlers, left.status);
          const givenUp = new Set(exhausted);
          pending = pending.filter((doc) => !givenUp.has(doc));
          if (pending.length === 0) return;
        }
        for (const doc of left.spent) spentRetries.set(doc, (spentRetries.get(doc) ?? 0) + 1);
      }
      const delay = backoffDelay(attempt++, left.blocked ? this.#blockBackoff : this.#backoff);
      this.metrics.retried.inc({ status: String(left.status ?? 0) }, pending.length);
      const fields = { status: left.status, error: left.error, documents: pending.length, attempt, retry_in_ms: delay };
      const why = left.status === undefined ? left.error : `${left.status} ${left.error}`;
      if (left.heldByIndex && handlers.park) {
        handlers.park(pending, why);
        return;
      }
      handlers.retrying?.(pending, why);
      // Readiness (or the index preparer) said why already, once.
      if (left.reported) this.log.debug("_bulk request failed or held; retrying", fields);
      else if (left.auth) this.log.error("Elasticsearch refused the credentials for some documents; retrying", fields);
      else this.log.warn("documents not accepted by Elasticsearch; retrying", fields);
      await this.#sleep(delay, signal);
    }
  }

  /**
   * One `_bulk` request of the documents whose indices exist; `undefined` when every document got
   * its final outcome, else what is to be sent again (with those whose index could not be made).
   */
  async #attempt(
    pending: T[],
    handlers: BulkOutcomeHandlers<T>,
    signal: AbortSignal,
  ): Promise<Leftover<T> | undefined> {
    // No await without a preparer: the request leaves in the same turn as the batch.
    const uncreated = this.#indices ? await this.#prepare(this.#indices, pending, handlers) : ALL_CREATED;
    const waiting = waitingForIndices(pending, uncreated);
    const sendable = uncreated.size === 0 ? pending : pending.filter((doc) => !uncreated.has(doc.index));
    if (waiting === undefined) return await this.#send(sendable, handlers, signal);
    if (sendable.length === 0) return waiting;
    const sent = await this.#send(sendable, handlers, signal);
    if (sent === undefined) return { ...waiting, outcome: "ok" };
    return {
      ...sent,
      retry: [...sent.retry, ...waiting.retry],
      spent: [...sent.spent, ...waiting.spent],
      blocked: sent.blocked || waiting.blocked,
      heldByIndex: sent.heldByIndex || waiting.heldByIndex,
    };
  }

  /**
   * Creates the indices `pending` writes to that are not known yet; returns those that could not
   * be, after reporting a block or an outage that refused them. Any other refusal (a missing
   * privilege, an alias holding the name, the shard limit) the preparer puts on `/readyz` itself.
   */
  async #prepare(
    indices: IndexPreparer,
    pending: T[],
    handlers: BulkOutcomeHandlers<T>,
  ): Promise<ReadonlyMap<string, BulkRequestError>> {
    const uncreated = await indices.ensure(pending.map((doc) => doc.index));
    for (const failure of uncreated.values()) {
      if (isClusterBlock(failure.type)) this.#reportBlocks(handlers, parseBlocks(failure.message));
      else if (failure.status === undefined) handlers.health(failure);
    }
    return uncreated;
  }

  /** Sends `sendable` in one `_bulk` request; `undefined` when all got their final outcome. */
  async #send(sendable: T[], handlers: BulkOutcomeHandlers<T>, signal: AbortSignal): Promise<Leftover<T> | undefined> {
    let items: BulkItemResult[];
    const started = performance.now();
    try {
      items = await this.transport(bulkBody(sendable), signal);
    } catch (error) {
      const failure = error instanceof BulkRequestError ? error : new BulkRequestError((error as Error).message);
      return this.#failedWhole(sendable, failure, handlers);
    } finally {
      this.metrics.bulkDuration.observe((performance.now() - started) / 1000);
    }
    if (items.length !== sendable.length) {
      handlers.health(undefined);
      const error = `_bulk answered ${items.length} items for ${sendable.length} documents; resending all`;
      return { ...sentAgain(sendable, true), error, outcome: "failed", reported: true };
    }
    this.#answeredBlocks(sendable, items, handlers);
    return await this.#settle(sendable, items, handlers);
  }

  /** A request failed whole: reported as the block, outage or size refusal it is; all of it is sent again. */
  #failedWhole(sent: T[], failure: BulkRequestError, handlers: BulkOutcomeHandlers<T>): Leftover<T> {
    const blocked = isClusterBlock(failure.type);
    const tooLarge = refusedForSize(failure.status, failure.type, failure.message);
    if (blocked) this.#reportBlocks(handlers, parseBlocks(failure.message));
    // Refused for its size, the request was answered: no outage. The split says why.
    else if (tooLarge) this.#reportBlocks(handlers, []);
    else handlers.health(failure);
    return {
      ...sentAgain(sent, spendsRetryBudget(failure.status, failure)),
      status: failure.status,
      error: failure.message,
      outcome: "failed",
      tooLarge,
      reported: !tooLarge,
      blocked,
      heldByIndex: blocked,
    };
  }

  /**
   * Updates the blocks in force from an answered request: each index it wrote to is blocked by
   * what refused its items, or no longer blocked; a cluster-level block is over since it answered.
   */
  #answeredBlocks(sent: T[], items: BulkItemResult[], handlers: BulkOutcomeHandlers<T>): void {
    const seen = new Map<string, ClusterBlock | undefined>();
    for (let i = 0; i < sent.length; i++) {
      const block = itemBlock(sent[i].index, items[i].error);
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

  /** Halves a request refused for its size, and writes each half on its own. */
  async #split(
    pending: T[],
    handlers: BulkOutcomeHandlers<T>,
    signal: AbortSignal,
    refusal: Leftover<T>,
  ): Promise<void> {
    const why = refusal.status === 413
      ? "_bulk request too large for Elasticsearch"
      : "a circuit breaker refused the _bulk request";
    this.log.warn(`${why}; splitting it`, { documents: pending.length, status: refusal.status, error: refusal.error });
    const half = Math.ceil(pending.length / 2);
    await this.write(pending.slice(0, half), handlers, signal);
    await this.write(pending.slice(half), handlers, signal);
  }

  /** A lone document over `http.max_content_length`: it will never be accepted. */
  async #rejectTooLarge(document: T, handlers: BulkOutcomeHandlers<T>, error: string): Promise<void> {
    this.metrics.rejected.inc({ status: "413", reason: "request_too_large" });
    this.log.error("Elasticsearch refused a document as too large", { id: document.id, error });
    await handlers.rejected(document, { status: 413, error: { type: "request_too_large", reason: error } });
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
  async #settle(
    sent: T[],
    items: BulkItemResult[],
    handlers: BulkOutcomeHandlers<T>,
  ): Promise<Leftover<T> | undefined> {
    const indexed: T[] = [];
    const retry: T[] = [];
    const spent: T[] = [];
    let status = 0;
    let error = "";
    let auth = false;
    let blocked = false;
    /** Documents to retry that a block holds (a state of their index), of `retry`. */
    let blockHeld = 0;
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
        const block = isWriteBlocked(item.error?.type);
        blocked ||= block;
        if (block) blockHeld++;
        auth ||= !block && isAuthFailure(item.status);
        // A missing pipeline is configuration, like a block: waited out, never dead-lettered.
        const pipeline = isMissingPipeline(item.error);
        if (pipeline) missingPipeline = item.error!.reason;
        if (spendsRetryBudget(item.status, item.error)) spent.push(sent[i]);
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
    if (retry.length === 0) return undefined;
    return {
      retry,
      spent,
      status,
      error,
      outcome: "partial",
      tooLarge: false,
      reported: blocked && !auth,
      auth,
      blocked,
      heldByIndex: blockHeld === retry.length,
    };
  }
}

/** What an attempt left to send again, and why. */
interface Leftover<T> {
  retry: T[];
  /** Those whose retry spends the budget (not held by credentials, a block, a missing index or pipeline). */
  spent: T[];
  /** The status and error of the last failure. */
  status?: number;
  error: string;
  /** How its `_bulk` request went: "failed" whole, or not sent, when no document had an index. */
  outcome: "ok" | "partial" | "failed";
  /** The request was refused whole for its size (413, a circuit breaker): a smaller one may pass. */
  tooLarge: boolean;
  /** Why was said already (readiness: an outage, a block, an index not created); logged at debug. */
  reported: boolean;
  /** Some were refused for the credentials. */
  auth: boolean;
  /** Some are held by a block. */
  blocked: boolean;
  /** What is left is held by a state of its index (a block, closed, not created), not by a passing failure. */
  heldByIndex: boolean;
}

/** All of `documents` sent again, each spending its budget if `spending`. */
function sentAgain<T>(documents: T[], spending: boolean) {
  return {
    retry: documents,
    spent: spending ? documents : [],
    tooLarge: false,
    auth: false,
    blocked: false,
    heldByIndex: false,
  };
}

/** The documents whose index could not be created: sent again once it is, spending as their failure says. */
function waitingForIndices<T extends BulkDocument>(
  pending: T[],
  uncreated: ReadonlyMap<string, BulkRequestError>,
): Leftover<T> | undefined {
  if (uncreated.size === 0) return undefined;
  const retry = pending.filter((doc) => uncreated.has(doc.index));
  const spends = (doc: T) => {
    const failure = uncreated.get(doc.index)!;
    return spendsRetryBudget(failure.status, failure);
  };
  const failures = [...uncreated.values()];
  const last = failures[failures.length - 1];
  return {
    retry,
    spent: retry.filter(spends),
    status: last.status,
    error: last.message,
    outcome: "failed",
    tooLarge: false,
    reported: true,
    auth: false,
    blocked: failures.some((failure) => isClusterBlock(failure.type)),
    heldByIndex: true,
  };
}
