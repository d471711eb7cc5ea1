/**
 * Dead letters: records the bridge cannot index (undecodable messages, documents Elasticsearch
 * rejects for good) go to a Kafka topic (`lib/kafka/dead_letters.ts`) with their original bytes and
 * headers saying why and where they came from. A dead letter counts as handled only once Kafka
 * acknowledged it, so the source offset is never committed past a record that exists nowhere.
 */
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";

export interface DeadLetter {
  /** Short machine-readable reason, e.g. `invalid_json` or `mapper_parsing_exception`. */
  reason: string;
  detail: string;
  topic: string;
  partition: number;
  offset: string;
  position: number;
  /** The Kafka time of the message the record was published in (epoch ms), which can name its day. */
  timestampMs: number;
  /**
   * That time is not known (a replayed letter written without it): `timestampMs` is the letter's
   * own, and this tag stands in for the record's time in its id (see `RecordOrigin`).
   */
  untimed?: string;
  value: Uint8Array | string;
}

/**
 * Where dead letters go; `send` settles once the letter is safely stored, or rejects with
 * `Aborted` when `signal` fires first (shutdown: the source offset stays uncommitted).
 */
export interface DeadLetterSink {
  send(letter: DeadLetter, signal: AbortSignal): Promise<void>;
  /** Why such a letter is not written now (the topic refuses it), for an operator; none when nothing is known. */
  problem?(letter: DeadLetter): string | undefined;
}

/** Where a dead letter came from and why, for log lines. */
export function deadLetterFields(letter: DeadLetter): Record<string, unknown> {
  const { reason, topic, partition, offset, position } = letter;
  return { reason, topic, partition, offset, position };
}

/**
 * The headers a dead letter carries (all `dlq.`-prefixed so they never clash with pmacct's):
 * why, and where its record was published, which `--replay-dead-letters` reads back
 * ({@linkcode readLetterHeaders}) to index it under its original id and day.
 */
export function deadLetterHeaders(letter: DeadLetter): Record<string, string> {
  const headers: Record<string, string> = {
    "dlq.reason": letter.reason,
    "dlq.detail": letter.detail.slice(0, 1000),
    "dlq.source.topic": letter.topic,
    "dlq.source.partition": String(letter.partition),
    "dlq.source.offset": letter.offset,
    "dlq.source.position": String(letter.position),
  };
  // A message without a Kafka time (a format before Kafka 0.10) has -1, which its id carries too;
  // a record whose time is not known gets no time, or its next replay would take the letter's.
  if (letter.untimed === undefined && Number.isSafeInteger(letter.timestampMs) && letter.timestampMs >= -1) {
    headers["dlq.source.timestamp"] = String(letter.timestampMs);
  }
  return headers;
}

/** Kafka message headers as kafkajs gives them (a `Buffer` is a `Uint8Array`). */
export type MessageHeaders = Readonly<Record<string, Uint8Array | string | (Uint8Array | string)[] | undefined>>;

/** What a dead letter's headers say: why it was written, and where its record was published. */
export interface LetterHeaders {
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  position: number;
  /** Absent in letters of versions before `dlq.source.timestamp`. */
  timestampMs?: number;
}

const headerText = new TextDecoder();
const DECIMAL = /^(0|[1-9][0-9]*)$/;

function header(headers: MessageHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || typeof first === "string" ? first : headerText.decode(first);
}

/**
 * Reads back what {@linkcode deadLetterHeaders} wrote; a sentence saying what is missing when the
 * message is no dead letter of the bridge's (a `dlq.source.*` header absent or malformed).
 *
 * @example
 * ```ts
 * readLetterHeaders({ "dlq.reason": "x", "dlq.source.topic": "pmacct", "dlq.source.partition": "0",
 *   "dlq.source.offset": "7", "dlq.source.position": "0" });
 * // { reason: "x", topic: "pmacct", partition: 0, offset: "7", position: 0 }
 * ```
 */
export function readLetterHeaders(headers: MessageHeaders | undefined): LetterHeaders | string {
  const read = (name: string) => header(headers ?? {}, name);
  const reason = read("dlq.reason");
  const topic = read("dlq.source.topic");
  const partition = read("dlq.source.partition");
  const offset = read("dlq.source.offset");
  const position = read("dlq.source.position");
  const timestamp = read("dlq.source.timestamp");
  const bad = [
    reason === undefined && "dlq.reason",
    !topic && "dlq.source.topic",
    !DECIMAL.test(partition ?? "") && "dlq.source.partition",
    !DECIMAL.test(offset ?? "") && "dlq.source.offset",
    !DECIMAL.test(position ?? "") && "dlq.source.position",
    timestamp !== undefined && !DECIMAL.test(timestamp) && timestamp !== "-1" && "dlq.source.timestamp",
  ].filter((name) => name !== false);
  if (bad.length > 0) return `no dead letter of the bridge's: ${bad.join(", ")} missing or malformed`;
  const letter: LetterHeaders = {
    reason: reason!,
    topic: topic!,
    partition: Number(partition),
    offset: offset!,
    position: Number(position),
  };
  if (timestamp !== undefined) letter.timestampMs = Number(timestamp);
  return letter;
}

/**
 * Used when `KAFKA_DLQ_TOPIC=off`: the record is only logged (with its content) and counted,
 * then treated as handled. Its offset is committed; the log line is the only copy left.
 */
export class LogOnlyDeadLetterSink implements DeadLetterSink {
  constructor(private readonly log: Logger, private readonly metrics: Metrics) {}

  send(letter: DeadLetter): Promise<void> {
    const text = typeof letter.value === "string" ? letter.value : new TextDecoder().decode(letter.value);
    this.metrics.deadLetters.inc({ reason: letter.reason });
    this.log.error("record dropped (dead letters are off)", {
      ...deadLetterFields(letter),
      detail: letter.detail,
      value: text.slice(0, 2000),
    });
    return Promise.resolve();
  }
}
