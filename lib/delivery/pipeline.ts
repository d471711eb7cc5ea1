/**
 * The bridge's flow, independent of the Kafka client: messages in, each record decoded and
 * encoded into a document, and the two jobs composed: {@linkcode Dispatch} buffers and sends the
 * documents and dead letters, {@linkcode Acknowledgement} releases a message's offset for commit
 * only once every record of it is indexed or dead-lettered.
 */
import { lostText, OffsetResets, type SkippedOffsets } from "./offset_resets.ts";
import { Acknowledgement, type CommitRequest, partitionKey, type Refusal, type RunStart } from "./acknowledgement.ts";
import type { BulkRequestError, BulkWriter } from "../elastic/bulk_writer.ts";
import { type DeadLetter, deadLetterFields, type DeadLetterSink } from "./dead_letters.ts";
import { batchTexts, type DecodedLine, decodeMessage, MAX_RECORD_LENGTH } from "../pmacct/decode.ts";
import { valueText } from "../pmacct/exact_integers.ts";
import { Dispatch, type DispatchOptions, type PendingDocument } from "./dispatch.ts";
import { encodeDocument, type EncodeOptions, type RecordOrigin } from "../pmacct/document.ts";
import { type FlowTimeCheckOptions, FlowTimeChecks } from "../pmacct/flow_time_checks.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { type AdmissionStage, ADMIT_ALL, type OriginStage, PUBLISHED_HERE, type SourceMessage } from "./stages.ts";

export type { CommitRequest, Refusal, RunStart } from "./acknowledgement.ts";
export type { PendingDocument } from "./dispatch.ts";
export type { SourceMessage } from "./stages.ts";

/** How records are encoded, batched and bounded, and which of their times are reported. */
export interface PipelineOptions extends EncodeOptions, DispatchOptions, FlowTimeCheckOptions {
  /**
   * Messages of one partition tracked past the first one not finished, before the partition is
   * read no further (default: ten buffers, at least 100,000; a few bytes each): one record that
   * cannot finish (a dead letter Kafka refuses for good) holds its partition's commit, and without
   * a bound every message read after it would be kept.
   */
  maxUncommitted?: number;
}

export interface PipelineDeps {
  writer: BulkWriter<PendingDocument>;
  deadLetters: DeadLetterSink;
  /** Commits offsets to Kafka; may throw (then the same offsets are retried later). */
  commit(offsets: CommitRequest[]): Promise<void>;
  /** Reports whether Elasticsearch answered (`undefined`) or how it failed, for readiness. */
  elasticHealth(failure: BulkRequestError | undefined): void;
  /** Reports a missing ingest pipeline (its reason) or its end (`undefined`), for readiness. */
  pipelineHealth?(missing: string | undefined): void;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
}

/**
 * The dead-letter reason of a record that decoded but threw while being normalised or encoded:
 * one such record must never stop its partition.
 */
export const ENCODE_ERROR = "encode_error";

/**
 * The dead-letter reason of a message whose reading threw outside any one record (a fault of the
 * bridge's): the whole message goes to the dead letters rather than strand its partition.
 */
export const INTERNAL_ERROR = "internal_error";

/**
 * A fetched batch the pipeline admitted: its partition, and the generation it was admitted in.
 * Taking from it stops once that generation ends.
 */
export interface Ticket {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  readonly generation: number;
  /** The partition's run that took the batch: what its records are acknowledged to. */
  readonly run: number;
}

/** What {@linkcode Pipeline.admit} says of a fetched batch: take it, or read the partition again from `seekTo`. */
export type BatchAdmission = { ticket: Ticket } | { refused: Refusal; seekTo?: number };

/** A partition whose commit cannot move, read no further: the offset that holds it and why. */
export interface HeldPartition {
  topic: string;
  partition: number;
  offset: number;
  why: string;
}

