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
  value: Uint8Array | string;
}

/**
 * Where dead letters go; `send` settles once the letter is safely stored, or rejects with
 * `Aborted` when `signal` fires first (shutdown: the source offset stays uncommitted).
 */
export interface DeadLetterSink {
  send(letter: DeadLetter, signal: AbortSignal): Promise<void>;
}

/** Where a dead letter came from and why, for log lines. */
export function deadLetterFields(letter: DeadLetter): Record<string, unknown> {
  const { reason, topic, partition, offset, position } = letter;
  return { reason, topic, partition, offset, position };
}

/** The headers a dead letter carries (all `dlq.`-prefixed so they never clash with pmacct's). */
export function deadLetterHeaders(letter: DeadLetter): Record<string, string> {
  return {
    "dlq.reason": letter.reason,
    "dlq.detail": letter.detail.slice(0, 1000),
    "dlq.source.topic": letter.topic,
    "dlq.source.partition": String(letter.partition),
    "dlq.source.offset": letter.offset,
    "dlq.source.position": String(letter.position),
  };
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
