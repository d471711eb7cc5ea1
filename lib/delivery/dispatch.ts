/**
 * Dispatch, the pipeline's second job: documents buffered per index and sent as `_bulk` batches
 * within the request slots, dead letters sent to their sink, and the one bound on everything
 * held, dead letters included, that pauses the consumer. Each record that reaches Elasticsearch
 * or the dead letters is acknowledged to {@linkcode Acknowledgement}.
 */
import { BulkBuffer } from "./batch.ts";
import type { BulkItemResult, BulkRequestError, BulkWriter } from "../elastic/bulk_writer.ts";
import { type DeadLetter, deadLetterFields, type DeadLetterSink } from "./dead_letters.ts";
import type { EncodedDocument, RecordOrigin } from "../pmacct/document.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { Aborted, backoffDelay, sleep } from "../runtime/retry.ts";
import type { Acknowledgement } from "./acknowledgement.ts";

/** A document on its way, with what is needed to acknowledge or dead-letter it. */
export interface PendingDocument {
  index: string;
  id: string;
  source: EncodedDocument["source"];
  /** The flow's time (`@timestamp`), whose age at acknowledgement is the flow's freshness. */
  epochMs: number;
  /** Where the record was published: what its `_id` and a dead letter of it name. */
  origin: RecordOrigin;
  /**
   * The partition (its key in the offset tracker) and offset of the message it was read from, to
   * acknowledge: the origin's, except for a replayed dead letter (the dead-letter topic's).
   */
  partitionKey: string;
  offset: string;
  /** The partition's run that took it, to which it is acknowledged (see `Acknowledgement`). */
  run: number;
  /** The record as pmacct wrote it, for a dead letter: its bytes, or its text where not ASCII. */
  original: Uint8Array | string;
}

export interface DispatchOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxBuffered: number;
  /**
   * Bytes of records held, dead letters included (`ELASTIC_MAX_BUFFERED_BYTES`); none by default.
   * A `_bulk` request carries a quarter of it at most, and {@linkcode MAX_BATCH_BYTES} at most.
   */
  maxBufferedBytes?: number;
  concurrency: number;
}

export interface DispatchDeps {
  writer: BulkWriter<PendingDocument>;
  deadLetters: DeadLetterSink;
  /** Reports whether Elasticsearch answered (`undefined`) or how it failed, for readiness. */
  elasticHealth(failure: BulkRequestError | undefined): void;
  /** Reports a missing ingest pipeline (its reason) or its end (`undefined`), for readiness. */
  pipelineHealth?(missing: string | undefined): void;
  /** Where records that reached Elasticsearch or the dead letters are acknowledged. */
  acknowledgement: Pick<Acknowledgement, "acknowledge" | "commitReady">;
  log: Logger;
  metrics: Metrics;
  now: () => number;
}

/**
 * The most a `_bulk` request carries, whatever the bound on bytes held: Elastic's guidance is
 * requests of 5-15 MB, and one request is held whole in memory while it is written and retried.
 */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** Between the sends of parked documents: a block is lifted at any moment, and costs next to nothing to ask. */
const PARKED_BACKOFF = { initialMs: 250, maxMs: 5_000 };

/**
 * What a record holds in memory, counted against `maxBufferedBytes`: its bytes as pmacct wrote
 * them (the document written from them is of the same size).
 */
export const heldBytesOf = (document: PendingDocument) => document.original.length;

/**
 * Bytes (or text) of their own, for what may be held long (a dead letter Kafka refuses, a parked
 * document): a view into a fetched response, or a slice of a batch's decoded text, would keep the
 * whole response or text alive, which the bounds do not count.
 */
function own<T extends Uint8Array | string>(value: T): T {
  if (typeof value === "string") return (" " + value).slice(1) as T;
  return (value.byteLength < value.buffer.byteLength ? value.slice() : value) as T;
}

/** A dead letter being written, and the message it acknowledges. */
interface LetterOnItsWay {
  letter: DeadLetter;
  key: string;
  offset: string;
}