/** How a drain ended: everything sent, its commit made, and what rebalances left meanwhile. */
export interface DrainReport {
  /** Every record held was indexed or dead-lettered in time. */
  sent: boolean;
  /** The last commit went through (kafkajs made it) and covers everything finished. */
  committed: boolean;
  /** Offsets taken and not committed when a rebalance ended their generation during the drain. */
  leftToRebalance: number;
}

/** One line's fate, worked out before its message is registered. */
type Outcome =
  | { document: PendingDocument; letter?: undefined }
  | { document?: undefined; letter: DeadLetter; said: string };

/** The façade the consumer, shutdown and `main.ts` drive: the record path, composing the two jobs. */
export class Pipeline {
  readonly #acknowledgement: Acknowledgement;
  readonly #dispatch: Dispatch;
  readonly #flowTimeChecks: FlowTimeChecks;
  readonly #now: () => number;
  readonly #maxUncommitted: number;
  /** A record longer is dead-lettered as too large: the decoder's limit, or the bytes bound if smaller. */
  readonly #maxRecordLength: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #encodeOptions: EncodeOptions;
  #admission: AdmissionStage = ADMIT_ALL;
  #origin: OriginStage = PUBLISHED_HERE;
  readonly #resets = new OffsetResets();
  /** A message's outcomes, reused from message to message. */
  readonly #outcomes: Outcome[] = [];

