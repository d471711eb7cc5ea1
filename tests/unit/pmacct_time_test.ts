import assert from "node:assert/strict";
import { parsePmacctTime, readPmacctTime } from "../../lib/pmacct_time.ts";

Deno.test("UTC strings with and without microseconds", () => {
  assert.equal(parsePmacctTime("2026-11-24 19:10:16", "UTC"), Date.UTC(2026, 10, 24, 19, 10, 16));
  assert.equal(parsePmacctTime("2026-11-24 19:10:16.250000", "UTC"), Date.UTC(2026, 10, 24, 19, 10, 16, 250));
});

Deno.test("epoch seconds, with decimals (timestamps_since_epoch)", () => {
  assert.equal(parsePmacctTime("1677577599.000000", "UTC"), 1677577599000);
  assert.equal(parsePmacctTime("1695892860", "UTC"), 1695892860000);
  assert.equal(parsePmacctTime("1677577599.5", "Europe/Zurich"), 1677577599500);
  assert.equal(parsePmacctTime(1695892860, "UTC"), 1695892860000);
});

Deno.test("zero times mean unknown, never 1970", () => {
  for (const zero of ["0000-00-00 00:00:00.000000", "0000-00-00 00:00:00", "0.000000", "0", 0]) {
    assert.equal(parsePmacctTime(zero, "UTC"), null, String(zero));
  }
});

Deno.test("local-time strings use the configured zone, across DST", () => {
  // Zurich is UTC+1 in winter, UTC+2 in summer.
  assert.equal(parsePmacctTime("2026-11-24 19:10:16", "Europe/Zurich"), Date.UTC(2026, 10, 24, 18, 10, 16));
  assert.equal(parsePmacctTime("2026-07-01 12:00:00.000000", "Europe/Zurich"), Date.UTC(2026, 6, 1, 10, 0, 0));
  assert.equal(parsePmacctTime("2026-11-24 01:00:00", "America/New_York"), Date.UTC(2026, 10, 24, 6, 0, 0));
});

Deno.test("RFC 3339 (timestamps_rfc3339) carries its own offset", () => {
  assert.equal(parsePmacctTime("2026-11-24T19:10:16Z", "Europe/Zurich"), Date.UTC(2026, 10, 24, 19, 10, 16));
  assert.equal(parsePmacctTime("2026-11-24T19:10:16.123456+01:00", "UTC"), Date.UTC(2026, 10, 24, 18, 10, 16, 123));
});

Deno.test("anything else is not a time", () => {
  for (
    const value of ["", "yesterday", "2026-11-24", "2026-13-01 00:00:00", "2026-11-24 25:00:00", null, undefined, {}, [
      "1",
    ]]
  ) {
    assert.equal(parsePmacctTime(value, "UTC"), undefined, String(value));
  }
});

Deno.test("every encoding of one instant is written as the same UTC text, fraction kept as pmacct printed it", () => {
  const instant = "2026-11-24 19:10:16.256482";
  const encodings: Array<[unknown, string]> = [
    ["2026-11-24 19:10:16.256482", "UTC"],
    ["2026-11-25 00:40:16.256482", "Asia/Kolkata"],
    ["2026-11-24T19:10:16.256482Z", "Europe/Zurich"],
    ["2026-11-24T20:10:16.256482+01:00", "UTC"],
    ["1795547416.256482", "Europe/Zurich"],
    [1795547416.256482, "UTC"],
  ];
  for (const [value, zone] of encodings) {
    assert.deepEqual(
      readPmacctTime(value, zone),
      { epochMs: Date.UTC(2026, 10, 24, 19, 10, 16, 256), utc: instant },
      `${value}`,
    );
  }
  assert.equal(readPmacctTime("1795563600", "UTC")?.utc, "2026-11-24 23:40:00");
  assert.equal(readPmacctTime("2026-11-24 19:10:16.25", "UTC")?.utc, "2026-11-24 19:10:16.250000");
  assert.equal(readPmacctTime("0000-00-00T00:00:00.000000Z", "UTC"), null);
});
