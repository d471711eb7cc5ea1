/**
 * The bridge's flow, independent of the Kafka client: messages in, documents buffered per index,
 * `_bulk` batches out, and offsets released for commit only once every record of a message is
 * indexed or dead-lettered.
 */
import { BulkBuffer } from "./batch.ts";
import type { BulkItemResult, BulkRequestError, BulkWriter } from "../elastic/bulk_writer.ts";
import type { DeadLetter, DeadLetterSink } from "./dead_letters.ts";
import { batchTexts, type DecodedLine, decodeMessage } from "../pmacct/decode.ts";
import { formatDurationOrOff } from "../config/parse.ts";
import {
  type EncodedDocument,
  encodeDocument,
  type EncodeOptions,
  type Misdated,
  type RecordOrigin,
} from "../pmacct/document.ts";
import { isNameableDate } from "../pmacct/flow_time.ts";
import type { Logger } from "../runtime/log.ts";
import { utcDay } from "../elastic/index_name.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { OncePerPeriod } from "../runtime/once_per_period.ts";
import { OffsetTracker } from "./offsets.ts";
import { Aborted } from "../runtime/retry.ts";

/** A Kafka message as the pipeline needs it; kafkajs' own message objects are ones. */
export interface SourceMessage {
  offset: string;
  /** Kafka timestamp, epoch milliseconds as a decimal string (kafkajs' form). */
  timestamp: string;
  value: Uint8Array | null;
}

/** A document on its way, with what is needed to acknowledge or dead-letter it. */
export interface PendingDocument {
  index: string;
  id: string;
  source: EncodedDocument["source"];
  topic: string;
  partition: number;
  /** The partition's key in the offset tracker, shared by its documents. */
  partitionKey: string;
  offset: string;
  position: number;
  generation: number;
  /** The record as pmacct wrote it, for a dead letter: its bytes, or its text where not ASCII. */
  original: Uint8Array | string;
}

export interface CommitRequest {
  topic: string;
  partition: number;
  offset: string;
}

export interface PipelineOptions extends EncodeOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxBuffered: number;
  concurrency: number;
  /** `ELASTIC_RETENTION`'s days: flows filed into a day it deletes are counted and logged. */
  retentionDays?: number;
}

/** How often a misdated flow or one older than retention is logged, per exporter. */
const TIME_WARNING_PERIOD_MS = 10 * 60_000;

export interface PipelineDeps {
  writer: BulkWriter<PendingDocument>;
  deadLetters: DeadLetterSink;
  /** Commits offsets to Kafka; may throw (then the same offsets are retried later). */
  commit(offsets: CommitRequest[]): Promise<void>;
  /** Reports whether Elasticsearch answered (`undefined`) or how it failed, for readiness. */
  elasticHealth(failure: BulkRequestError | undefined): void;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
}

/**
 * The dead-letter reason of a record that decoded but threw while being normalised or encoded:
 * one such record must never stop its partition.
 */
export const ENCODE_ERROR = "encode_error";

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Where the messages {@linkcode Pipeline.ingest} takes come from, and when they were taken. */
interface TakenFrom {
  topic: string;
  partition: number;
  key: string;
  generation: number;
  now: number;
}

export class Pipeline {
  readonly #buffer: BulkBuffer<PendingDocument>;
  readonly #tracker = new OffsetTracker();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #deadLettering = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #now: () => number;
  #generation = 0;
  #inFlightDocuments = 0;
  /** Dead letters of undecodable lines waiting for or in a write (rejected documents are in their batch). */
  #deadLettersHeld = 0;
  #committing: Promise<void> | undefined;
  #commitAgain = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #roomListeners: Array<() => void> = [];
  readonly #roomWaiters = new Set<() => void>();
  #encodeOptions: EncodeOptions;
  readonly #misdatedWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);
  readonly #retentionWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);

  constructor(private readonly options: PipelineOptions, private readonly deps: PipelineDeps) {
    this.#buffer = new BulkBuffer({ maxBatch: options.maxBatch, maxWaitMs: options.maxWaitMs });
    this.#now = deps.now ?? Date.now;
    this.#encodeOptions = options;
  }

  /**
   * Names the Kafka cluster the records come from (its cluster id), before the first
   * {@linkcode ingest}: it is part of every `_id`, so that two clusters' records never share one.
   */
  identifySource(clusterId: string | undefined): void {
    this.#encodeOptions = { ...this.options, sourceCluster: clusterId };
  }

