import assert from "node:assert/strict";
import { formatZoneOffset, suspectedZoneOffsetMs } from "../../lib/pmacct/local_time_hint.ts";
import { FlowTimeChecks } from "../../lib/pmacct/flow_time_checks.ts";
import { encodeDocument } from "../../lib/pmacct/document.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";

const kafkaMs = Date.UTC(2026, 10, 24, 19, 11, 0);
/** A record as pmacct purged it a minute before `kafkaMs`, its times printed on a clock `offsetMinutes` east of UTC. */
function recordOnClock(offsetMinutes: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const wall = (ms: number) => new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19).replace("T", " ");
  return {
    peer_ip_src: "192.0.2.1",
    timestamp_start: `${wall(kafkaMs - 600_000)}.000000`,
    timestamp_end: `${wall(kafkaMs - 70_000)}.000000`,
    timestamp_arrival: `${wall(kafkaMs - 60_000)}.000000`,
    ...extra,
  };
}

Deno.test("local time read as UTC shows as the zone's offset between the latest time and the Kafka time", () => {
  assert.equal(suspectedZoneOffsetMs(recordOnClock(0), "UTC", kafkaMs), undefined, "UTC times are right");
  for (const minutes of [60, 120, -300, -480, 330, 345, 840, -720]) {
    assert.equal(suspectedZoneOffsetMs(recordOnClock(minutes), "UTC", kafkaMs), minutes * 60_000, `${minutes}`);
  }
  // Not a zone's doing: a record days old (a replay), twenty minutes off, or whose times carry a zone.
  assert.equal(suspectedZoneOffsetMs(recordOnClock(-3 * 1440), "UTC", kafkaMs), undefined);
  assert.equal(suspectedZoneOffsetMs(recordOnClock(20), "UTC", kafkaMs), undefined);
  assert.equal(suspectedZoneOffsetMs(recordOnClock(-37), "UTC", kafkaMs), undefined);
  assert.equal(suspectedZoneOffsetMs(recordOnClock(-30), "UTC", kafkaMs), undefined, "no zone is at UTC-00:30");
  // A flow's start alone says nothing: a long active timeout puts it far before publishing.
  assert.equal(suspectedZoneOffsetMs({ timestamp_start: "2026-11-24 18:11:00" }, "UTC", kafkaMs), undefined);
  const zoned = { timestamp_start: "2026-11-24T20:10:00+01:00", timestamp_end: "1795547400.000000" };
  assert.equal(suspectedZoneOffsetMs(zoned, "UTC", kafkaMs), undefined);
  assert.equal(suspectedZoneOffsetMs(recordOnClock(60), "UTC", 0), undefined, "no Kafka time, nothing to compare");
  assert.deepEqual([60, -300, 345, 0].map((minutes) => formatZoneOffset(minutes * 60_000)), [
    "+01:00",
    "-05:00",
    "+05:45",
    "+00:00",
  ]);
});

Deno.test("with the zone only assumed, an exporter whose records agree on a zone's offset is warned of once an hour", () => {
  const lines: string[] = [];
  const log = new Logger("info", (line) => lines.push(line));
  const checksOf = (suspectLocalTime: boolean) =>
    new FlowTimeChecks({ suspectLocalTime }, { log, metrics: createMetrics() });
  const origin = { topic: "pmacct", partition: 0, offset: "7", position: 0, timestampMs: kafkaMs };
  const options = { indexPrefix: "p", timezone: "UTC", timestampSource: "flow" as const };
  const check = (checks: FlowTimeChecks, record: Record<string, unknown>, now: number) =>
    checks.check(encodeDocument(structuredClone(record), origin, options), record, origin, now);

  const assumed = checksOf(true);
  for (let second = 0; second < 60; second++) check(assumed, recordOnClock(60), kafkaMs + second * 1000);
  for (let second = 0; second < 30; second += 10) {
    check(assumed, recordOnClock(-300, { peer_ip_src: "192.0.2.2" }), kafkaMs + second * 1000);
    check(assumed, recordOnClock(0, { peer_ip_src: "192.0.2.3" }), kafkaMs + second * 1000);
  }
  // Two samples agreeing are not enough; nor is one late record among right ones.
  for (let second = 0; second < 20; second += 10) {
    check(assumed, recordOnClock(180, { peer_ip_src: "192.0.2.5" }), kafkaMs + second * 1000);
  }
  check(assumed, recordOnClock(120, { peer_ip_src: "192.0.2.4" }), kafkaMs);
  for (let second = 10; second < 40; second += 10) {
    check(assumed, recordOnClock(0, { peer_ip_src: "192.0.2.4" }), kafkaMs + second * 1000);
  }
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /look like local time at UTC\+01:00 read as UTC: PMACCT_TIMEZONE is not set/);
  assert.match(lines[0], /exporter=192\.0\.2\.1/);
  assert.match(lines[1], /UTC-05:00 .*exporter=192\.0\.2\.2/);
  check(assumed, recordOnClock(60), kafkaMs + 3_700_000);
  assert.equal(lines.length, 3, "again after an hour");

  lines.length = 0;
  const declared = checksOf(false);
  check(declared, recordOnClock(60), kafkaMs);
  assert.deepEqual(lines, [], "a zone the operator set is not second-guessed");
});
