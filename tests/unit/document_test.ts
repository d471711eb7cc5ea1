import assert from "node:assert/strict";
import { parseRecordText } from "../../lib/pmacct/exact_integers.ts";
import { decodeMessage } from "../../lib/pmacct/decode.ts";
import { documentId, encodeDocument } from "../../lib/pmacct/document.ts";
import { FLOW_TIME_FIELDS } from "../../lib/pmacct/flow_time.ts";
import { fixtureRecordFiles } from "../support/fixtures.ts";

const origin = { topic: "pmacct.flows", partition: 2, offset: "1234", position: 0, timestampMs: Date.UTC(2030, 0, 1) };
const options = { indexPrefix: "sflow", timezone: "UTC", timestampSource: "flow" } as const;

Deno.test("ids are deterministic and distinct per record", () => {
  assert.equal(documentId(origin), `pmacct.flows:2:1234:0:${Date.UTC(2030, 0, 1).toString(36)}`);
  assert.notEqual(
    documentId({ ...origin, timestampMs: origin.timestampMs + 1 }),
    documentId(origin),
    "another record at the same offset (a topic made again) has another id",
  );
  assert.notEqual(documentId({ ...origin, position: 1 }), documentId(origin));
  assert.notEqual(documentId({ ...origin, offset: "1235" }), documentId(origin));
  assert.notEqual(documentId({ ...origin, partition: 3 }), documentId(origin));
});

Deno.test("every fixture record gets the flow's own day and @timestamp, never the Kafka time", () => {
  for (const { path, lines } of fixtureRecordFiles()) {
    for (const line of lines) {
      const record = JSON.parse(line);
      const doc = encodeDocument(record, origin, options);
      const source = JSON.parse(String(doc.source));
      assert.match(doc.index, /^sflow-20(2[3-9])-\d\d-\d\d$/, path);
      assert.notEqual(doc.index, "sflow-2030-01-01", path);
      assert.equal(doc.index, `sflow-${source["@timestamp"].slice(0, 10)}`);
      assert.equal(source.bytes, JSON.parse(line).bytes);
      for (const field of FLOW_TIME_FIELDS) {
        const value = source[field];
        if (value === undefined || value === null) continue;
        assert.match(value, /^20[2-9]\d-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/, `${path}: ${field}`);
      }
    }
  }
});

Deno.test("a source spliced into pmacct's text says what the record serialised whole says", () => {
  let spliced = 0;
  for (const timezone of ["UTC", "Asia/Kolkata", "America/New_York"]) {
    for (const { path, lines } of fixtureRecordFiles()) {
      for (const line of lines) {
        const fromText = encodeDocument(JSON.parse(line), origin, { ...options, timezone }, line);
        const whole = encodeDocument(JSON.parse(line), origin, { ...options, timezone });
        assert.deepEqual(
          JSON.parse(String(fromText.source)),
          JSON.parse(String(whole.source)),
          `${path}: ${line.slice(0, 80)}`,
        );
        assert.equal(fromText.index, whole.index);
        if (String(fromText.source) !== whole.source) spliced++;
      }
    }
  }
  // pmacct writes `"key": value`; the serialised form has no spaces, so a spliced source differs.
  assert.ok(spliced > 1000, `only ${spliced} sources were spliced`);
});

Deno.test("zero times and empty addresses become null, times UTC, other fields stay as pmacct wrote them", () => {
  const doc = encodeDocument(
    {
      timestamp_start: "2026-11-24 20:10:15.000000",
      stamp_inserted: "1795547400",
      timestamp_end: "0000-00-00 00:00:00.000000",
      post_nat_ip_src: "",
      ip_src: "10.0.1.7",
      tcp_flags: "0",
      flows: null,
      bytes: 740,
    },
    origin,
    { ...options, timezone: "Europe/Zurich" },
  );
  assert.deepEqual(JSON.parse(String(doc.source)), {
    timestamp_start: "2026-11-24 19:10:15.000000",
    stamp_inserted: "2026-11-24 19:10:00",
    timestamp_end: null,
    post_nat_ip_src: null,
    ip_src: "10.0.1.7",
    tcp_flags: "0",
    flows: null,
    bytes: 740,
    "@timestamp": "2026-11-24T19:10:15.000Z",
  });
  assert.equal(doc.index, "sflow-2026-11-24");
});

