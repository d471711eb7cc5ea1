/**
 * The record path's two stages a run plugs in (`Pipeline.plug`). Normal running reads every
 * message and files each record where it was published; a one-off run brings its own:
 * `--backfill` admits only its period's documents and its ranges' messages, and
 * `--replay-dead-letters` reads each letter's origin from its headers.
 *
 * @example
 * ```ts
 * const admission: AdmissionStage = { ...ADMIT_ALL, document: (epochMs) => epochMs >= since };
 * pipeline.plug({ admission });
 * ```
 */
import type { RecordOrigin } from "../pmacct/document.ts";
import type { MessageHeaders } from "./dead_letters.ts";

/** A Kafka message as the pipeline needs it; kafkajs' own message objects are ones. */
export interface SourceMessage {
  offset: string;
  /** Kafka timestamp, epoch milliseconds as a decimal string (kafkajs' form). */
  timestamp: string;
  value: Uint8Array | null;
  /** Read only when replaying dead letters: their `dlq.*` headers say where each record was published. */
  headers?: MessageHeaders;
}

/**
 * What becomes of a message before its lines are read: `read`; `skip` (acknowledged unread, so
 * its partition's commit goes past it); `leave` (never acknowledged, so never committed).
 */
export type Reading = "read" | "skip" | "leave";

/** Which messages, documents and dead letters a run writes. */
export interface AdmissionStage {
  /** What becomes of the message at `offset` of the partition `key` (see `partitionKey`). */
  message(key: string, offset: string): Reading;
  /** Whether a document filed at `epochMs` is written; one that is not is let go, unwritten. */
  document(epochMs: number): boolean;
  /** Whether a line that is no document, published at `timestampMs`, is dead-lettered; else let go. */
  letter(timestampMs: number): boolean;
}

/** Where a message's records were published: what their `_id`s and dead letters name. */
export interface OriginStage {
  /** The origin of `message`, read from `topic`:`partition`, at position 0; `null` skips it (acknowledged unread). */
  of(topic: string, partition: number, message: SourceMessage): RecordOrigin | null;
}

/** Normal running: every message read, every document and dead letter written. */
export const ADMIT_ALL: AdmissionStage = {
  message: () => "read",
  document: () => true,
  letter: () => true,
};

/** Normal running: a message's records were published where they are read. */
export const PUBLISHED_HERE: OriginStage = {
  of: (topic, partition, message) => ({
    topic,
    partition,
    offset: message.offset,
    position: 0,
    timestampMs: Number(message.timestamp),
  }),
};
