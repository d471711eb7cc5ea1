/**
 * The bridge's flow, independent of the Kafka client: messages in, each record decoded and
 * encoded into a document, and the two jobs composed: {@linkcode Dispatch} buffers and sends the
 * documents and dead letters, {@linkcode Acknowledgement} releases a message's offset for commit
 * only once every record of it is indexed or dead-lettered.
 */
import { lostText, OffsetResets, type SkippedOffsets } from "./offset_resets.ts";
import { Acknowledgement, type CommitRequest, partitionKey } from "./acknowledgement.ts";
import type { BulkRequestError, BulkWriter } from "../elastic/bulk_writer.ts";
import {
  type DeadLetter,
  deadLetterFields,
  type DeadLetterSink,
  type MessageHeaders,
  readLetterHeaders,
} from "./dead_letters.ts";
import { batchTexts, type DecodedLine, decodeMessage } from "../pmacct/decode.ts";
import { Dispatch, type DispatchOptions, type PendingDocument } from "./dispatch.ts";
import { type EncodedDocument, encodeDocument, type EncodeOptions, type RecordOrigin } from "../pmacct/document.ts";
import { type FlowTimeCheckOptions, FlowTimeChecks } from "../pmacct/flow_time_checks.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";

export type { CommitRequest } from "./acknowledgement.ts";
export type { PendingDocument } from "./dispatch.ts";

/** A Kafka message as the pipeline needs it; kafkajs' own message objects are ones. */
export interface SourceMessage {
  offset: string;
  /** Kafka timestamp, epoch milliseconds as a decimal string (kafkajs' form). */
  timestamp: string;
  value: Uint8Array | null;
  /** Read only when replaying dead letters: their `dlq.*` headers say where each record was published. */
  headers?: MessageHeaders;
}

/** Whether `epochMs` lies in the bounded run's period, `[startMs, endMs)`. */
function inPeriod({ period }: ReadBounds, epochMs: number): boolean {
  return epochMs >= period.startMs && epochMs < period.endMs;
}

/** How records are encoded, batched and bounded, and which of their times are reported. */
export interface PipelineOptions extends EncodeOptions, DispatchOptions, FlowTimeCheckOptions {}

/**
 * What a one-off run takes: documents filed in `period` (the others are acknowledged unwritten
 * and counted in {@linkcode Pipeline.outOfPeriod}, as are undecodable lines published outside
 * it), and of each partition the messages before its end offset (those after are acknowledged
 * unread, so its commit passes the end).
 */
export interface ReadBounds {
  period: { startMs: number; endMs: number };
  /** Per partition key (see `partitionKey`), the first offset not to take. */
  endOffsets: ReadonlyMap<string, number>;
  /**
   * Leaves the messages at and after each end offset unacknowledged, so never committed: they are
   * the next run's, in a group that lasts (`--replay-dead-letters`). By default they are
   * acknowledged unread, so that the commit passes the end even where offsets are missing there.
   */
  keepPastEnd?: boolean;
}

/** Which dead letters a replay sends through again; the other messages are skipped. */
export interface ReplayFilter {
  /** Letters of these source topics: one of another has no dead-letter topic to go back to. */
  sourceTopics: ReadonlySet<string>;
  /** Letters of this `dlq.reason` only, when set. */
  reason?: string;
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

/** Where the messages {@linkcode Pipeline.ingest} takes come from, and when they were taken. */
interface TakenFrom {
  topic: string;
  partition: number;
  key: string;
  generation: number;
  now: number;
}

/** The façade the consumer, shutdown and `main.ts` drive: the record path, composing the two jobs. */
export class Pipeline {
  readonly #acknowledgement: Acknowledgement;
  readonly #dispatch: Dispatch;
  readonly #flowTimeChecks: FlowTimeChecks;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #encodeOptions: EncodeOptions;
  #outOfPeriod = 0;
  #bounds: ReadBounds | undefined;
  #replay: ReplayFilter | undefined;
  #skipped = 0;
  /** Source topics whose letters a replay skips, each said once. */
  readonly #otherTopics = new Set<string>();
  readonly #firstOffsets = new Map<string, number>();
  readonly #resets = new OffsetResets();