Deno.test("a time in the repeated hour is filed and written as the reading its Kafka time shows, on both paths", () => {
  const line = '{"timestamp_start":"2026-10-25 02:30:00","bytes":1}';
  const window = { flowTimeWindow: { maxAgeMs: 7 * 86_400_000 } };
  for (
    const [kafka, expected] of [
      ["2026-10-25T00:31:00Z", "2026-10-25T00:30:00.000Z"],
      ["2026-10-25T01:31:00Z", "2026-10-25T01:30:00.000Z"],
    ]
  ) {
    for (const text of [line, undefined]) {
      const doc = encodeDocument(
        JSON.parse(line),
        { ...origin, timestampMs: Date.parse(kafka) },
        { ...options, ...window, timezone: "Europe/Zurich" },
        text,
      );
      const source = JSON.parse(String(doc.source));
      assert.equal(source["@timestamp"], expected, `published ${kafka}`);
      assert.equal(source.timestamp_start, expected.slice(0, 19).replace("T", " "));
      assert.equal(doc.misdated, undefined);
    }
  }
});

Deno.test("a record without time falls back to the Kafka timestamp", () => {
  const doc = encodeDocument({ bytes: 1 }, origin, options);
  assert.equal(doc.index, "sflow-2030-01-01");
  assert.equal(JSON.parse(String(doc.source))["@timestamp"], "2030-01-01T00:00:00.000Z");
});

Deno.test("a label printed as a map moves to label_map; a string label stays", () => {
  const map = JSON.parse(String(encodeDocument({ label: { nkey: "NODE_ID" }, bytes: 1 }, origin, options).source));
  assert.deepEqual([map.label, map.label_map], [undefined, { nkey: "NODE_ID" }]);
  const text = JSON.parse(String(encodeDocument({ label: "default-label-example", bytes: 1 }, origin, options).source));
  assert.deepEqual([text.label, text.label_map], ["default-label-example", undefined]);
});

Deno.test("a move never overwrites a field the record has; telemetry that is no object or text goes as JSON text", () => {
  const both = JSON.parse(String(
    encodeDocument({ label: { nkey: "NODE_ID" }, label_map: { other: "x" }, bytes: 1 }, origin, options).source,
  ));
  assert.deepEqual([both.label, both.label_map], [{ nkey: "NODE_ID" }, { other: "x" }]);
  const line = '{"timestamp":"1728034880.223000","telemetry_data":[{"a":1},{"b":18446744073709551615}]}';
  for (const spliced of [false, true]) {
    const doc = encodeDocument(
      parseRecordText(line) as Record<string, unknown>,
      origin,
      options,
      spliced ? line : undefined,
    );
    const source = JSON.parse(String(doc.source));
    assert.equal(source.telemetry_data, undefined);
    assert.equal(source.telemetry_data_text, '[{"a":1},{"b":18446744073709551615}]');
  }
});

Deno.test("TIMESTAMP_SOURCE kafka and ingest replace the flow time, the record's times stay", () => {
  const record = () => ({ timestamp_start: "2026-11-24 19:10:15.000000", bytes: 1 });
  const kafka = encodeDocument(record(), origin, { ...options, timestampSource: "kafka" });
  assert.equal(kafka.index, "sflow-2030-01-01");
  assert.equal(JSON.parse(String(kafka.source))["@timestamp"], "2030-01-01T00:00:00.000Z");
  const now = Date.UTC(2031, 5, 2, 3, 4, 5);
  const ingest = encodeDocument(record(), origin, { ...options, timestampSource: "ingest", now: () => now });
  assert.equal(ingest.index, "sflow-2031-06-02");
  assert.equal(JSON.parse(String(ingest.source))["@timestamp"], "2031-06-02T03:04:05.000Z");
  assert.equal(JSON.parse(String(ingest.source)).timestamp_start, "2026-11-24 19:10:15.000000");
});

Deno.test("integers beyond 2^53 keep every digit on every path: spliced, re-serialised (a label map), ECS", () => {
  const digits = ['"bytes":9007199254740993', '"packets":18446744073709551615', '"flows":-9223372036854775808'];
  for (const extra of ["", ',"label":{"site":"zrh"}']) {
    const line = `{"timestamp_start":"2026-11-24 19:10:16",${digits.join(",")}${extra}}`;
    for (const fieldNames of ["pmacct", "ecs"] as const) {
      const [decoded] = decodeMessage(new TextEncoder().encode(line));
      assert.equal(decoded.kind, "flow");
      if (decoded.kind !== "flow") continue;
      const doc = encodeDocument(decoded.record, origin, { ...options, fieldNames }, decoded.text, decoded.bytes);
      const source = String(doc.source);
      for (const member of digits) {
        const [name, value] = member.split(":");
        const stored = fieldNames === "ecs" && name === '"bytes"' ? `"bytes":${value}` : `${name}:${value}`;
        assert.ok(source.includes(stored), `${fieldNames}${extra && ", label map"}: ${stored} in ${source}`);
      }
    }
  }
});

