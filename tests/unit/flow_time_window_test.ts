import assert from "node:assert/strict";
import { encodeDocument } from "../../lib/pmacct/document.ts";
import { isNameableDate, misdated, referenceTime } from "../../lib/pmacct/flow_time.ts";
import { parseConfig } from "../../lib/config/mod.ts";
import { ConfigError } from "../../lib/config/parse.ts";

const DAY = 86_400_000;
const KAFKA_MS = Date.UTC(2026, 11, 1, 12);
const WINDOW = { maxAgeMs: 7 * DAY, maxAheadMs: 3_600_000 };
const origin = { topic: "t", partition: 0, offset: "7", position: 0, timestampMs: KAFKA_MS };
const options = {
  indexPrefix: "p",
  timezone: "UTC",
  timestampSource: "flow",
  flowTimeWindow: WINDOW,
  now: () => Date.UTC(2026, 11, 2),
} as const;

Deno.test("the window: a flow inside keeps its own day, one outside it is filed under the Kafka time", () => {
  assert.equal(misdated(KAFKA_MS - 7 * DAY, KAFKA_MS, WINDOW), undefined);
  assert.equal(misdated(KAFKA_MS - 7 * DAY - 1, KAFKA_MS, WINDOW), "too_old");
  assert.equal(misdated(KAFKA_MS + 3_600_000, KAFKA_MS, WINDOW), undefined);
  assert.equal(misdated(KAFKA_MS + 3_600_001, KAFKA_MS, WINDOW), "too_far_ahead");
  assert.equal(misdated(Date.UTC(2000, 0, 1), KAFKA_MS, {}), undefined, "no window: any date");
  assert.equal(misdated(8_639_999_999_999_900, KAFKA_MS, {}), "beyond_dates", "no window, still a date");
  assert.equal(misdated(Number.NaN, KAFKA_MS, {}), "beyond_dates");
  // A message without a Kafka time (-1) is checked against the clock.
  assert.equal(misdated(KAFKA_MS, referenceTime(-1, () => KAFKA_MS + DAY), WINDOW), undefined);
  assert.equal(isNameableDate(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), true);
  assert.equal(isNameableDate(Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1), false);
});

Deno.test("exporter clocks at 2000-01-01, 2040-06-01 and at the end of a date all land on the Kafka day", () => {
  for (
    const [value, reason] of [
      ["2000-01-01 00:00:00", "too_old"],
      ["2040-06-01 00:00:00", "too_far_ahead"],
      // Past year 9999, and past a JavaScript date: no time at all (null), so the Kafka time.
      ["8639999999999.9", undefined],
      ["8640000000001", undefined],
    ] as const
  ) {
    const line = `{"timestamp_start": "${value}", "bytes": 10, "peer_ip_src": "192.0.2.1"}`;
    const document = encodeDocument(JSON.parse(line), origin, options, line);
    assert.equal(document.index, "p-2026-12-01", value);
    assert.equal(document.misdated?.reason, reason, value);
    const source = JSON.parse(String(document.source));
    assert.equal(source["@timestamp"], new Date(KAFKA_MS).toISOString(), value);
    assert.equal(source.bytes, 10);
  }
  const inside = encodeDocument({ timestamp_start: "2026-11-30 23:00:00" }, origin, options);
  assert.equal(inside.index, "p-2026-11-30");
  assert.equal(inside.misdated, undefined);
});

Deno.test("FLOW_TIME_MAX_AGE and FLOW_TIME_MAX_AHEAD: defaults 7d and 1h, durations, off, errors name the variable", () => {
  const base = { KAFKA_BOOTSTRAP_SERVERS: "k:9092", KAFKA_TOPIC: "t" };
  assert.deepEqual(parseConfig(base, "UTC").flowTimeWindow, { maxAgeMs: 7 * DAY, maxAheadMs: 3_600_000 });
  assert.deepEqual(
    parseConfig({ ...base, FLOW_TIME_MAX_AGE: "off", FLOW_TIME_MAX_AHEAD: "90s" }, "UTC").flowTimeWindow,
    { maxAgeMs: undefined, maxAheadMs: 90_000 },
  );
  assert.equal(parseConfig({ ...base, FLOW_TIME_MAX_AGE: "30m" }, "UTC").flowTimeWindow.maxAgeMs, 1_800_000);
  for (const bad of ["7", "7w", "-1d", "1.5h"]) {
    assert.throws(() => parseConfig({ ...base, FLOW_TIME_MAX_AHEAD: bad }, "UTC"), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.variable, "FLOW_TIME_MAX_AHEAD");
      return true;
    });
  }
});

Deno.test("a record without a pmacct time, in a message without a Kafka time, is filed under the clock, not refused", () => {
  const noKafkaTime = { ...origin, timestampMs: -1 };
  for (const timestampSource of ["flow", "kafka"] as const) {
    const document = encodeDocument({ bytes: 1 }, noKafkaTime, { ...options, timestampSource });
    assert.equal(document.index, "p-2026-12-02", timestampSource);
    assert.equal(document.misdated, undefined, timestampSource);
  }
});