/** The buffer, its bound, and the sends out of it. */
export class Dispatch {
  readonly #buffer: BulkBuffer<PendingDocument>;
  readonly #inFlight = new Set<Promise<void>>();
  /** The documents of each request in flight, and why Elasticsearch has not taken the last of them yet. */
  readonly #batches = new Set<{ documents: PendingDocument[]; why?: string }>();
  readonly #deadLettering = new Set<Promise<void>>();
  readonly #letters = new Set<LetterOnItsWay>();
  readonly #abort = new AbortController();
  #inFlightDocuments = 0;
  #inFlightBytes = 0;
  /**
   * Documents one index's state holds (a block, a closed index, an index that cannot be created),
   * handed back by the writer: sent again by themselves with backoff, so that they never keep a
   * request slot from other indices' documents.
   */
  #parked: PendingDocument[] = [];
  #parkedBytes = 0;
  #parkedAttempt = 0;
  #parkedDueAt = 0;
  #parkedWhy = "";
  /** Bytes of the dead letters of undecodable lines waiting for or in a write. */
  #deadLetterBytes = 0;
  readonly #maxBufferedBytes: number;
  /** Dead letters of undecodable lines waiting for or in a write (rejected documents are in their batch). */
  #deadLettersHeld = 0;
  readonly #roomListeners: Array<() => void> = [];
  readonly #roomWaiters = new Set<() => void>();