Deno.test("a number beyond 2^53 in any form keeps its text, in ECS's interface ids too", () => {
  const line = '{"ip_src":"10.0.0.1","ip_dst":"10.0.0.2","ip_proto":"tcp","iface_in":18446744073709551615,' +
    '"bytes":123456789012345678e2,"packets":9007199254740993.0,"label":{"a":"b"}}';
  for (const fieldNames of ["pmacct", "ecs"] as const) {
    const [decoded] = decodeMessage(new TextEncoder().encode(line));
    if (decoded.kind !== "flow") throw new Error(decoded.kind);
    const source = String(encodeDocument(decoded.record, origin, { ...options, fieldNames }).source);
    for (const text of ["18446744073709551615", '"bytes":123456789012345678e2', '"packets":9007199254740993.0']) {
      assert.ok(source.includes(text), `${fieldNames}: ${text} in ${source}`);
    }
  }
});

Deno.test("a huge integer is no time, no label map and no record on its own", () => {
  const [alone] = decodeMessage(new TextEncoder().encode("12345678901234567890"));
  assert.equal(alone.kind === "invalid" && alone.reason, "not_an_object");
  const [decoded] = decodeMessage(
    new TextEncoder().encode('{"timestamp_start":12345678901234567890,"label":12345678901234567891,"bytes":1}'),
  );
  if (decoded.kind !== "flow") throw new Error(decoded.kind);
  const source = JSON.parse(String(encodeDocument(decoded.record, origin, options).source));
  assert.equal(source.timestamp_start, null, "seconds past any four-digit year: unknown");
  assert.equal(typeof source.label, "number", "a number label stays the label");
  assert.equal(source["@timestamp"], "2030-01-01T00:00:00.000Z");
});

Deno.test("a flow's custom primitive named timestamp stays as pmacct wrote it", () => {
  const line = '{"event_type":"purge","timestamp":"1700000000123","stamp_inserted":"2026-11-24 19:10:00","bytes":1}';
  for (const spliced of [false, true]) {
    const source = JSON.parse(
      String(encodeDocument(JSON.parse(line), origin, options, spliced ? line : undefined).source),
    );
    assert.equal(source.timestamp, "1700000000123");
    assert.equal(source["@timestamp"], "2026-11-24T19:10:00.000Z");
  }
});

Deno.test("telemetry_data as text moves to telemetry_data_text; as an object it stays, on both paths", () => {
  const lines = [
    '{"event_type":"log","timestamp":"1728034880.223000","telemetry_node":"192.0.2.1","telemetry_data":{"eventTime":"x"},"serialization":"json"}',
    '{"event_type":"log","timestamp":"1728034880.223000","telemetry_node":"192.0.2.2","telemetry_data":"{\\"node_id_str\\":\\"r1\\"}","serialization":"json_string"}',
  ];
  for (const spliced of [false, true]) {
    for (const line of lines) {
      const doc = encodeDocument(JSON.parse(line), origin, options, spliced ? line : undefined);
      const source = JSON.parse(String(doc.source));
      assert.equal(doc.index, "sflow-2024-10-04");
      assert.equal(source.timestamp, "2024-10-04 09:41:20.223000");
      if (source.serialization === "json") assert.deepEqual(source.telemetry_data, { eventTime: "x" });
      else {
        assert.equal(source.telemetry_data, undefined);
        assert.equal(source.telemetry_data_text, '{"node_id_str":"r1"}');
      }
    }
  }
});

Deno.test("two dead letters of one record written without its Kafka time land as one document in a repeated hour", () => {
  // Europe/Chisinau goes back from +03 to +02 at 2025-10-26T00:00Z: 02:30 local is 23:30Z on the
  // 25th or 00:30Z on the 26th. Each letter's own Kafka time differs; the record's is unknown.
  const zoned = { ...options, timezone: "Europe/Chisinau" };
  const text = '{"bytes":1,"timestamp_start":"2025-10-26 02:30:00"}';
  const letter = (letterKafkaMs: number) => ({ ...origin, timestampMs: letterKafkaMs, untimed: "~tag" });
  for (const spliced of [true, false]) {
    const [first, second] = [Date.UTC(2025, 9, 26, 0, 35), Date.UTC(2025, 9, 26, 5)].map((kafkaMs) =>
      encodeDocument(JSON.parse(text), letter(kafkaMs), zoned, spliced ? text : undefined)
    );
    assert.equal(first.id, second.id, "one record, one id");
    assert.deepEqual([second.index, String(second.source)], [first.index, String(first.source)], "one document");
    assert.equal(first.index, "sflow-2025-10-25", "the earlier reading, from the content alone");
  }
});
