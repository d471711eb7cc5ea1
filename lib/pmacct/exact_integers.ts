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

/**
 * A run of 16 digits: the shortest integer literal `JSON.parse` can round (2^53 has 16 digits).
 * Only a line that holds one pays for the reviver, which is called for every value.
 */
const LONG_DIGITS = /\d{16}/;
const INTEGER_TEXT = /^-?\d+$/;
/** `JSON.rawJSON` and `JSON.isRawJSON`, in Deno's V8 but not yet in TypeScript's lib. */
const { rawJSON, isRawJSON } = JSON as unknown as {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): boolean;
};

/** `JSON.parse` of a record that keeps every digit of its integers (a line that is one number stays a number). */
export function parseRecordText(line: string): unknown {
  if (!LONG_DIGITS.test(line)) return JSON.parse(line);
  const parsed = JSON.parse(
    line,
    (_key, value, context?: { source?: string }) =>
      typeof value === "number" && !Number.isSafeInteger(value) && context?.source !== undefined &&
        INTEGER_TEXT.test(context.source)
        ? rawJSON(context.source)
        : value,
  );
  return isRawJSON(parsed) ? Number((parsed as { rawJSON: string }).rawJSON) : parsed;
}

/** Whether `value` is an integer {@linkcode parseRecordText} kept as its text: beyond 2^53, so no instant, port or count. */
export function isRawInteger(value: unknown): boolean {
  return isRawJSON(value);
}
