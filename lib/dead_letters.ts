/**
 * Dead letters: records the bridge cannot index (undecodable messages, documents Elasticsearch
 * rejects for good) go to a Kafka topic with their original bytes and headers saying why and
 * where they came from. A dead letter counts as handled only once Kafka acknowledged it, so the
 * source offset is never committed past a record that exists nowhere.
 */
import type { Producer } from "kafkajs";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { Aborted, backoffDelay, sleep } from "./retry.ts";

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
 * {@linkcode Aborted} when `signal` fires first (shutdown: the source offset stays uncommitted).
 */
export interface DeadLetterSink {
  send(letter: DeadLetter, signal: AbortSignal): Promise<void>;
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

/** Writes dead letters to a Kafka topic, retrying until Kafka acknowledges them. */
export class KafkaDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  async send(letter: DeadLetter, signal: AbortSignal): Promise<void> {
    const value = typeof letter.value === "string" ? letter.value : Buffer.from(letter.value);
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) throw new Aborted();
      try {
        await this.producer.send({
          topic: this.topic,
          acks: -1,
          messages: [{
            key: `${letter.topic}:${letter.partition}:${letter.offset}:${letter.position}`,
            value,
            headers: deadLetterHeaders(letter),
          }],
        });
        this.metrics.deadLetters.inc({ reason: letter.reason });
        this.log.warn("record dead-lettered", {
          dlq_topic: this.topic,
          reason: letter.reason,
          topic: letter.topic,
          partition: letter.partition,
          offset: letter.offset,
          position: letter.position,
        });
        return;
      } catch (error) {
        const delay = backoffDelay(attempt);
        this.log.error("could not write dead letter; retrying", {
          dlq_topic: this.topic,
          error: (error as Error).message,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      }
    }
  }
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
      reason: letter.reason,
      detail: letter.detail,
      topic: letter.topic,
      partition: letter.partition,
      offset: letter.offset,
      position: letter.position,
      value: text.slice(0, 2000),
    });
    return Promise.resolve();
  }
}