  constructor(private readonly options: PipelineOptions, private readonly deps: PipelineDeps) {
    const { log, metrics } = deps;
    this.#now = deps.now ?? Date.now;
    this.#encodeOptions = options;
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

  /** Bounds a one-off run (`--backfill`), before the first {@linkcode ingest}; none in normal running. */
  bound(bounds: ReadBounds): void {
    this.#bounds = bounds;
  }

  /**
   * Makes this a replay of dead letters (`--replay-dead-letters`), before the first
   * {@linkcode ingest}: the messages taken are letters, each of whose record is indexed under its
   * original id and day, from where its `dlq.source.*` headers say it was published; a record
   * that fails again is dead-lettered again, naming that same place, with its new reason.
   */
  replay(filter: ReplayFilter): void {
    this.#replay = filter;
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

  /**
   * Takes messages of one partition, in order, while the buffer has room. Returns how many were
   * taken; for the rest the caller waits for room ({@linkcode whenRoom}) or pauses the partition
   * and has Kafka deliver them again after {@linkcode onRoom}. Never waits itself, so the
   * consumer keeps heartbeating and can rebalance.
   */
  ingest(topic: string, partition: number, messages: readonly SourceMessage[]): number {
    const dispatch = this.#dispatch;
    const generation = this.#acknowledgement.generation;
    const now = this.#now();
    const key = partitionKey(topic, partition);
    if (this.#resets.waiting && messages.length > 0) this.#resumed(key, messages[0].offset);
    let taken = this.#acknowledgement.alreadyTaken(key, messages);
    let flows = 0;
    while (taken < messages.length && dispatch.hasRoom && !dispatch.stopped) {
      // One UTF-8 decoding for as many messages as there is room for: each holds a record or more.
      const chunk = messages.slice(taken, taken + this.options.maxBuffered - dispatch.held);
      const texts = batchTexts(chunk.map((message) => message.value));
      for (let i = 0; i < chunk.length && dispatch.hasRoom; i++) {
        const lines = decodeMessage(chunk[i].value, texts?.[i]);
        flows += this.#take({ topic, partition, key, generation, now }, chunk[i], lines);
        taken++;
      }
    }
    if (flows > 0) this.deps.metrics.samples.inc(flows);
    dispatch.reportHeld();
    dispatch.pump();
    return taken;
  }

  /**
   * Lines of a bounded run not written because they are not of its period: documents filed
   * outside it, and lines that are no document, published outside it.
   */
  get outOfPeriod(): number {
    return this.#outOfPeriod;
  }

  /** Buffers a message's flows, dead-letters its invalid lines, counts its markers; returns its flows. */
  #take(from: TakenFrom, message: SourceMessage, lines: DecodedLine[]): number {
    const { metrics } = this.deps;
    const { key, generation } = from;
    const offset = message.offset;
    const bounds = this.#bounds;
    if (bounds && !this.#firstOffsets.has(key)) this.#firstOffsets.set(key, Number(offset));
    const end = bounds?.endOffsets.get(key);
    if (end !== undefined && Number(offset) >= end) {
      // Left untaken for the next run, they never move the commit: should Kafka delete the range's
      // last letters under a run, its commit then stays short of the end, where the run sees it.
      if (!bounds!.keepPastEnd) this.#acknowledgement.begin(key, offset, 0);
      return 0;
    }
    // A replayed letter's record was published where its headers say (`null`: skipped); any other
    // message's records, here. Read into locals: no object per message on the hot path.
    const letter = this.#replay && this.#letterOf(from, message);
    if (letter === null) {
      this.#acknowledgement.begin(key, offset, 0);
      return 0;
    }
    let units = 0;
    for (const line of lines) if (line.kind !== "marker") units++;
    if (!this.#acknowledgement.begin(key, offset, units)) return 0;
    const topic = letter?.topic ?? from.topic;
    const partition = letter?.partition ?? from.partition;
    const publishedOffset = letter?.offset ?? offset;
    const firstPosition = letter?.position ?? 0;
    const timestampMs = letter?.timestampMs ?? Number(message.timestamp);
    // A bounded run reads around its period: what cannot be a document there was dead-lettered
    // by the running bridge already, and is dead-lettered again only when published in the period.
    const letterHere = !bounds || inPeriod(bounds, timestampMs);
    let flows = 0;
    for (const line of lines) {
      if (line.kind === "marker") {
        metrics.markers.inc({ event_type: line.eventType });
        if (line.purgedEntries !== undefined) metrics.purgedEntries.inc(line.purgedEntries);
        continue;
      }
      const position = firstPosition + line.position;
      if (!letterHere && line.kind === "invalid") {
        this.#letGo(key, offset, generation);
        continue;
      }
      const origin = { topic, partition, offset: publishedOffset, position, timestampMs };
      if (line.kind === "invalid") {
        const letter = { ...origin, reason: line.reason, detail: line.detail, value: line.bytes };
        this.#refuse("message is not a pmacct JSON record", letter, from, offset);
        continue;
      }
      let document: EncodedDocument;
      try {
        document = encodeDocument(line.record, origin, this.#encodeOptions, line.text, line.bytes);
      } catch (error) {
        if (!letterHere) {
          this.#letGo(key, offset, generation);
          continue;
        }
        const detail = error instanceof Error ? error.message : String(error);
        const letter = { ...origin, reason: ENCODE_ERROR, detail, value: line.bytes ?? line.text };
        this.#refuse("pmacct record cannot be encoded", letter, from, offset);
        continue;
      }
      if (bounds && !inPeriod(bounds, document.epochMs)) {
        this.#letGo(key, offset, generation);
        continue;
      }
      flows++;
      this.#flowTimeChecks.check(document, line.record, origin, from.now);
      const { index, id, source, epochMs } = document;
      this.#dispatch.add({
        index,
        id,
        source,
        epochMs,
        origin,
        partitionKey: key,
        offset,
        generation,
        original: line.bytes ?? line.text,
      }, from.now);
    }
    return flows;
  }

  /**
   * Where a dead letter's record was published, from its headers, when the replay sends it
   * through again; `null` for a message skipped (counted in {@linkcode skipped}): one no dead
   * letter of the bridge's, or one the filter leaves out.
   */
  #letterOf(from: TakenFrom, message: SourceMessage): RecordOrigin | null {
    const filter = this.#replay!;
    const letter = readLetterHeaders(message.headers);
    if (typeof letter === "string") {
      this.deps.log.warn("message skipped in a dead-letter topic", {
        problem: letter,
        topic: from.topic,
        partition: from.partition,
        offset: message.offset,
      });
    } else if (!filter.sourceTopics.has(letter.topic)) {
      if (!this.#otherTopics.has(letter.topic)) {
        this.#otherTopics.add(letter.topic);
        this.deps.log.warn("letters of a source topic not replayed are skipped (KAFKA_TOPIC, or --source-topic)", {
          source_topic: letter.topic,
          topic: from.topic,
        });
      }
    } else if ((filter.reason ?? letter.reason) === letter.reason) {
      const { topic, partition, offset, position } = letter;
      // A letter written before `dlq.source.timestamp`: its own time, later than its record's.
      return { topic, partition, offset, position, timestampMs: letter.timestampMs ?? Number(message.timestamp) };
    }
    this.#skipped++;
    return null;
  }

  /** Messages a replay of dead letters skipped: no dead letters, or left out by its filter. */
  get skipped(): number {
    return this.#skipped;
  }

  /** A line of a bounded run that is not of its period: acknowledged unwritten, and counted. */
  #letGo(key: string, offset: string, generation: number): void {
    this.#outOfPeriod++;
    this.#acknowledgement.acknowledge(key, offset, generation);
  }

  /**
   * kafkajs found that Kafka no longer holds the offset a partition was to read next (deleted by
   * retention before the bridge read it) and moves the partition to the first offset held, or to
   * the log's end with `KAFKA_AUTO_OFFSET_RESET=latest`. Those records are skipped: said now,
   * counted, and said again with the offsets once reading resumes.
   */
  offsetOutOfRange(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const from = this.#acknowledgement.nextToRead(key);
    this.#resets.note(key, { topic, partition, from });
    this.deps.metrics.offsetResets.inc({ topic });
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
      // Offsets at or below the last one begun count as taken (redeliveries): never indexed.
      this.deps.log.error(
        "Kafka's log of a partition went back (the topic was made again, or cut short by an unclean leader " +
          "election): the bridge does not read again offsets it read before, so the records now there are lost",
        { lost: lostText(resumption) },
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
   * The first offset a bounded run took of a partition, whatever the generation: after its
   * planned start, Kafka deleted records of the range while the run read it.
   */
  firstOffset(topic: string, partition: number): number | undefined {
    return this.#firstOffsets.get(partitionKey(topic, partition));
  }

  /**
   * A line that cannot become a document: counted and logged as a decode error, and dead-lettered;
   * then the message it was read from (at `offset`) is acknowledged.
   */
  #refuse(message: string, letter: DeadLetter, { key, generation }: TakenFrom, offset: string): void {
    const { reason, detail } = letter;
    this.deps.metrics.decodeErrors.inc({ reason });
    this.deps.log.error(message, { ...deadLetterFields(letter), detail });
    this.#dispatch.deadLetter(letter, key, offset, generation);
  }

  /** The last offset committed for a partition in this generation. */
  committedOffset(topic: string, partition: number): number | undefined {
    return this.#acknowledgement.committedOffset(topic, partition);
  }

  /**
   * Called once a rebalance gave this member its new assignment. Acknowledgements of the old
   * assignment no longer commit, and records buffered but not yet sent are dropped: Kafka
   * delivers them again from the committed offset to whoever owns their partition now, under the
   * same `_id`s. Requests already in flight finish (and overwrite the same `_id`s if re-sent).
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
   * Sends everything buffered and commits, within `timeoutMs`. Returns `false` if time ran out
   * (requests still running are abandoned and their offsets stay uncommitted) or the last commit
   * failed: either way those records are read again, under the same ids.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const started = Date.now();
    const finished = await this.#dispatch.drain(timeoutMs);
    // No more ticks: each would start another commit for the last one to wait for.
    this.stop();
    const committed = await this.#acknowledgement.commitLast(Math.max(1000, timeoutMs - (Date.now() - started)));
    return finished && committed;
  }

  /** Stops the timer and aborts every send under way. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#dispatch.stop();
  }
}
