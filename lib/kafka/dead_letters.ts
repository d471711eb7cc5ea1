/**
 * The dead-letter topic's producer and sink: letters are written a few at a time, gzip-compressed,
 * retried until Kafka takes them, and a refusal is counted and named on `/readyz` in words.
 */
import { Buffer } from "node:buffer";
import { CompressionTypes, type Kafka, Partitioners, type Producer } from "kafkajs";
import { type DeadLetter, deadLetterFields, deadLetterHeaders, type DeadLetterSink } from "../delivery/dead_letters.ts";
import type { Health } from "../runtime/health.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { Aborted, backoffDelay, sleep } from "../runtime/retry.ts";
import { causes } from "./client.ts";

/** The topic is created at start-up (`topics.ts`), never by a send. */
export function createDeadLetterProducer(kafka: Kafka): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    idempotent: false,
  });
}

/**
 * Dead letters written at once. A poison flood queues behind these (its letters count toward
 * the pipeline's bound, so the consumer pauses) instead of opening a request per letter.
 */
export const DEAD_LETTER_CONCURRENCY = 4;

/** Why Kafka refused a dead letter: the `reason` label of `pmacct_bridge_dead_letter_write_failures_total`. */
export const DEAD_LETTER_FAILURES = ["message_too_large", "not_authorized", "topic_missing", "kafka_error"] as const;
export type DeadLetterFailure = (typeof DEAD_LETTER_FAILURES)[number];

/** What a refused dead letter means, in the words `/readyz` and the log show. */
export function describeDeadLetterFailure(
  error: unknown,
  topic: string,
): { reason: DeadLetterFailure; problem: string } {
  const types = new Set(causes(error).map((cause) => cause.type));
  const waiting = "the source partition's commits wait meanwhile; retrying";
  if (types.has("MESSAGE_TOO_LARGE") || types.has("RECORD_LIST_TOO_LARGE")) {
    return {
      reason: "message_too_large",
      problem:
        `dead-letter topic ${topic} refuses a letter as too large: raise its max.message.bytes to at least its source topic's; ${waiting}`,
    };
  }
  if (types.has("TOPIC_AUTHORIZATION_FAILED") || types.has("CLUSTER_AUTHORIZATION_FAILED")) {
    return {
      reason: "not_authorized",
      problem: `the bridge may not write to dead-letter topic ${topic}: grant its Kafka user WRITE on it; ${waiting}`,
    };
  }
  if (types.has("UNKNOWN_TOPIC_OR_PARTITION")) {
    return {
      reason: "topic_missing",
      problem:
        `dead-letter topic ${topic} does not exist: create it with max.message.bytes no smaller than its source topic's; ${waiting}`,
    };
  }
  return {
    reason: "kafka_error",
    problem: `cannot write to dead-letter topic ${topic} (${(error as Error).message}); ${waiting}`,
  };
}

/**
 * At most `size` writes at once, granted in order of arrival; a wait ends with `Aborted` when its
 * signal fires (shutdown), so no letter waits for a slot past the drain.
 */
class WriteSlots {
  #busy = 0;
  readonly #queue = new Set<() => void>();

  constructor(private readonly size: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new Aborted());
    if (this.#busy < this.size) {
      this.#busy++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const granted = () => {
        signal.removeEventListener("abort", aborted);
        resolve();
      };
      const aborted = () => {
        this.#queue.delete(granted);
        reject(new Aborted());
      };
      this.#queue.add(granted);
      signal.addEventListener("abort", aborted, { once: true });
    });
  }

  /** Hands the finished write's slot to the next one waiting, if any. */
  release(): void {
    const [granted] = this.#queue;
    if (granted === undefined) {
      this.#busy--;
      return;
    }
    this.#queue.delete(granted);
    granted();
  }
}

/**
 * Writes dead letters to the dead-letter topic of their source topic, at most `concurrency` at
 * once per dead-letter topic (so a topic that refuses its letters never holds another's slots),
 * retrying each until Kafka acknowledges it. Letters go out gzip-compressed: a line that came
 * compressed fits again, and every broker and client reads gzip.
 */