  constructor(private readonly options: PipelineOptions, private readonly deps: PipelineDeps) {
    const { log, metrics } = deps;
    this.#now = deps.now ?? Date.now;
    this.#encodeOptions = options;
    this.#maxUncommitted = options.maxUncommitted ?? Math.max(100_000, 10 * options.maxBuffered);
    this.#maxRecordLength = Math.min(MAX_RECORD_LENGTH, options.maxBufferedBytes ?? Infinity);
    this.#acknowledgement = new Acknowledgement({ commit: deps.commit, log, metrics });
    this.#dispatch = new Dispatch(options, {
      writer: deps.writer,
      deadLetters: deps.deadLetters,
      elasticHealth: deps.elasticHealth,
      pipelineHealth: deps.pipelineHealth,
      acknowledgement: this.#acknowledgement,
      log,
      metrics,
      now: this.#now,
    });
    this.#flowTimeChecks = new FlowTimeChecks(options, { log, metrics });
  }

  /**
   * Names the Kafka cluster the records come from (its cluster id), before the first
   * {@linkcode ingest}: it is part of every `_id`, so that two clusters' records never share one.
   */
  identifySource(clusterId: string | undefined): void {
    this.#encodeOptions = { ...this.options, sourceCluster: clusterId };
  }

  /**
   * Plugs a run's own stages in, before the first {@linkcode ingest}: which messages and records
   * it writes (`--backfill`, `--replay-dead-letters`), and where its records were published
   * (`--replay-dead-letters`). Normal running keeps the defaults.
   */
  plug(stages: { admission?: AdmissionStage; origin?: OriginStage }): void {
    this.#admission = stages.admission ?? this.#admission;
    this.#origin = stages.origin ?? this.#origin;
  }

  /** Starts the timer that sends due batches even when no message arrives. */
  start(tickMs = Math.min(250, this.options.maxWaitMs)): void {
    this.#timer = setInterval(() => {
      this.#dispatch.pump();
      this.#acknowledgement.commitReady();
    }, tickMs);
  }

  /**
   * Records held: buffered, being sent, or waiting as dead letters. Dead letters count too, so a
   * dead-letter topic that refuses them pauses the consumer like a slow Elasticsearch does.
   */
  get held(): number {
    return this.#dispatch.held;
  }

  /** Whether the buffer can take more messages; at the bound the consumer pauses fetching. */
  get hasRoom(): boolean {
    return this.#dispatch.hasRoom;
  }

  /**
   * Resolves `true` as soon as the buffer has room, or `false` after `timeoutMs`. Under steady
   * load a full buffer frees up within one `_bulk` round trip; waiting that long is much cheaper
   * than pausing the partition and fetching the same messages again.
   */
  whenRoom(timeoutMs: number): Promise<boolean> {
    return this.#dispatch.whenRoom(timeoutMs);
  }

  /**
   * Calls `listener` each time the held records fall to half the bound, so paused partitions
   * resume with room for several batches instead of flapping at the edge.
   */
  onRoom(listener: () => void): void {
    this.#dispatch.onRoom(listener);
  }

  /** The current generation: a new one begins at each join of the group. */
  get generation(): number {
    return this.#acknowledgement.generation;
  }

  /**
   * Where each partition's reading starts in `generation` (by {@linkcode partitionKey}): the
   * group's commit as read after the join. Batches wait for it ({@linkcode whenStarted}).
   */
  startRuns(generation: number, starts: ReadonlyMap<string, RunStart>): void {
    this.#acknowledgement.startRuns(generation, starts);
  }

  /** Resolves once a generation's runs start, or after `timeoutMs`. */
  whenStarted(timeoutMs: number): Promise<void> {
    return this.#acknowledgement.whenStarted(timeoutMs);
  }

  /** Resolves once no commit is under way (a new generation reads the group's commit after it). */
  commitsSettled(): Promise<void> {
    return this.#acknowledgement.idle();
  }

  /**
   * Whether a batch of `topic`:`partition` kafkajs fetched from `fetchedOffset` is taken: only one
   * that continues the partition's run in the current generation is (see `Acknowledgement.admit`).
   * A refusal is counted; a batch refused with `seekTo` is to be read again from there.
   */
  admit(topic: string, partition: number, fetchedOffset: string): BatchAdmission {
    const key = partitionKey(topic, partition);
    const generation = this.#acknowledgement.generation;
    const admission = this.#acknowledgement.admit(key, Number(fetchedOffset), generation);
    if (admission.take) return { ticket: { topic, partition, key, generation, run: admission.run } };
    if (admission.reason !== "start_unknown") {
      this.deps.metrics.batchesRefused.inc({ reason: admission.reason });
      this.deps.log.debug("fetched batch not taken: it does not continue its partition's reading", {
        partition: `${topic}:${partition}`,
        fetched_from: fetchedOffset,
        reason: admission.reason,
        read_again_from: admission.seekTo,
      });
    }
    return { refused: admission.reason, seekTo: admission.seekTo };
  }

  /**
   * Takes messages of an admitted batch, in order, while the buffer has room, the partition's
   * uncommitted span is under its bound, and the ticket's generation lasts. Returns how many were
   * taken; for the rest the caller waits for room ({@linkcode whenRoom}) or pauses the partition.
   * Never waits itself, so the consumer keeps heartbeating and can rebalance.
   */
  ingest(ticket: Ticket, messages: readonly SourceMessage[]): number {
    const dispatch = this.#dispatch;
    const acknowledgement = this.#acknowledgement;
    const { key, run } = ticket;
    if (run !== acknowledgement.runOf(key)) return 0;
    const now = this.#now();
    if (this.#resets.waiting && messages.length > 0) this.#resumed(key, messages[0].offset);
    const takenFrom = { ...ticket, now };
    let taken = 0;
    let flows = 0;
    const open = () => dispatch.hasRoom && !dispatch.stopped && acknowledgement.span(key) < this.#maxUncommitted;
    while (taken < messages.length && open()) {
      // One UTF-8 decoding for as many messages as there is room for: each holds a record or more.
      const chunk = messages.slice(taken, taken + this.#roomFor(messages, taken));
      const texts = batchTexts(chunk.map((message) => message.value));
      for (let i = 0; i < chunk.length && dispatch.hasRoom; i++) {
        flows += this.#take(takenFrom, chunk[i], texts?.[i]);
        taken++;
      }
    }
    if (flows > 0) this.deps.metrics.samples.inc(flows);
    dispatch.reportHeld();
    dispatch.pump();
    return taken;
  }

  /**
   * How many of `messages`, from `from` on, fit in the room left: in records, and in bytes (one at
   * least). Only those are decoded at once, so the text of messages not taken is never made (a
   * record taken keeps its whole decoded chunk alive when it is not ASCII).
   */
  #roomFor(messages: readonly SourceMessage[], from: number): number {
    const dispatch = this.#dispatch;
    const records = Math.min(messages.length - from, this.options.maxBuffered - dispatch.held);
    let bytes = dispatch.roomBytes;
    let count = 0;
    while (count < records && (count === 0 || bytes > 0)) bytes -= messages[from + count++].value?.length ?? 0;
    return count;
  }

  /**
   * The batch of `ticket` was taken up to `resolvedOffset` (what kafkajs resolves: its last
   * message, or past trailing markers): `true` when the caller may resolve it, `false` when the
   * generation ended meanwhile (resolving would move kafkajs past records the new one needs).
   */
  settle(ticket: Ticket, resolvedOffset: string): boolean {
    return this.#acknowledgement.settle(ticket.key, Number(resolvedOffset), ticket.run);
  }

  /**
   * kafkajs resolved a batch of `topic`:`partition` itself, with nothing in it for the bridge
   * (transaction markers, aborted or compacted records): the partition's run goes on past it
   * when it was read from the run's end.
   */
  passedOver(topic: string, partition: number, firstOffset: string | null, lastOffset: string): void {
    const first = firstOffset === null ? undefined : Number(firstOffset);
    this.#acknowledgement.passedOver(partitionKey(topic, partition), first, Number(lastOffset));
  }

  /** The offset `topic`:`partition`'s next batch is to be fetched from, once its run started. */
  position(topic: string, partition: number): number | undefined {
    return this.#acknowledgement.position(partitionKey(topic, partition));
  }

  /** Whether `topic`:`partition` is read no further because its commit cannot move (see `maxUncommitted`). */
  spanFull(topic: string, partition: number): boolean {
    return this.#acknowledgement.span(partitionKey(topic, partition)) >= this.#maxUncommitted;
  }

  /** The partitions read no further because their commit cannot move, with what holds each. */
  heldPartitions(partitions: ReadonlyArray<{ topic: string; partition: number }>): HeldPartition[] {
    const held: HeldPartition[] = [];
    for (const { topic, partition } of partitions) {
      const key = partitionKey(topic, partition);
      if (this.#acknowledgement.span(key) < this.#maxUncommitted) continue;
      const offset = this.#acknowledgement.holdingOffset(key);
      if (offset === undefined) continue;
      held.push({ topic, partition, offset, why: this.#dispatch.whyHeld(key, String(offset)) });
    }
    return held;
  }

  /**
   * Takes one message: works out every line's fate first (documents, dead letters, lines a run
   * lets go), then registers the message with as many acknowledgements as it awaits, then hands
   * them over. Nothing can throw between the registration and the hand-over, so a message is
   * never left waiting for an acknowledgement that cannot come. Returns its flows.
   */
  #take(from: Ticket & { now: number }, message: SourceMessage, text: string | undefined): number {
    const { key, run } = from;
    const offset = message.offset;
    const acknowledgement = this.#acknowledgement;
    const reading = this.#admission.message(key, offset);
    // Left untaken for the next run, they never move the commit: should Kafka delete the range's
    // last letters under a run, its commit then stays short of the end, where the run sees it.
    if (reading === "leave") return 0;
    const outcomes = this.#outcomes;
    outcomes.length = 0;
    let flows = 0;
    try {
      const origin = reading === "read" ? this.#origin.of(from.topic, from.partition, message) : null;
      if (origin === null) {
        acknowledgement.begin(key, offset, 0);
        return 0;
      }
      flows = this.#linesOf(from, message, decodeMessage(message.value, text, this.#maxRecordLength), origin);
    } catch (error) {
      outcomes.length = 0;
      flows = 0;
      const value = message.value ?? new Uint8Array();
      const origin = PUBLISHED_HERE.of(from.topic, from.partition, message)!;
      const detail = error instanceof Error ? error.message : String(error);
      const letter = { ...origin, reason: INTERNAL_ERROR, detail, value };
      outcomes.push({ letter, said: "message cannot be read (a fault of the bridge's): dead-lettered whole" });
    }
    if (!acknowledgement.begin(key, offset, outcomes.length)) return 0;
    for (const outcome of outcomes) {
      if (outcome.document) this.#dispatch.add(outcome.document, from.now);
      else this.#refuse(outcome.said, outcome.letter, key, offset, run);
    }
    return flows;
  }

  /** Works out the fate of each line of a message into `#outcomes`; counts its markers; returns its flows. */
  #linesOf(from: Ticket & { now: number }, message: SourceMessage, lines: DecodedLine[], base: RecordOrigin): number {
    const { metrics } = this.deps;
    const admission = this.#admission;
    const outcomes = this.#outcomes;
    const { position: firstPosition, timestampMs } = base;
    let flows = 0;
    for (const line of lines) {
      if (line.kind === "marker") {
        metrics.markers.inc({ event_type: line.eventType });
        if (line.purgedEntries !== undefined) metrics.purgedEntries.inc(line.purgedEntries);
        if (line.badPurgedEntries !== undefined) this.#badMarker(from, message, line.badPurgedEntries);
        continue;
      }
      // The origin stage's own, at the line's position: whatever else it says of the record (a
      // letter's record whose Kafka time is unknown) goes with it.
      const origin: RecordOrigin = { ...base, position: firstPosition + line.position };
      if (line.kind === "invalid") {
        if (!admission.letter(timestampMs)) continue;
        const letter = { ...origin, reason: line.reason, detail: line.detail, value: line.bytes };
        outcomes.push({ letter, said: "message is not a pmacct JSON record" });
        continue;
      }
      try {
        const document = encodeDocument(line.record, origin, this.#encodeOptions, line.text, line.bytes);
        if (!admission.document(document.epochMs)) continue;
        this.#flowTimeChecks.check(document, line.record, origin, from.now);
        const { index, id, source, epochMs } = document;
        const original = line.bytes ?? line.text;
        outcomes.push({
          document: {
            index,
            id,
            source,
            epochMs,
            origin,
            partitionKey: from.key,
            offset: message.offset,
            run: from.run,
            original,
          },
        });
        flows++;
      } catch (error) {
        if (!admission.letter(timestampMs)) continue;
        const detail = error instanceof Error ? error.message : String(error);
        const letter = { ...origin, reason: ENCODE_ERROR, detail, value: line.bytes ?? line.text };
        outcomes.push({ letter, said: "pmacct record cannot be encoded" });
      }
    }
    return flows;
  }

  /** A marker whose `purged_entries` no purge can have: ignored, counted and said. */
  #badMarker(from: Ticket, message: SourceMessage, value: unknown): void {
    this.deps.metrics.markerValuesIgnored.inc({ field: "purged_entries" });
    this.deps.log.warn("pmacct marker with a purged_entries no purge can have: ignored", {
      partition: `${from.topic}:${from.partition}`,
      offset: message.offset,
      purged_entries: valueText(value).slice(0, 100),
    });
  }

  /**
   * kafkajs found that Kafka no longer holds the offset a partition was to read next (deleted by
   * retention before the bridge read it) and moves the partition to the first offset held, or to
   * the log's end with `KAFKA_AUTO_OFFSET_RESET=latest`. Those records are skipped: said now,
   * counted, and said again with the offsets once reading resumes; the partition's run starts
   * again wherever its next batch comes from.
   */
  offsetOutOfRange(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const from = this.#acknowledgement.nextToRead(key);
    this.#acknowledgement.moved(key);
    this.#resets.note(key, { topic, partition, from });
    this.deps.metrics.offsetResets.inc({ topic, reason: "deleted_unread" });
    this.deps.log.error(
      "Kafka no longer holds the records a partition was to read next: deleted (retention.ms, retention.bytes) " +
        "before the bridge read them; kafkajs moves it to the first offset held, or to the log's end with " +
        "KAFKA_AUTO_OFFSET_RESET=latest",
      { partition: `${topic}:${partition}`, from: from ?? "the group's commit" },
    );
  }

  #resumed(key: string, offset: string): void {
    const resumption = this.#resets.resumed(key, Number(offset));
    if (resumption === undefined) return;
    if (resumption.kind === "back") {
      // A new run reads the offsets again (see `Acknowledgement.admit`).
      this.deps.metrics.offsetResets.inc({ topic: resumption.topic, reason: "log_went_back" });
      this.deps.log.error(
        "Kafka's log of a partition went back (the topic was made again, or cut short by an unclean leader " +
          "election): its offsets are read again, and the records there now are indexed beside those read " +
          "before (an id carries its record's Kafka time), never over them",
        { went_back: lostText(resumption) },
      );
      return;
    }
    this.deps.log.error(
      "records skipped unread: Kafka deleted them before the bridge read them (with KAFKA_AUTO_OFFSET_RESET=latest, " +
        "also those it still holds; --backfill indexes them)",
      {
        lost: lostText(resumption),
        ...(resumption.from === undefined ? {} : { offsets: resumption.resumedAt - resumption.from }),
        resumed_at: resumption.resumedAt,
      },
    );
  }

  /** Offsets skipped because Kafka no longer held them ({@linkcode offsetOutOfRange}). */
  lostOffsets(): SkippedOffsets[] {
    return this.#resets.lost();
  }

  /**
   * A line that cannot become a document: counted and logged as a decode error, and dead-lettered;
   * then the message it was read from (at `offset`) is acknowledged.
   */
  #refuse(said: string, letter: DeadLetter, key: string, offset: string, run: number): void {
    const { reason, detail } = letter;
    this.deps.metrics.decodeErrors.inc({ reason });
    this.deps.log.error(said, { ...deadLetterFields(letter), detail });
    this.#dispatch.deadLetter(letter, key, offset, run);
  }

  /** The last offset committed for a partition in this generation. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.#acknowledgement.committedOffset(topic, partition);
  }

  /**
   * Called once a join gave this member its new assignment. Acknowledgements of the old
   * generation no longer commit, and records buffered but not yet sent are dropped: Kafka
   * delivers them again from the committed offset to whoever owns their partition now, under the
   * same `_id`s. Requests already in flight finish (and overwrite the same `_id`s if re-sent).
   * The new generation takes no batch before {@linkcode startRuns}.
   */
  newGeneration(): void {
    this.#acknowledgement.newGeneration();
    this.#resets.newGeneration();
    this.#dispatch.dropUnsent();
  }

  /**
   * Commits what is acknowledged now; called when a rebalance starts, so the partitions given up
   * carry the furthest safe offset to their next owner.
   */
  commitAcknowledged(): Promise<void> {
    return this.#acknowledgement.commitReady();
  }

  /** Messages taken whose records are not all indexed or dead-lettered yet. */
  unfinished(): number {
    return this.#acknowledgement.unfinished();
  }

  /**
   * Sends everything buffered and commits, within `timeoutMs`. Says whether everything was sent
   * (requests still running when time ran out are abandoned, their offsets uncommitted), whether
   * the last commit went through, and what a rebalance during the drain left uncommitted: all of
   * that is read again, under the same ids.
   */
  async drain(timeoutMs: number): Promise<DrainReport> {
    const started = Date.now();
    const leftBefore = this.#acknowledgement.leftUncommitted;
    // Sent means every message taken is finished, not only the buffer empty: a record whose
    // outcome never came would otherwise pass for indexed.
    const sent = await this.#dispatch.drain(timeoutMs) && this.#acknowledgement.unfinished() === 0;
    // No more ticks: each would start another commit for the last one to wait for.
    this.stop();
    const committed = await this.#acknowledgement.commitLast(Math.max(1000, timeoutMs - (Date.now() - started)));
    return { sent, committed, leftToRebalance: this.#acknowledgement.leftUncommitted - leftBefore };
  }

  /** Stops the timer and aborts every send under way. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#dispatch.stop();
  }
}
