/**
 * The `_bulk` request body, written straight as bytes: an `index` action line and the source
 * line for each document. Sources that are pmacct's own bytes with a few values changed are
 * copied, not decoded and encoded again; nothing builds the body as one large string first.
 *
 * @example
 * ```ts
 * const body = bulkBody([{ index: "sflow-2026-11-24", id: "t:0:1:0", source: '{"bytes":1}' }]);
 * new TextDecoder().decode(body);
 * // '{"index":{"_index":"sflow-2026-11-24","_id":"t:0:1:0"}}\n{"bytes":1}\n'
 * ```
 */
import { memoise } from "../runtime/memoise.ts";

/** A document's JSON that writes itself into the body (see `SplicedJson`). */
export interface JsonWriter {
  writeJson(body: BodyWriter): void;
  /** About how many bytes it writes, to size the body once. */
  readonly length: number;
}

/** A document as the body needs it; `source` is its JSON text, or writes it. */
export interface BulkDocument {
  index: string;
  id: string;
  source: string | JsonWriter;
}

const encoder = new TextEncoder();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Above this length a string is encoded natively; below, a loop copies ASCII faster than a call. */
const NATIVE_ENCODE_FROM = 64;
/** Room reserved per document for its action line and newlines, beyond its source's length. */
const ACTION_BYTES = 128;

/** A growing byte buffer for one body. */
export class BodyWriter {
  #bytes: Uint8Array<ArrayBuffer>;
  #length = 0;

  constructor(expectedBytes: number) {
    this.#bytes = new Uint8Array(Math.max(expectedBytes, 64));
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.#length + extra));
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }

  /** Appends a string as UTF-8. */
  text(text: string): void {
    if (text.length > NATIVE_ENCODE_FROM) return this.#encode(text);
    this.#reserve(text.length);
    const bytes = this.#bytes;
    let at = this.#length;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.#length = at;
        return this.#encode(text.slice(i));
      }
      bytes[at++] = code;
    }
    this.#length = at;
  }

  /**
   * Appends a string as a JSON string. A document's id (cluster id, topic, numbers) needs no
   * escaping, so it is copied between quotes as it is checked, without a `JSON.stringify` copy.
   */
  jsonString(text: string): void {
    this.#reserve(text.length + 2);
    const bytes = this.#bytes;
    const start = this.#length;
    let at = start;
    bytes[at++] = QUOTE;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 0x20 || code === QUOTE || code === BACKSLASH || code >= 0x80) {
        this.#length = start;
        return this.text(JSON.stringify(text));
      }
      bytes[at++] = code;
    }
    bytes[at++] = QUOTE;
    this.#length = at;
  }

  /**
   * Appends a string through the native encoder, into the room there is; the body grows only for
   * what did not fit (three bytes at most per UTF-16 unit).
   */
  #encode(text: string): void {
    let rest = text;
    for (;;) {
      const { read, written } = encoder.encodeInto(rest, this.#bytes.subarray(this.#length));
      this.#length += written;
      if (read === rest.length) return;
      rest = rest.slice(read);
      this.#reserve(rest.length * 3);
    }
  }

  /** Appends bytes as they are. */
  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** The body written so far. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.#bytes.subarray(0, this.#length);
  }
}

/** Action lines up to the `_id` value, per index: the same for every document of a day. */
const actionPrefix = memoise((index: string) => `{"index":{"_index":${JSON.stringify(index)},"_id":`, 1000);

/** Builds the `_bulk` body: an `index` action and the source for each document. */
export function bulkBody(documents: readonly BulkDocument[]): Uint8Array<ArrayBuffer> {
  // Sized once from the sources: growing by doubling would copy a large body several times.
  let expected = 0;
  for (const doc of documents) expected += doc.source.length + ACTION_BYTES;
  const body = new BodyWriter(expected);
  for (const doc of documents) {
    body.text(actionPrefix(doc.index));
    body.jsonString(doc.id);
    body.text("}}\n");
    if (typeof doc.source === "string") body.text(doc.source);
    else doc.source.writeJson(body);
    body.text("\n");
  }
  return body.finish();
}