  /** Starts the timer that sends due batches even when no message arrives. */
  start(tickMs = Math.min(250, this.options.maxWaitMs)): void {
    this.#timer = setInterval(() => {
      this.#pump();
      this.#commitReady();
    }, tickMs);
  }

  /**
   * Records held: buffered, being sent, or waiting as dead letters. Dead letters count too, so a
   * dead-letter topic that refuses them pauses the consumer like a slow Elasticsearch does.
   */
  get held(): number {
    return this.#buffer.size + this.#inFlightDocuments + this.#deadLettersHeld;
  }

  /** Whether the buffer can take more messages; at the bound the consumer pauses fetching. */
  get hasRoom(): boolean {
    return this.held < this.options.maxBuffered;
  }

  /**
   * Resolves `true` as soon as the buffer has room, or `false` after `timeoutMs`. Under steady
   * load a full buffer frees up within one `_bulk` round trip; waiting that long is much cheaper
   * than pausing the partition and fetching the same messages again.
   */
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

  /**
   * Calls `listener` each time the held records fall to half the bound, so paused partitions
   * resume with room for several batches instead of flapping at the edge.
   */
  onRoom(listener: () => void): void {
    this.#roomListeners.push(listener);
  }

  /**
   * Takes messages of one partition, in order, while the buffer has room. Returns how many were
   * taken; for the rest the caller waits for room ({@linkcode whenRoom}) or pauses the partition
   * and has Kafka deliver them again after {@linkcode onRoom}. Never waits itself, so the
   * consumer keeps heartbeating and can rebalance.
   */
  ingest(topic: string, partition: number, messages: readonly SourceMessage[]): number {
    const generation = this.#generation;
    const now = this.#now();
    const key = partitionKey(topic, partition);
    let taken = this.#alreadyTaken(key, messages);
    let flows = 0;
    while (taken < messages.length && this.hasRoom && !this.#abort.signal.aborted) {
      // One UTF-8 decoding for as many messages as there is room for: each holds a record or more.
      const chunk = messages.slice(taken, taken + this.options.maxBuffered - this.held);
      const texts = batchTexts(chunk.map((message) => message.value));
      for (let i = 0; i < chunk.length && this.hasRoom; i++) {
        const lines = decodeMessage(chunk[i].value, texts?.[i]);
        flows += this.#take({ topic, partition, key, generation, now }, chunk[i], lines);
        taken++;
      }
    }
    if (flows > 0) this.deps.metrics.samples.inc(flows);
    this.deps.metrics.buffered.set(this.held);
    this.#pump();
    return taken;
  }

  /**
   * How many leading messages were taken before in this generation: kafkajs fetches a batch again
   * when `eachBatch` threw after ingesting. Their records are buffered or sent already, so they
   * count as taken and are neither decoded nor buffered again.
   */
  #alreadyTaken(key: string, messages: readonly SourceMessage[]): number {
    let count = 0;
    while (count < messages.length && this.#tracker.begun(key, Number(messages[count].offset))) count++;
    if (count > 0) {
      this.deps.log.debug("messages delivered again in the same generation; already taken", {
        partition: key.replace("\u0000", ":"),
        from: messages[0].offset,
        messages: count,
      });
    }
    return count;
  }

  /** Buffers a message's flows, dead-letters its invalid lines, counts its markers; returns its flows. */
  #take(from: TakenFrom, message: SourceMessage, lines: DecodedLine[]): number {
    const { metrics } = this.deps;
    const { topic, partition, key, generation } = from;
    const offset = message.offset;
    let units = 0;
    for (const line of lines) if (line.kind !== "marker") units++;
    if (!this.#tracker.begin(key, Number(offset), units)) return 0;
    const timestampMs = Number(message.timestamp);
    let flows = 0;
    for (const line of lines) {
      if (line.kind === "marker") {
        metrics.markers.inc({ event_type: line.eventType });
        if (line.purgedEntries !== undefined) metrics.purgedEntries.inc(line.purgedEntries);
        continue;
      }
      const position = line.position;
      if (line.kind === "invalid") {
        const letter = { topic, partition, offset, position, reason: line.reason, detail: line.detail };
        this.#refuse("message is not a pmacct JSON record", { ...letter, value: line.bytes }, from);
        continue;
      }
      const origin = { topic, partition, offset, position, timestampMs };
      let document: EncodedDocument;
      try {
        document = encodeDocument(line.record, origin, this.#encodeOptions, line.text, line.bytes);
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        const letter = { topic, partition, offset, position, reason: ENCODE_ERROR, detail };
        this.#refuse("pmacct record cannot be encoded", { ...letter, value: line.bytes ?? line.text }, from);
        continue;
      }
      flows++;
      this.#checkTime(document, line.record, origin, from.now);
      const { index, id, source } = document;
      this.#buffer.add({
        index,
        id,
        source,
        topic,
        partition,
        partitionKey: key,
        offset,
        position,
        generation,
        original: line.bytes ?? line.text,
      }, from.now);
    }
    return flows;
  }

  /** Counts and logs (once per exporter and period) a flow filed under its Kafka time, or into a day retention deletes. */
  #checkTime(document: EncodedDocument, record: Record<string, unknown>, origin: RecordOrigin, now: number): void {
    const keepDays = this.options.retentionDays;
    const expired = keepDays !== undefined && utcDay(document.epochMs) < utcDay(now) - keepDays;
    if (document.misdated === undefined && !expired) return;
    const exporter = typeof record.peer_ip_src === "string" && record.peer_ip_src !== ""
      ? record.peer_ip_src
      : "unknown";
    if (document.misdated !== undefined) {
      this.deps.metrics.flowTimeRefused.inc({ reason: document.misdated.reason });
      if (this.#misdatedWarnings.due(exporter, now)) this.#logMisdated(document.misdated, exporter, origin);
    }
    if (expired) {
      this.deps.metrics.olderThanRetention.inc();
      if (!this.#retentionWarnings.due(exporter, now)) return;
      this.deps.log.warn("flow is older than ELASTIC_RETENTION: indexed, and its day deleted at retention's next run", {
        exporter,
        index: document.index,
        keep_days: keepDays,
        topic: origin.topic,
        partition: origin.partition,
        offset: origin.offset,
        note: "logged once per exporter per 10 minutes; pmacct_bridge_flows_older_than_retention_total counts all",
      });
    }
  }

  #logMisdated({ reason, field, flowMs }: Misdated, exporter: string, origin: RecordOrigin): void {
    const window = this.options.flowTimeWindow ?? {};
    this.deps.log.warn("flow time refused: filed under its Kafka message time", {
      exporter,
      reason,
      field,
      flow_time: isNameableDate(flowMs) ? new Date(flowMs).toISOString() : String(flowMs),
      kafka_time: isNameableDate(origin.timestampMs)
        ? new Date(origin.timestampMs).toISOString()
        : String(origin.timestampMs),
      max_age: formatDurationOrOff(window.maxAgeMs),
      max_ahead: formatDurationOrOff(window.maxAheadMs),
      topic: origin.topic,
      partition: origin.partition,
      offset: origin.offset,
      note: "logged once per exporter per 10 minutes; pmacct_bridge_flow_time_refused_total counts all",
    });
  }

  /** A line that cannot become a document: counted and logged as a decode error, and dead-lettered. */
  #refuse(message: string, letter: DeadLetter, { key, generation }: TakenFrom): void {
    const { reason, detail, topic, partition, offset, position } = letter;
    this.deps.metrics.decodeErrors.inc({ reason });
    this.deps.log.error(message, { reason, detail, topic, partition, offset, position });
    this.#deadLetter(letter, key, generation);
  }

  /** The last offset committed for a partition in this generation. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.#tracker.committedOffset(partitionKey(topic, partition));
  }

  /**
   * Called once a rebalance gave this member its new assignment. Acknowledgements of the old
   * assignment no longer commit, and records buffered but not yet sent are dropped: Kafka
   * delivers them again from the committed offset to whoever owns their partition now, under the
   * same `_id`s. Requests already in flight finish (and overwrite the same `_id`s if re-sent).
   */
  newGeneration(): void {
    this.#generation++;
    for (const key of this.#tracker.keys()) this.#tracker.forget(key);
    const dropped = this.#buffer.clear();
    if (dropped > 0) this.deps.log.info("rebalance: unsent records dropped, to be read again", { records: dropped });
    this.deps.metrics.buffered.set(this.held);
    this.#wake();
  }

  /**
   * Commits what is acknowledged now; called when a rebalance starts, so the partitions given up
   * carry the furthest safe offset to their next owner.
   */
  commitAcknowledged(): Promise<void> {
    return this.#commitReady();
  }

  /** Sends every due batch while request slots are free. */
  #pump(force = false): void {
    while (
      this.#inFlight.size < this.options.concurrency && this.#buffer.size > 0 &&
      (force || this.#buffer.due(this.#now()))
    ) {
      const batch = this.#buffer.take(this.#now());
      this.#inFlightDocuments += batch.length;
      const sending = this.#send(batch).finally(() => {
        this.#inFlight.delete(sending);
        this.#inFlightDocuments -= batch.length;
        this.deps.metrics.buffered.set(this.held);
        this.#wake();
        this.#pump(force);
        this.#commitReady();
      });
      this.#inFlight.add(sending);
    }
  }

  async #send(batch: PendingDocument[]): Promise<void> {
    try {
      await this.deps.writer.write(batch, {
        indexed: (documents) => {
          for (const doc of documents) this.#acknowledge(doc);
        },
        rejected: (doc, item) => this.#rejected(doc, item),
        health: this.deps.elasticHealth,
      }, this.#abort.signal);
    } catch (error) {
      if (!(error instanceof Aborted)) {
        this.deps.log.error("bulk writer stopped unexpectedly", { error: (error as Error).message });
      }
    }
  }

  #acknowledge(doc: PendingDocument): void {
    if (doc.generation !== this.#generation) return;
    this.#tracker.complete(doc.partitionKey, Number(doc.offset));
  }

  #rejected(doc: PendingDocument, item: BulkItemResult): Promise<void> {
    const letter: DeadLetter = {
      reason: item.error?.type ?? `http_${item.status}`,
      detail: item.error?.reason ?? `status ${item.status}`,
      topic: doc.topic,
      partition: doc.partition,
      offset: doc.offset,
      position: doc.position,
      value: doc.original,
    };
    return this.deps.deadLetters.send(letter, this.#abort.signal).then(() => this.#acknowledge(doc));
  }

  #deadLetter(letter: DeadLetter, key: string, generation: number): void {
    this.#deadLettersHeld++;
    const sending = this.deps.deadLetters.send(letter, this.#abort.signal).then(() => {
      if (generation === this.#generation) this.#tracker.complete(key, Number(letter.offset));
      this.#commitReady();
    }, (error) => {
      if (!(error instanceof Aborted)) {
        this.deps.log.error("dead letter not stored", { error: (error as Error).message });
      }
    }).finally(() => {
      this.#deadLettering.delete(sending);
      this.#deadLettersHeld--;
      this.deps.metrics.buffered.set(this.held);
      this.#wake();
    });
    this.#deadLettering.add(sending);
  }

  /**
   * Commits every partition whose safe offset moved; one commit at a time, and once more after
   * it if more became safe meanwhile.
   */
  #commitReady(): Promise<void> {
    if (this.#committing) {
      this.#commitAgain = true;
      return this.#committing;
    }
    const offsets: CommitRequest[] = [];
    for (const key of this.#tracker.keys()) {
      const next = this.#tracker.committable(key);
      if (next === undefined) continue;
      const [topic, partition] = key.split("\u0000");
      offsets.push({ topic, partition: Number(partition), offset: String(next) });
    }
    if (offsets.length === 0) return Promise.resolve();
    const generation = this.#generation;
    this.#committing = this.deps.commit(offsets).then(() => {
      if (generation !== this.#generation) return;
      for (const { topic, partition, offset } of offsets) {
        this.#tracker.markCommitted(partitionKey(topic, partition), Number(offset));
        this.deps.metrics.committed.set({ topic, partition: String(partition) }, Number(offset));
      }
    }, (error) => {
      this.deps.log.warn("offset commit failed; will retry", { error: (error as Error).message });
    }).finally(() => {
      this.#committing = undefined;
      if (this.#commitAgain) {
        this.#commitAgain = false;
        this.#commitReady();
      }
    });
    return this.#committing;
  }

  #wake(): void {
    if (this.#abort.signal.aborted) return;
    if (this.hasRoom) {
      for (const done of this.#roomWaiters) done();
      this.#roomWaiters.clear();
    }
    if (this.held > this.options.maxBuffered / 2) return;
    for (const listener of this.#roomListeners) listener();
  }

  /** Messages taken whose records are not all indexed or dead-lettered yet. */
  unfinished(): number {
    return this.#tracker.inFlight();
  }

  /**
   * Sends everything buffered and commits, within `timeoutMs`. Returns `false` if time ran out:
   * requests still running are abandoned and their offsets stay uncommitted.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = this.#now() + timeoutMs;
    const busy = () => this.#buffer.size > 0 || this.#inFlight.size > 0 || this.#deadLettering.size > 0;
    while (busy()) {
      if (this.#now() >= deadline) break;
      this.#pump(true);
      await Promise.race([
        ...this.#inFlight,
        ...this.#deadLettering,
        new Promise((resolve) => setTimeout(resolve, Math.max(1, deadline - this.#now()))),
      ]);
    }
    const finished = !busy();
    if (!finished) this.#abort.abort();
    if (this.#committing) await this.#committing;
    await this.#commitReady();
    this.stop();
    return finished;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }
}
