/**
 * Decodes one Kafka message from pmacct's kafka plugin into its records.
 *
 * A message holds one JSON object, or several separated by newlines when pmacct runs with
 * `kafka_multi_values`. Each line is decoded on its own, so one bad line never hides the good
 * ones around it. pmacct's `kafka_markers` (`event_type` `purge_init` / `purge_close`) are
 * reported as markers, not flows; a `purge_close` says how many records pmacct purged.
 *
 * @example
 * ```ts
 * const lines = decodeMessage(new TextEncoder().encode('{"bytes":1}\n{"bytes":2}'));
 * lines.map((line) => line.kind); // ["flow", "flow"]
 * ```
 *
 * {@linkcode batchTexts} decodes a fetched batch's UTF-8 at once: the same lines, at one
 * decoding per batch instead of one per message.
 */

import { parseRecordText } from "./exact_integers.ts";

/** Why a message or line could not become a record; also the dead-letter reason. */
export type DecodeFailure = "empty_message" | "invalid_utf8" | "invalid_json" | "not_an_object" | "record_too_large";

/**
 * Largest record accepted, in characters. pmacct's records are a few hundred bytes (a few KB with
 * BGP paths); a megabyte line is not a flow, and indexing it would only bloat `_bulk` requests.
 */
export const MAX_RECORD_LENGTH = 1024 * 1024;

export type DecodedLine =
  | {
    kind: "flow";
    position: number;
    record: Record<string, unknown>;
    /** The record's JSON text as pmacct wrote it; its UTF-8 bytes are what a dead letter carries. */
    text: string;
    /** Those bytes, when the text is ASCII (so that its character offsets are byte offsets). */
    bytes?: Uint8Array;
  }
  | {
    kind: "marker";
    position: number;
    eventType: string;
    purgedEntries?: number;
    /** `purged_entries` was there but no count a purge can have (negative, fractional, absurd): ignored. */
    badPurgedEntries?: unknown;
  }
  | { kind: "invalid"; position: number; reason: DecodeFailure; detail: string; bytes: Uint8Array };

/**
 * From this length on, a record keeps a copy of its bytes rather than a view into the message it
 * came in. pmacct's records are a few hundred bytes: copying them would cost time on every record
 * for memory that is freed with their batch anyway.
 */
const OWN_BYTES_FROM = 4096;

/** `event_type` values pmacct uses for its start/end-of-purge markers. */
export const MARKER_EVENT_TYPES: ReadonlySet<string> = new Set(["purge_init", "purge_close"]);

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** For a joined batch: keeps byte order marks, so each message's own can be dropped as above. */
const utf8KeepingMarks = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const BYTE_ORDER_MARK = 0xfeff;
/**
 * Joins a batch's messages for one decoding. NUL is never part of a JSON text: should a message
 * hold one anyway, the parts miscount and the batch is decoded message by message instead.
 */
const SEPARATOR = "\u0000";

/**
 * The most entries one purge can report. pmacct holds its cache in memory; a billion entries is
 * hundreds of gigabytes, so a larger count is a broken or forged marker, not a purge.
 */
export const MAX_PURGED_ENTRIES = 1_000_000_000;

/** Whether `count` is a number of entries a purge can have purged. */
function isPurgeCount(count: number): boolean {
  return Number.isInteger(count) && count >= 0 && count <= MAX_PURGED_ENTRIES;
}

