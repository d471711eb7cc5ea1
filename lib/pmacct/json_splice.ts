/**
 * Edits a JSON object's text without parsing and re-serialising it: replaces the values of some
 * top-level fields and appends one member. For a pmacct record the bridge changes a few fields
 * of thirty, and serialising the whole object again costs more than finding those few; the
 * numbers and strings it leaves alone stay exactly as pmacct wrote them (a 64-bit counter keeps
 * every digit).
 *
 * It only edits what it can place for certain, and returns `undefined` otherwise (a field name
 * written twice or also in a nested object, a value spelt another way, an empty object, any
 * backslash in a text it must edit), for the caller to serialise the object instead.
 *
 * @example
 * ```ts
 * String(spliceJsonObject('{"a": "", "b": 2}', [{ field: "a", current: "", value: null }], '"c":3'));
 * // '{"a": null, "b": 2,"c":3}'
 * ```
 */
import type { BodyWriter, JsonWriter } from "../elastic/bulk_body.ts";

/** A top-level field whose value is replaced: the value the text holds now, and the new one. */
export interface ValueReplacement {
  field: string;
  current: unknown;
  value: string | null;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function isNumberPart(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || code === 0x2e || code === 0x2b || code === 0x2d || code === 0x65 ||
    code === 0x45;
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && isSpace(text.charCodeAt(at))) at++;
  return at;
}

/**
 * Where the value of `field` starts and ends, when the name occurs exactly once in a text without
 * backslashes. Without a backslash every quote delimits a string, so that one `"field"` before a
 * colon is a key, and the only key of that name; the parsed record holds it at its top level, so
 * it is the top-level one.
 */
function valueSpan(text: string, { field, current }: ValueReplacement): [number, number] | undefined {
  const name = `"${field}"`;
  const at = text.indexOf(name);
  // A second occurrence may be the top-level one (or a duplicate): only a single one is certain.
  if (at < 0 || text.indexOf(name, at + name.length) >= 0) return undefined;
  let start = skipSpace(text, at + name.length);
  if (text.charCodeAt(start) !== COLON) return undefined;
  start = skipSpace(text, start + 1);
  const written = typeof current === "string"
    ? JSON.stringify(current)
    : typeof current === "number"
    ? String(current)
    : undefined;
  if (written === undefined || !text.startsWith(written, start)) return undefined;
  const end = start + written.length;
  if (typeof current === "number" && isNumberPart(text.charCodeAt(end))) return undefined;
  return [start, end];
}

/** A replaced value's place in the text. */
interface Span {
  start: number;
  end: number;
  json: string;
}

const NO_SPANS: readonly Span[] = [];

const decoder = new TextDecoder();

/**
 * An edited JSON text kept as its parts (the original, where values change, the member to add)
 * until it is written: a buffered document then holds a few references instead of a copy. The
 * original is pmacct's bytes when the text is ASCII (so character offsets are byte offsets),
 * which the `_bulk` body copies as they are; else the text. `toString()` gives the JSON text.
 */
export class SplicedJson implements JsonWriter {
  constructor(
    private readonly original: string | Uint8Array,
    private readonly spans: readonly Span[],
    private readonly end: number,
    private readonly member: string,
  ) {}

  /** About the length it writes: the original's, and the member added (replaced values change it little). */
  get length(): number {
    return this.end + this.member.length + 2;
  }

  writeJson(body: BodyWriter): void {
    const original = this.original;
    if (typeof original === "string") {
      body.text(this.toString());
      return;
    }
    let at = 0;
    for (const span of this.spans) {
      body.bytes(original.subarray(at, span.start));
      body.text(span.json);
      at = span.end;
    }
    body.bytes(original.subarray(at, this.end));
    body.text(",");
    body.text(this.member);
    body.text("}");
  }

  toString(): string {
    const text = typeof this.original === "string" ? this.original : decoder.decode(this.original);
    let spliced = "";
    let at = 0;
    for (const span of this.spans) {
      spliced += text.slice(at, span.start) + span.json;
      at = span.end;
    }
    return `${spliced}${text.slice(at, this.end)},${this.member}}`;
  }
}

/**
 * `text`, a JSON object that `JSON.parse` accepted and that holds every replaced field at its
 * top level, with the replacements made and `member` (`"name":value`) added last; `undefined`
 * when that cannot be done for certain. `bytes`, if given, are the UTF-8 the text was decoded
 * from; they are kept instead of the text when they are as long (ASCII).
 */
export function spliceJsonObject(
  text: string,
  replacements: readonly ValueReplacement[],
  member: string,
  bytes?: Uint8Array,
): SplicedJson | undefined {
  const end = skipBack(text, text.length - 1);
  if (text.charCodeAt(end) !== CLOSE_BRACE) return undefined;
  const lastInside = text.charCodeAt(skipBack(text, end - 1));
  if (lastInside === OPEN_BRACE) return undefined;
  const original = bytes?.length === text.length ? bytes : text;
  if (replacements.length === 0) return new SplicedJson(original, NO_SPANS, end, member);
  // An escape can hide a quote inside a name (`"a\"ip_src"`) or spell the name itself
  // (`"ip\u005fsrc"`), and then the one literal occurrence is not the member; pmacct writes none.
  if (text.includes("\\")) return undefined;
  const spans: Span[] = [];
  for (const replacement of replacements) {
    const span = valueSpan(text, replacement);
    if (span === undefined) return undefined;
    spans.push({ start: span[0], end: span[1], json: JSON.stringify(replacement.value) });
  }
  spans.sort((a, b) => a.start - b.start);
  return new SplicedJson(original, spans, end, member);
}

function skipBack(text: string, at: number): number {
  while (at > 0 && isSpace(text.charCodeAt(at))) at--;
  return at;
}
