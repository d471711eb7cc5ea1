import assert from "node:assert/strict";
import { batchTexts, decodeMessage } from "../../lib/pmacct/decode.ts";
import { fixtureRecordFiles } from "../support/fixtures.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("every record of every fixture decodes as a flow", () => {
  let total = 0;
  for (const { path, lines } of fixtureRecordFiles()) {
    for (const line of lines) {
      const decoded = decodeMessage(bytes(line));
      assert.equal(decoded.length, 1, path);
      assert.equal(decoded[0].kind, "flow", `${path}: ${line.slice(0, 80)}`);
    }
    total += lines.length;
  }
  assert.ok(total >= 500, `only ${total} fixture records found`);
});

Deno.test("kafka_multi_values: newline-separated records, positions in order", () => {
  const { lines } = fixtureRecordFiles().find(({ path }) => path.includes("101-NFv9"))!;
  const decoded = decodeMessage(bytes(lines.slice(0, 5).join("\n") + "\n"));
  assert.deepEqual(decoded.map((line) => [line.kind, line.position]), [0, 1, 2, 3, 4].map((i) => ["flow", i]));
});

Deno.test("one bad line among good ones is reported alone, with its own bytes", () => {
  const decoded = decodeMessage(bytes('{"bytes":1}\n{"bytes":\n{"bytes":3}\r\n'));
  assert.deepEqual(decoded.map((line) => line.kind), ["flow", "invalid", "flow"]);
  const bad = decoded[1];
  assert.ok(bad.kind === "invalid");
  assert.equal(bad.reason, "invalid_json");
  assert.equal(new TextDecoder().decode(bad.bytes), '{"bytes":');
});

Deno.test("empty, non-object and non-UTF-8 messages are classified", () => {
  const reason = (value: Uint8Array | null) => {
    const [line] = decodeMessage(value);
    return line.kind === "invalid" ? line.reason : line.kind;
  };
  assert.equal(reason(null), "empty_message");
  assert.equal(reason(new Uint8Array()), "empty_message");
  assert.equal(reason(bytes(" \n \n")), "empty_message");
  assert.equal(reason(bytes("[1,2]")), "not_an_object");
  assert.equal(reason(bytes("42")), "not_an_object");
  assert.equal(reason(bytes("not json")), "invalid_json");
  assert.equal(reason(new Uint8Array([0xff, 0xfe, 0x7b])), "invalid_utf8");
});

Deno.test("a flow keeps its text as pmacct wrote it, byte for byte", () => {
  const value = bytes('{"event_type": "purge", "bytes": 5, "label": "ünïcode"} ');
  const [line] = decodeMessage(value);
  assert.ok(line.kind === "flow");
  assert.deepEqual(bytes(line.text), value);
});

Deno.test("a batch decodes as each of its messages would on its own", () => {
  const fixture = fixtureRecordFiles().flatMap(({ lines }) => lines).slice(0, 50).map(bytes);
  const batches: Array<Array<Uint8Array | null>> = [
    fixture,
    [...fixture.slice(0, 3), null, new Uint8Array(), bytes(" \n"), bytes('{"a":1}\n{"b":'), bytes("[1]")],
    // Byte order marks: one dropped per message, as a message decoded alone drops it.
    [bytes('\ufeff{"a":1}'), bytes('\ufeff\ufeff{"a":2}'), bytes('{"a":"\ufeff"}')],
    // Not UTF-8, or holding the separator: that message alone is invalid, the rest decode.
    [fixture[0], new Uint8Array([0x7b, 0xff, 0x7d]), fixture[1]],
    [fixture[0], bytes('{"a":"\u0000"}'), bytes('{"a":"\0"}'), fixture[1]],
    [new Uint8Array([0xe2, 0x82]), new Uint8Array([0xac])],
    [fixture[2]],
    [],
  ];
  const decodeBatch = (batch: Array<Uint8Array | null>) => {
    const texts = batchTexts(batch);
    return batch.map((value, i) => decodeMessage(value, texts?.[i]));
  };
  for (const batch of batches) assert.deepEqual(decodeBatch(batch), batch.map((value) => decodeMessage(value)));
  assert.ok(batchTexts(fixture) !== undefined, "a batch of pmacct records decodes at once");
  const split = decodeBatch([new Uint8Array([0xe2, 0x82]), new Uint8Array([0xac])]);
  assert.deepEqual(split.map(([line]) => line.kind === "invalid" && line.reason), ["invalid_utf8", "invalid_utf8"]);
});

Deno.test("kafka_markers are markers, not flows", () => {
  const decoded = decodeMessage(
    bytes(
      '{"event_type":"purge_init","seq":1}\n{"event_type":"purge","bytes":2}\n{"event_type":"purge_close","seq":1}',
    ),
  );
  assert.deepEqual(decoded.map((line) => line.kind), ["marker", "flow", "marker"]);
});

Deno.test("a purge_close marker (as pmacct 1.7.7 writes it) reports how many records pmacct purged", () => {
  const [init] = decodeMessage(bytes('{"event_type": "purge_init", "writer_id": "k/18199"}'));
  assert.deepEqual(init, { kind: "marker", position: 0, eventType: "purge_init" });
  const [close] = decodeMessage(
    bytes(
      '{"event_type": "purge_close", "writer_id": "k/18199", "purged_entries": 5000, "total_entries": 5000, "duration": 0}',
    ),
  );
  assert.deepEqual(close, { kind: "marker", position: 0, eventType: "purge_close", purgedEntries: 5000 });
});
