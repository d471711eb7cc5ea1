/**
 * Integers as pmacct wrote them. Its counters are 64-bit, and a double rounds past 2^53:
 * `JSON.parse` reads 9007199254740993 as 9007199254740992. A record keeps such an integer as its
 * source text (`JSON.rawJSON`), which `JSON.stringify` writes back digit for digit.
 *
 * @example
 * ```ts
 * const record = parseRecordText('{"bytes":9007199254740993}') as Record<string, unknown>;
 * JSON.stringify(record); // '{"bytes":9007199254740993}'
 * isRawInteger(record.bytes); // true
 * ```
 */

/** 2^53: from here on a double cannot tell every integer from its neighbour. */
const EXACT_LIMIT = 2 ** 53;
/** `JSON.rawJSON` and `JSON.isRawJSON`, in Deno's V8 but not yet in TypeScript's lib. */
const { rawJSON, isRawJSON } = JSON as unknown as {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): boolean;
};

/**
 * `JSON.parse` of a record that keeps every digit of its integers (a line that is one number
 * stays a number). A record is parsed as usual first; only one that holds a number at or beyond
 * 2^53 is parsed again with a reviver, which costs for every value (a scan of the text for long
 * digit runs cost as much as the parse itself).
 */
export function parseRecordText(line: string): unknown {
  const parsed = JSON.parse(line);
  if (!holdsInexactNumber(parsed)) return parsed;
  const exact = JSON.parse(
    line,
    (_key, value, context?: { source?: string }) =>
      typeof value === "number" && isInexact(value) && context?.source !== undefined ? rawJSON(context.source) : value,
  );
  return isRawJSON(exact) ? Number(valueText(exact)) : exact;
}

/** Whether a double may have rounded the integer `value`'s literal: at or beyond 2^53, whatever its form (`1e20`). */
const isInexact = (value: number) => value >= EXACT_LIMIT || value <= -EXACT_LIMIT;

/** Whether `value` holds, at any depth, a number whose literal a double may have rounded. */
function holdsInexactNumber(value: unknown): boolean {
  if (typeof value === "number") return isInexact(value);
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some(holdsInexactNumber);
  for (const key in value) if (holdsInexactNumber((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** Whether `value` is a number {@linkcode parseRecordText} kept as its text: beyond 2^53, so no instant, port or count. */
export function isRawInteger(value: unknown): boolean {
  return isRawJSON(value);
}

/**
 * A record's value as text: a kept number's own digits, an object or array as its JSON (which
 * writes kept numbers inside it as they were), anything else as `String` writes it. `String`
 * throws on a kept number, and on an array that holds one.
 */
export function valueText(value: unknown): string {
  if (isRawJSON(value)) return (value as { rawJSON: string }).rawJSON;
  return value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
}
