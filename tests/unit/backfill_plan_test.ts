import assert from "node:assert/strict";
import { kafkaTimesOf, parsePeriod, planRanges } from "../../lib/cli/backfill_plan.ts";
import { parseCommand, UsageError } from "../../lib/cli/command.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

Deno.test("a period is a UTC day or two instants with their zone", () => {
  assert.deepEqual(parsePeriod("2026-11-24"), {
    startMs: Date.UTC(2026, 10, 24),
    endMs: Date.UTC(2026, 10, 25),
    text: "2026-11-24",
  });
  assert.deepEqual(parsePeriod("2026-11-24T10:00Z..2026-11-24T12:30:00+01:00"), {
    startMs: Date.UTC(2026, 10, 24, 10),
    endMs: Date.UTC(2026, 10, 24, 11, 30),
    text: "2026-11-24T10:00Z..2026-11-24T12:30:00+01:00",
  });
  for (
    const text of ["2026-02-30", "2026-11-24T10:00..2026-11-24T12:00", "yesterday", "2026-11-24..", "2026-11-24T12:00Z"]
  ) {
    assert.throws(
      () => parsePeriod(text),
      (error: unknown) => error instanceof UsageError && error.argument === text,
      text,
    );
  }
  assert.throws(() => parsePeriod("2026-11-24T12:00Z..2026-11-24T10:00Z"), /end comes after its start/);
});

Deno.test("--backfill takes a period, then --margin and --partial", () => {
  const day = parsePeriod("2026-11-24");
  assert.deepEqual(parseCommand(["--backfill", "2026-11-24"]), { backfill: day, partial: false });
  assert.deepEqual(parseCommand(["--", "--backfill", "2026-11-24", "--partial", "--margin", "6h"]), {
    backfill: day,
    partial: true,
    marginMs: 6 * HOUR,
  });
  assert.throws(() => parseCommand(["--backfill"]), /"--backfill" is invalid: expected a period/);
  assert.throws(() => parseCommand(["--backfill", "--partial"]), /expected a period/);
  assert.throws(() => parseCommand(["--backfill", "2026-11-24", "--margin", "soon"]), /"--margin soon" is invalid/);
  assert.throws(() => parseCommand(["--backfill", "2026-11-24", "--check"]), /unknown argument "--check"/);
});

Deno.test("the Kafka times read: the period less FLOW_TIME_MAX_AHEAD, to its end plus FLOW_TIME_MAX_AGE or the margin", () => {
  const day = parsePeriod("2026-11-24");
  assert.deepEqual(kafkaTimesOf(day, { maxAgeMs: 7 * DAY, maxAheadMs: HOUR }), {
    fromMs: day.startMs - HOUR,
    untilMs: day.endMs + 7 * DAY,
  });
  assert.deepEqual(kafkaTimesOf(day, { maxAgeMs: 7 * DAY, maxAheadMs: HOUR }, 2 * HOUR).untilMs, day.endMs + 2 * HOUR);
  assert.deepEqual(kafkaTimesOf(day, {}), { fromMs: undefined, untilMs: undefined }, "off: the whole topic");
  assert.deepEqual(kafkaTimesOf(day, { maxAgeMs: 7 * DAY }, undefined, true), {
    fromMs: day.startMs - HOUR,
    untilMs: day.endMs + HOUR,
  });
  assert.deepEqual(kafkaTimesOf(day, { maxAgeMs: 7 * DAY }, 2 * HOUR, true), {
    fromMs: day.startMs - 2 * HOUR,
    untilMs: day.endMs + 2 * HOUR,
  });
});

Deno.test("each partition's range lies in what Kafka holds; a log that lost the period's start, or all of it, is marked", () => {
  const ranges = planRanges([
    { topic: "t", partition: 0, low: 0, high: 100, fromOffset: 10, untilOffset: 60 },
    { topic: "t", partition: 1, low: 40, high: 100, fromOffset: 40, untilOffset: 100 },
    { topic: "t", partition: 2, low: 40, high: 100, fromOffset: 55, untilOffset: 100 },
    { topic: "t", partition: 3, low: 0, high: 0, fromOffset: 0, untilOffset: 0 },
    { topic: "t", partition: 4, low: 100, high: 100, fromOffset: 100, untilOffset: 100 },
    { topic: "t", partition: 5, low: 40, high: 100, fromOffset: 40, untilOffset: 40 },
    { topic: "t", partition: 6, low: 40, high: 100, fromOffset: 100, untilOffset: 100 },
  ], true);
  assert.deepEqual(ranges, [
    { topic: "t", partition: 0, start: 10, end: 60 },
    { topic: "t", partition: 1, start: 40, end: 100, truncatedAt: 40 },
    { topic: "t", partition: 2, start: 55, end: 100 },
    { topic: "t", partition: 3, start: 0, end: 0 },
    { topic: "t", partition: 4, start: 100, end: 100, truncatedAt: 100 },
    { topic: "t", partition: 5, start: 40, end: 40, truncatedAt: 40 },
    { topic: "t", partition: 6, start: 100, end: 100 },
  ]);
  // Without a start bound (FLOW_TIME_MAX_AHEAD=off) every record ever written may be of the period.
  assert.equal(
    planRanges([{ topic: "t", partition: 0, low: 5, high: 9, fromOffset: 5, untilOffset: 9 }], false)[0].truncatedAt,
    5,
  );
});