function decodeLine(line: string, position: number, original: Uint8Array | string, maxLength: number): DecodedLine {
  const bytes = () => typeof original === "string" ? encoder.encode(original) : original;
  const asciiBytes = typeof original !== "string" && original.length === line.length ? original : undefined;
  if (line.length > maxLength) {
    return {
      kind: "invalid",
      position,
      reason: "record_too_large",
      detail: `${line.length} characters; records are limited to ${maxLength}`,
      bytes: bytes(),
    };
  }
  let value: unknown;
  try {
    value = parseRecordText(line);
  } catch (error) {
    return { kind: "invalid", position, reason: "invalid_json", detail: (error as Error).message, bytes: bytes() };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      kind: "invalid",
      position,
      reason: "not_an_object",
      detail: `a JSON ${Array.isArray(value) ? "array" : typeof value}, not an object`,
      bytes: bytes(),
    };
  }
  const record = value as Record<string, unknown>;
  const eventType = record.event_type;
  if (typeof eventType === "string" && MARKER_EVENT_TYPES.has(eventType)) {
    const purged = record.purged_entries;
    if (purged === undefined || purged === null) return { kind: "marker", position, eventType };
    // A count is a number or its text; anything else (an array or object, a number kept as its
    // digits beyond 2^53) is no count, and `Number` of one holding a kept number would throw.
    const count = typeof purged === "number" || typeof purged === "string" ? Number(purged) : NaN;
    return isPurgeCount(count)
      ? { kind: "marker", position, eventType, purgedEntries: count }
      : { kind: "marker", position, eventType, badPurgedEntries: purged };
  }
  // A large record's bytes are copied out of the fetched response: a view would keep the whole
  // response (megabytes, kafkajs fetches whole record batches) alive while the record is held.
  const kept = asciiBytes !== undefined && asciiBytes.length > OWN_BYTES_FROM ? asciiBytes.slice() : asciiBytes;
  return { kind: "flow", position, record, text: line, bytes: kept };
}

/**
 * Decodes a message value; `null` (a tombstone) and blank values are an `empty_message`.
 * `text` is the value already decoded as UTF-8 ({@linkcode batchTexts}), when it is known. A line
 * longer than `maxLength` characters is a `record_too_large`.
 */
export function decodeMessage(value: Uint8Array | null, text?: string, maxLength = MAX_RECORD_LENGTH): DecodedLine[] {
  if (value === null || value.length === 0) return emptyMessage(value);
  if (text === undefined) {
    try {
      text = utf8.decode(value);
    } catch {
      return notUtf8(value);
    }
  }
  return decodeText(value, text, maxLength);
}

/**
 * The UTF-8 texts of a fetched batch's values, from a single decoding of them all, for
 * {@linkcode decodeMessage}; `undefined` when the batch holds a value that is not UTF-8 (or holds
 * a NUL), which each message then decodes alone, so that message alone is invalid.
 */
export function batchTexts(values: ReadonlyArray<Uint8Array | null>): string[] | undefined {
  if (values.length < 2) return undefined;
  let length = values.length - 1;
  for (const value of values) length += value?.length ?? 0;
  const joined = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) joined[at++] = SEPARATOR.charCodeAt(0);
    if (value !== null) {
      joined.set(value, at);
      at += value.length;
    }
  }
  let texts: string[];
  try {
    texts = utf8KeepingMarks.decode(joined).split(SEPARATOR);
  } catch {
    return undefined;
  }
  if (texts.length !== values.length) return undefined;
  for (let i = 0; i < texts.length; i++) {
    if (texts[i].charCodeAt(0) === BYTE_ORDER_MARK) texts[i] = texts[i].slice(1);
  }
  return texts;
}

function emptyMessage(value: Uint8Array | null): DecodedLine[] {
  return [{
    kind: "invalid",
    position: 0,
    reason: "empty_message",
    detail: "message has no content",
    bytes: value ?? new Uint8Array(),
  }];
}

function notUtf8(value: Uint8Array): DecodedLine[] {
  return [{ kind: "invalid", position: 0, reason: "invalid_utf8", detail: "message is not UTF-8 text", bytes: value }];
}

/** The lines of a non-empty message whose UTF-8 `text` was decoded from `value`. */
function decodeText(value: Uint8Array, text: string, maxLength: number): DecodedLine[] {
  if (!text.includes("\n")) {
    return text.trim() === "" ? emptyMessage(value) : [decodeLine(text, 0, value, maxLength)];
  }
  // ASCII: a line's characters are its bytes, so each line keeps its own slice of the value.
  const ascii = value.length === text.length;
  const lines: DecodedLine[] = [];
  let start = 0;
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() !== "") {
      lines.push(decodeLine(line, lines.length, ascii ? value.subarray(start, start + line.length) : line, maxLength));
    }
    start += raw.length + 1;
  }
  return lines.length === 0 ? emptyMessage(value) : lines;
}
