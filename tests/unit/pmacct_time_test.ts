import assert from "node:assert/strict";
import { parsePmacctTime, readPmacctTime } from "../../lib/pmacct/pmacct_time.ts";

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

/** Both switches of a year in zones north and south, of an hour and of half an hour (Lord Howe). */
const SWITCHES = [
  // [zone, repeated local time, its earlier and later instant, skipped local time, its instant]
  [
    "Europe/Zurich",
    "2026-10-25 02:30:00",
    "2026-10-25T00:30:00Z",
    "2026-10-25T01:30:00Z",
    "2026-03-29 02:30:00",
    "2026-03-29T01:30:00Z",
  ],
  [
    "America/New_York",
    "2026-11-01 01:30:00",
    "2026-11-01T05:30:00Z",
    "2026-11-01T06:30:00Z",
    "2026-03-08 02:30:00",
    "2026-03-08T07:30:00Z",
  ],
  [
    "Australia/Sydney",
    "2026-04-05 02:30:00",
    "2026-04-04T15:30:00Z",
    "2026-04-04T16:30:00Z",
    "2026-10-04 02:30:00",
    "2026-10-03T16:30:00Z",
  ],
  [
    "Australia/Lord_Howe",
    "2026-04-05 01:45:00",
    "2026-04-04T14:45:00Z",
    "2026-04-04T15:15:00Z",
    "2026-10-04 02:15:00",
    "2026-10-03T15:45:00Z",
  ],
] as const;

Deno.test("the hour that repeats is its earlier instant, unless the Kafka time shows the later one is meant", () => {
  const minutes = (count: number) => count * 60_000;
  for (const [zone, repeated, earlierText, laterText] of SWITCHES) {
    const earlier = Date.parse(earlierText);
    const later = Date.parse(laterText);
    const read = (kafkaMs?: number) => parsePmacctTime(repeated, zone, kafkaMs);
    assert.equal(read(), earlier, `${zone}: no Kafka time`);
    assert.equal(read(earlier + minutes(10)), earlier, `${zone}: published in the first pass`);
    assert.equal(read(later - minutes(10)), earlier, `${zone}: published before the later instant`);
    assert.equal(read(later - minutes(3)), later, `${zone}: the later instant, a clock 3 minutes ahead`);
    assert.equal(read(later + minutes(10)), later, `${zone}: published in the second pass`);
    assert.equal(read(later + 2 * (later - earlier)), earlier, `${zone}: published long after, nothing shown`);
    assert.equal(read(Date.UTC(2026, 11, 7)), earlier, `${zone}: published weeks later`);
    // The text written back is the instant's UTC, the same reading as the filing.
    const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace("T", " ");
    assert.equal(readPmacctTime(repeated, zone, later + minutes(10))?.utc, utc(later));
    assert.equal(readPmacctTime(repeated, zone)?.utc, utc(earlier));
  }
});

Deno.test("a local time in the hour that is skipped reads on with the offset before the switch", () => {
  for (const [zone, , , , skipped, instant] of SWITCHES) {
    assert.equal(parsePmacctTime(skipped, zone), Date.parse(instant), zone);
    assert.equal(parsePmacctTime(skipped, zone, Date.parse(instant)), Date.parse(instant), zone);
  }
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
    // Only a date and time without a zone is read in the configured one.
    const zoneless = typeof value === "string" && / \d{2}:/.test(value) ? { zoneless: true } : {};
    assert.deepEqual(
      readPmacctTime(value, zone),
      { epochMs: Date.UTC(2026, 10, 24, 19, 10, 16, 256), utc: instant, ...zoneless },
      `${value}`,
    );
  }
  assert.equal(readPmacctTime("1795563600", "UTC")?.utc, "2026-11-24 23:40:00");
  assert.equal(readPmacctTime("2026-11-24 19:10:16.25", "UTC")?.utc, "2026-11-24 19:10:16.250000");
  assert.equal(readPmacctTime("0000-00-00T00:00:00.000000Z", "UTC"), null);
});

Deno.test("a time no four-digit-year UTC text can hold is unknown, and nothing throws", () => {
  const outside = [
    "8640000000000.5", // just past a JavaScript date's range
    "8639999999999.9", // inside it, but in the year 275760
    "253402300800", // 10000-01-01T00:00:00Z
    "9".repeat(400), // beyond a double: Infinity
    "9999-12-31T23:59:59-00:01",
    8640000000000.5,
    253402300800,
    1e300,
    Infinity,
    -Infinity,
    NaN,
    -1,
    -1.5,
  ];
  for (const zone of ["UTC", "Europe/Zurich", "Pacific/Kiritimati"]) {
    for (const value of outside) assert.equal(readPmacctTime(value, zone), null, `${value} in ${zone}`);
  }
  assert.equal(readPmacctTime("253402300799.999999", "UTC")?.utc, "9999-12-31 23:59:59.999999");
  assert.equal(readPmacctTime("9999-12-31 23:59:59", "UTC")?.utc, "9999-12-31 23:59:59");
  assert.equal(readPmacctTime("0001-01-01T00:00:00+00:01", "UTC")?.utc, "0000-12-31 23:59:00");
  assert.equal(readPmacctTime(-62135596800 + 1, "UTC"), null, "a negative number is the unknown time");
});

Deno.test("years before 100 are themselves, not the 1900s", () => {
  assert.equal(readPmacctTime("0050-03-01 12:00:00", "UTC")?.utc, "0050-03-01 12:00:00");
  assert.equal(parsePmacctTime("0050-03-01 12:00:00", "UTC"), Date.parse("0050-03-01T12:00:00Z"));
  assert.equal(readPmacctTime("0050-03-01 12:00:00", "Etc/GMT-1")?.utc, "0050-03-01 11:00:00");
});

Deno.test("a fractional number just under a whole second rounds to that second", () => {
  assert.equal(readPmacctTime(1677577599.9999996, "UTC")?.utc, "2023-02-28 09:46:40.000000");
  assert.equal(readPmacctTime(1677577599.25, "UTC")?.utc, "2023-02-28 09:46:39.250000");
});

Deno.test("new time strings within a few quarter-hours cost a few zone conversions, not each their own", () => {
  const prototype = Intl.DateTimeFormat.prototype;
  const formatToParts = prototype.formatToParts;
  let conversions = 0;
  prototype.formatToParts = function (this: Intl.DateTimeFormat, date?: Date | number) {
    conversions++;
    return formatToParts.call(this, date);
  };
  try {
    for (let i = 0; i < 1000; i++) {
      const micros = String(i * 997).padStart(6, "0");
      const read = parsePmacctTime(`2031-06-01 12:0${i % 10}:01.${micros}`, "Europe/Zurich", Date.UTC(2031, 5, 1, 10));
      assert.equal(read, Date.UTC(2031, 5, 1, 10, i % 10, 1, Math.floor(i * 997 / 1000)));
    }
  } finally {
    prototype.formatToParts = formatToParts;
  }
  assert.ok(conversions <= 12, `${conversions} conversions for 1,000 new time strings`);
});
