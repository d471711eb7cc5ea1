/** The dead-letter topic's producer and sink. */
import { Buffer } from "node:buffer";
import { type Kafka, Partitioners, type Producer } from "kafkajs";
import { type DeadLetter, deadLetterFields, deadLetterHeaders, type DeadLetterSink } from "../dead_letters.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { Aborted, backoffDelay, sleep } from "../retry.ts";

/** The topic is created at start-up (`topics.ts`), never by a send. */
export function createDeadLetterProducer(kafka: Kafka): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: false,
  });
}

/**
 * Writes dead letters to the dead-letter topic of their source topic, retrying until Kafka
 * acknowledges them.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  constructor(
    private readonly producer: Producer,
    /** Source topic -> dead-letter topic. */
    private readonly routes: ReadonlyMap<string, string>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  async send(letter: DeadLetter, signal: AbortSignal): Promise<void> {
    const topic = this.routes.get(letter.topic);
    if (topic === undefined) throw new Error(`no dead-letter topic for source topic ${letter.topic}`);
    const value = typeof letter.value === "string" ? letter.value : Buffer.from(letter.value);
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) throw new Aborted();
      try {
        await this.producer.send({
          topic,
          acks: -1,
          messages: [{
            key: `${letter.topic}:${letter.partition}:${letter.offset}:${letter.position}`,
            value,
            headers: deadLetterHeaders(letter),
          }],
        });
        this.metrics.deadLetters.inc({ reason: letter.reason });
        this.log.warn("record dead-lettered", { dlq_topic: topic, ...deadLetterFields(letter) });
        return;
      } catch (error) {
        const delay = backoffDelay(attempt);
        this.log.error("could not write dead letter; retrying", {
          dlq_topic: topic,
          error: (error as Error).message,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      }
    }
  }
}
