import assert from "node:assert/strict";
import { FLOW_TIME_FIELDS, flowTime, KAFKA_TIMESTAMP } from "../../lib/pmacct/flow_time.ts";
import { dailyIndexName, dailyIndexPatterns, indexPattern } from "../../lib/elastic/index_name.ts";

Deno.test("the index is named from the UTC date", () => {
  assert.equal(dailyIndexName("sflow", Date.UTC(2026, 10, 24, 0, 0, 0)), "sflow-2026-11-24");
  assert.equal(dailyIndexName("sflow", Date.UTC(2026, 10, 24, 23, 59, 59, 999)), "sflow-2026-11-24");
  assert.equal(dailyIndexName("nf", Date.UTC(2023, 1, 28, 9, 46, 39)), "nf-2023-02-28");
  assert.equal(indexPattern("sflow"), "sflow-*");
  assert.equal(dailyIndexPatterns("sflow").length, 10);
  assert.ok(dailyIndexPatterns("sflow").every((pattern) => /^sflow-\d\*$/.test(pattern)));
});

Deno.test("a local time just after midnight files under the UTC day before", () => {
  const time = flowTime({ stamp_inserted: "2026-11-25 00:30:00" }, "Europe/Zurich", 0);
  assert.equal(dailyIndexName("sflow", time.epochMs), "sflow-2026-11-24");
});

Deno.test("timestamp_start wins, zero times are skipped, in the documented order", () => {
  const record = {
    timestamp_start: "0000-00-00 00:00:00.000000",
    timestamp_end: "2026-11-24 19:10:16.000000",
    stamp_inserted: "2026-11-24 19:10:00",
    timestamp_arrival: "2026-11-24 19:20:34.203042",
  };
  assert.deepEqual(flowTime(record, "UTC", 0), { epochMs: Date.UTC(2026, 10, 24, 19, 10, 16), field: "timestamp_end" });
  assert.equal(
    flowTime({ ...record, timestamp_start: "2026-11-23 23:59:59.000000" }, "UTC", 0).field,
    "timestamp_start",
  );
  assert.deepEqual([...FLOW_TIME_FIELDS].slice(0, 2), ["timestamp_start", "timestamp_min"]);
});

Deno.test("without any time field the Kafka timestamp is used", () => {
  const kafkaTime = Date.UTC(2026, 10, 24, 12);
  assert.deepEqual(flowTime({ bytes: 1 }, "UTC", kafkaTime), { epochMs: kafkaTime, field: KAFKA_TIMESTAMP });
  assert.deepEqual(flowTime({ stamp_inserted: "0.000000" }, "UTC", kafkaTime), {
    epochMs: kafkaTime,
    field: KAFKA_TIMESTAMP,
  });
});

Deno.test("BMP, BGP and telemetry records are filed by their own timestamp; a zero one is unknown", () => {
  const kafkaTime = Date.UTC(2026, 10, 24, 12);
  const bmp = { seq: 2, timestamp: "1685107998.178859", event_type: "log", bmp_msg_type: "peer_up" };
  assert.deepEqual(flowTime(bmp, "UTC", kafkaTime), {
    epochMs: Date.UTC(2023, 4, 26, 13, 33, 18, 178),
    field: "timestamp",
  });
  const init = { seq: 0, timestamp: "0.000000", event_type: "log", bmp_msg_type: "init" };
  assert.deepEqual(flowTime(init, "UTC", kafkaTime), { epochMs: kafkaTime, field: KAFKA_TIMESTAMP });
  const arrived = { ...init, timestamp_arrival: "1685107998.500000" };
  assert.equal(flowTime(arrived, "UTC", kafkaTime).field, "timestamp_arrival");
  // A BMP dump's event record: the dump's time, then the BMP message's.
  const dumped = { timestamp: "1685108040", timestamp_event: "1685107998.178859", event_type: "dump" };
  assert.equal(flowTime(dumped, "UTC", kafkaTime).epochMs, Date.UTC(2023, 4, 26, 13, 34));
  assert.equal(flowTime({ ...dumped, timestamp: "0" }, "UTC", kafkaTime).field, "timestamp_event");
  // BGP's message log and telemetry: the collector's time, local unless pmacct writes UTC.
  const bgp = { event_type: "log", seq: 7, timestamp: "2026-11-24 13:10:16.000000", log_type: "update" };
  assert.equal(flowTime(bgp, "Europe/Zurich", kafkaTime).epochMs, Date.UTC(2026, 10, 24, 12, 10, 16));
  const telemetry = { event_type: "log", timestamp: "2026-11-24 12:00:01.5", telemetry_data: {} };
  assert.equal(flowTime(telemetry, "UTC", kafkaTime).epochMs, Date.UTC(2026, 10, 24, 12, 0, 1, 500));
  // A flow's custom primitive of that name is the flow's own business.
  const flow = { event_type: "purge", timestamp: "1700000000123", bytes: 1 };
  assert.deepEqual(flowTime(flow, "UTC", kafkaTime), { epochMs: kafkaTime, field: KAFKA_TIMESTAMP });
});

Deno.test("names stay right across midnight, prefixes and more days than the memo keeps", () => {
  const day = Date.UTC(2026, 10, 24);
  assert.equal(dailyIndexName("sflow", day - 1), "sflow-2026-11-23");
  assert.equal(dailyIndexName("sflow", day), "sflow-2026-11-24");
  assert.equal(dailyIndexName("other", day), "other-2026-11-24");
  for (let offset = 0; offset < 2500; offset++) {
    const at = Date.UTC(2020, 0, 1) + offset * 86_400_000 + 43_200_000;
    assert.equal(dailyIndexName("sflow", at), `sflow-${new Date(at).toISOString().slice(0, 10)}`);
  }
  assert.equal(dailyIndexName("sflow", Date.UTC(1969, 11, 31, 23)), "sflow-1969-12-31");
});