export class KafkaDeadLetterSink implements DeadLetterSink {
  /** Per dead-letter topic. */
  readonly #slots = new Map<string, WriteSlots>();
  /** Dead-letter topics whose last write failed, with what `/readyz` says about each. */
  readonly #failing = new Map<string, string>();
  readonly #deadLetterTopics: ReadonlySet<string>;

  constructor(
    private readonly producer: Pick<Producer, "send">,
    /** Source topic -> dead-letter topic. */
    private readonly routes: ReadonlyMap<string, string>,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly health: Health,
    private readonly concurrency = DEAD_LETTER_CONCURRENCY,
  ) {
    this.#deadLetterTopics = new Set(routes.values());
    // Every reason's series exists from the start, so an alert's `increase()` sees the first refusal.
    for (const reason of DEAD_LETTER_FAILURES) metrics.deadLetterWriteFailures.inc({ reason }, 0);
  }

  /**
   * Where a letter goes: its source topic's dead-letter topic; a letter of a message read from a
   * dead-letter topic itself (a replay's, whose origin could not be read) goes back there.
   */
  #topicOf(letter: DeadLetter): string | undefined {
    return this.routes.get(letter.topic) ?? (this.#deadLetterTopics.has(letter.topic) ? letter.topic : undefined);
  }

  async send(letter: DeadLetter, signal: AbortSignal): Promise<void> {
    const topic = this.#topicOf(letter);
    if (topic === undefined) throw new Error(`no dead-letter topic for source topic ${letter.topic}`);
    let slots = this.#slots.get(topic);
    if (slots === undefined) this.#slots.set(topic, slots = new WriteSlots(this.concurrency));
    await slots.acquire(signal);
    try {
      await this.#write(topic, letter, signal);
    } finally {
      slots.release();
    }
  }

  /** Why letters of `letter`'s source topic are not written now, if they are refused. */
  problem(letter: DeadLetter): string | undefined {
    const topic = this.#topicOf(letter);
    return topic === undefined ? undefined : this.#failing.get(topic);
  }

  async #write(topic: string, letter: DeadLetter, signal: AbortSignal): Promise<void> {
    const value = typeof letter.value === "string" ? letter.value : Buffer.from(letter.value);
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) throw new Aborted();
      try {
        await this.producer.send({
          topic,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: [{
            key: `${letter.topic}:${letter.partition}:${letter.offset}:${letter.position}`,
            value,
            headers: deadLetterHeaders(letter),
          }],
        });
        this.metrics.deadLetters.inc({ reason: letter.reason });
        this.log.warn("record dead-lettered", { dlq_topic: topic, ...deadLetterFields(letter) });
        this.#written(topic);
        return;
      } catch (error) {
        const { reason, problem } = describeDeadLetterFailure(error, topic);
        this.metrics.deadLetterWriteFailures.inc({ reason });
        const delay = backoffDelay(attempt);
        this.#failed(topic, problem, (error as Error).message);
        // The problem itself is logged once, by readiness; each letter's first refusal says which.
        this.log.log(attempt === 0 ? "warn" : "debug", "dead letter not written; retrying", {
          dlq_topic: topic,
          ...deadLetterFields(letter),
          bytes: Buffer.byteLength(value),
          failure: reason,
          error: (error as Error).message,
          retry_in_ms: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  #failed(topic: string, problem: string, error: string): void {
    this.#failing.set(topic, problem);
    this.health.fail("dead_letter_topic", [...this.#failing.values()].join("; "), { dlq_topic: topic, error });
  }

  /** A write went through: the topic's failure, if it had one, is over. */
  #written(topic: string): void {
    if (!this.#failing.delete(topic)) return;
    if (this.#failing.size === 0) this.health.pass("dead_letter_topic");
    else this.health.fail("dead_letter_topic", [...this.#failing.values()].join("; "));
  }
}