  constructor(private readonly options: DispatchOptions, private readonly deps: DispatchDeps) {
    this.#maxBufferedBytes = options.maxBufferedBytes ?? Infinity;
    this.#buffer = new BulkBuffer({
      maxBatch: options.maxBatch,
      maxWaitMs: options.maxWaitMs,
      maxBatchBytes: Math.min(MAX_BATCH_BYTES, this.#maxBufferedBytes / 4),
      sizeOf: heldBytesOf,
    });
  }

  /** Records held: buffered, being sent, or waiting as dead letters. */
  get held(): number {
    return this.#buffer.size + this.#inFlightDocuments + this.#deadLettersHeld + this.#parked.length;
  }

  /** Bytes of the records held, as {@linkcode heldBytesOf} counts them, and of the dead letters held. */
  get heldBytes(): number {
    return this.#buffer.bytes + this.#inFlightBytes + this.#deadLetterBytes + this.#parkedBytes;
  }

  /** Bytes of room left under `maxBufferedBytes` (Infinity without the bound). */
  get roomBytes(): number {
    return this.#maxBufferedBytes - this.heldBytes;
  }

  /** Whether the buffer can take more records: fewer records and bytes held than their bounds. */
  get hasRoom(): boolean {
    return this.held < this.options.maxBuffered && this.heldBytes < this.#maxBufferedBytes;
  }

  /** Whether dispatch was stopped (or gave up draining): nothing more is taken. */
  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Resolves `true` as soon as the buffer has room, or `false` after `timeoutMs`. */
  whenRoom(timeoutMs: number): Promise<boolean> {
    if (this.hasRoom) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#roomWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#roomWaiters.add(done);
    });
  }

  /** Calls `listener` each time the held records fall to half the bound. */
  onRoom(listener: () => void): void {
    this.#roomListeners.push(listener);
  }

  /** Buffers a document; it goes out with its index's next batch. */
  add(document: PendingDocument, now: number): void {
    this.#buffer.add(document, now);
  }

  /** Publishes the held records' count (`pmacct_bridge_buffered_records`). */
  reportHeld(): void {
    this.deps.metrics.buffered.set(this.held);
    this.deps.metrics.bufferedBytes.set(this.heldBytes);
  }

  /**
   * Drops the records buffered but not yet sent, after a rebalance: Kafka delivers them again from
   * the committed offset to whoever owns their partition now, under the same `_id`s.
   */
  dropUnsent(): void {
    const dropped = this.#buffer.clear() + this.#parked.length;
    this.#parked = [];
    this.#parkedBytes = 0;
    if (dropped > 0) this.deps.log.info("rebalance: unsent records dropped, to be read again", { records: dropped });
    this.reportHeld();
    this.#wake();
  }

  /**
   * Sends every due batch (every batch if `force`) while request slots are free, and the parked
   * documents once their backoff is over.
   */
  pump(force = false): void {
    const slotFree = () => this.#inFlight.size < this.options.concurrency;
    // Even a drain waits out the parked documents' backoff: each try of a held index answers at once.
    if (this.#parked.length > 0 && slotFree() && this.deps.now() >= this.#parkedDueAt) {
      const parked = this.#parked;
      this.#parked = [];
      this.#parkedBytes = 0;
      this.#dispatchBatch(parked, force);
    }
    while (slotFree() && this.#buffer.size > 0 && (force || this.#buffer.due(this.deps.now()))) {
      this.#dispatchBatch(this.#buffer.take(this.deps.now()), force);
    }
  }

  /** Sends one batch in a free request slot. */
  #dispatchBatch(batch: PendingDocument[], force: boolean): void {
    const bytes = batch.reduce((sum, doc) => sum + heldBytesOf(doc), 0);
    this.#inFlightDocuments += batch.length;
    this.#inFlightBytes += bytes;
    const sending = this.#send(batch).finally(() => {
      this.#inFlight.delete(sending);
      this.#inFlightDocuments -= batch.length;
      this.#inFlightBytes -= bytes;
      this.reportHeld();
      this.#wake();
      this.pump(force);
      this.deps.acknowledgement.commitReady();
    });
    this.#inFlight.add(sending);
  }

  async #send(batch: PendingDocument[]): Promise<void> {
    const { acknowledgement } = this.deps;
    const sending: { documents: PendingDocument[]; why?: string } = { documents: batch };
    this.#batches.add(sending);
    let parked = false;
    try {
      await this.deps.writer.write(batch, {
        indexed: (documents) => {
          const nowMs = this.deps.now();
          const { flowAge } = this.deps.metrics;
          for (const doc of documents) {
            acknowledgement.acknowledge(doc.partitionKey, doc.offset, doc.run);
            flowAge.observe((nowMs - doc.epochMs) / 1000);
          }
        },
        rejected: (doc, item) => this.#rejected(doc, item),
        health: this.deps.elasticHealth,
        pipeline: this.deps.pipelineHealth,
        retrying: (_documents, why) => sending.why = why,
        park: (documents, why) => parked = this.#park(documents, why),
      }, this.#abort.signal);
      // A batch that went through whole ends the parked documents' backoff.
      if (!parked) this.#parkedAttempt = 0;
    } catch (error) {
      if (!(error instanceof Aborted)) {
        this.deps.log.error("bulk writer stopped unexpectedly", { error: (error as Error).message });
      }
    } finally {
      this.#batches.delete(sending);
    }
  }

  /** Takes documents the writer handed back (see `BulkOutcomeHandlers.park`); they go again after a backoff. */
  #park(documents: PendingDocument[], why: string): true {
    for (const doc of documents) {
      doc.original = own(doc.original);
      doc.source = String(doc.source);
      this.#parked.push(doc);
      this.#parkedBytes += heldBytesOf(doc);
    }
    this.#parkedWhy = why;
    this.#parkedDueAt = this.deps.now() + backoffDelay(this.#parkedAttempt++, PARKED_BACKOFF);
    return true;
  }

  /**
   * What holds the message at `offset` of partition `key`, in an operator's words: its dead letter
   * Kafka has not taken (and why), its document Elasticsearch has not taken (and why), or the buffer.
   */
  whyHeld(key: string, offset: string): string {
    for (const { letter, key: letterKey, offset: letterOffset } of this.#letters) {
      if (letterKey !== key || letterOffset !== offset) continue;
      const problem = this.deps.deadLetters.problem?.(letter) ?? "Kafka has not acknowledged it yet";
      return `its dead letter (${letter.reason}) is not written: ${problem}`;
    }
    const parked = this.#parked.find((doc) => doc.partitionKey === key && doc.offset === offset);
    if (parked) return `Elasticsearch holds its document for index ${parked.index}: ${this.#parkedWhy}`;
    for (const { documents, why } of this.#batches) {
      const document = documents.find((doc) => doc.partitionKey === key && doc.offset === offset);
      if (document === undefined) continue;
      return `Elasticsearch has not taken its document for index ${document.index}: ${
        why ?? "waiting for Elasticsearch's answer"
      }`;
    }
    return "its records wait in the buffer";
  }

  #rejected(doc: PendingDocument, item: BulkItemResult): Promise<void> {
    // Where its record was published, as the document's origin says it (a time not known too).
    const letter: DeadLetter = {
      ...doc.origin,
      reason: item.error?.type ?? `http_${item.status}`,
      detail: item.error?.reason ?? `status ${item.status}`,
      value: own(doc.original),
    };
    const onItsWay = { letter, key: doc.partitionKey, offset: doc.offset };
    this.#letters.add(onItsWay);
    return this.#store(letter).then(() => this.deps.acknowledgement.acknowledge(doc.partitionKey, doc.offset, doc.run))
      .finally(() => this.#letters.delete(onItsWay));
  }

  /**
   * Sends the dead letter of a line that never became a document; it is held (counts towards the
   * bound) until stored, and then the message it was read from (`key`, `offset`) is acknowledged.
   */
  deadLetter(held: DeadLetter, key: string, offset: string, run: number): void {
    const { acknowledgement } = this.deps;
    const letter = { ...held, value: own(held.value) };
    this.#deadLettersHeld++;
    this.#deadLetterBytes += letter.value.length;
    const onItsWay = { letter, key, offset };
    this.#letters.add(onItsWay);
    const sending = this.#store(letter).then(() => {
      acknowledgement.acknowledge(key, offset, run);
      acknowledgement.commitReady();
    }, (error) => {
      if (!(error instanceof Aborted)) {
        this.deps.log.error("dead letter not stored", { error: (error as Error).message });
      }
    }).finally(() => {
      this.#letters.delete(onItsWay);
      this.#deadLettering.delete(sending);
      this.#deadLettersHeld--;
      this.#deadLetterBytes -= letter.value.length;
      this.reportHeld();
      this.#wake();
    });
    this.#deadLettering.add(sending);
  }

  /**
   * Stores a dead letter: settles once the sink has it, or rejects with `Aborted` at shutdown. A
   * sink that fails otherwise (a fault of the bridge's; the Kafka sink retries Kafka's refusals
   * itself) is tried again with backoff: a letter dropped would hold its message unfinished for
   * good, and its partition's commit with it.
   */
  async #store(letter: DeadLetter): Promise<void> {
    const signal = this.#abort.signal;
    for (let attempt = 0;; attempt++) {
      try {
        return await this.deps.deadLetters.send(letter, signal);
      } catch (error) {
        if (error instanceof Aborted || signal.aborted) throw error;
        const delay = backoffDelay(attempt);
        this.deps.log.log(attempt === 0 ? "error" : "debug", "dead letter not stored; retrying", {
          ...deadLetterFields(letter),
          error: (error as Error).message,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  #wake(): void {
    if (this.#abort.signal.aborted) return;
    if (this.hasRoom) {
      for (const done of this.#roomWaiters) done();
      this.#roomWaiters.clear();
    }
    if (this.held > this.options.maxBuffered / 2 || this.heldBytes > this.#maxBufferedBytes / 2) return;
    for (const listener of this.#roomListeners) listener();
  }

  /**
   * Sends everything buffered within `timeoutMs`. Returns `false` if time ran out: then requests
   * still running are abandoned (aborted).
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const { now } = this.deps;
    const deadline = now() + timeoutMs;
    const busy = () =>
      this.#buffer.size > 0 || this.#parked.length > 0 || this.#inFlight.size > 0 || this.#deadLettering.size > 0;
    while (busy()) {
      if (now() >= deadline) break;
      this.pump(true);
      const wakeAt = this.#parked.length > 0 ? Math.min(deadline, this.#parkedDueAt) : deadline;
      await Promise.race([
        ...this.#inFlight,
        ...this.#deadLettering,
        new Promise((resolve) => setTimeout(resolve, Math.max(1, wakeAt - now()))),
      ]);
    }
    const finished = !busy();
    if (!finished) this.#abort.abort();
    return finished;
  }

  /** Aborts every send under way; nothing more is taken. */
  stop(): void {
    this.#abort.abort();
  }
}
