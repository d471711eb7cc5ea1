import assert from "node:assert/strict";
import { LetterOrigin } from "../../lib/cli/letter_origin.ts";
import { type DeadLetter, deadLetterHeaders, readLetterHeaders } from "../../lib/delivery/dead_letters.ts";
import type { SourceMessage } from "../../lib/delivery/pipeline.ts";
import { documentId, untimedTag } from "../../lib/pmacct/document.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { bridgeOnFakes } from "../support/bridge_on_fakes.ts";
import { feed } from "../support/feed.ts";

const quiet = new Logger("error", () => {});
const value = new TextEncoder().encode('{"bytes":1}');
const record: DeadLetter = {
  reason: "mapper_parsing_exception",
  detail: "failed to parse",
  topic: "pmacct",
  partition: 3,
  offset: "120",
  position: 0,
  value,
  timestampMs: 1764064700000,
};

/** A letter of `record` read back at `dlqOffset` of the dead-letter topic, written at `writtenAt`. */
function letterOf(letter: DeadLetter, dlqOffset: number, writtenAt: number, dropTime = false): SourceMessage {
  const headers = deadLetterHeaders(letter);
  if (dropTime) delete headers["dlq.source.timestamp"]; // as versions before 1.2 wrote letters
  return { offset: String(dlqOffset), timestamp: String(writtenAt), value, headers };
}

Deno.test("a replayed letter's record gets the id its record had: its own Kafka time, whenever the letter was written", () => {
  const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet);
  const first = origin.of("pmacct-dlq", 0, letterOf(record, 10, 1764064800000))!;
  const second = origin.of("pmacct-dlq", 0, letterOf(record, 11, 1764064804000))!;
  assert.equal(documentId(first, "C"), `C:pmacct:3:120:0:${(1764064700000).toString(36)}`);
  assert.equal(documentId(second, "C"), documentId(first, "C"), "two letters of one record: one id");
});

Deno.test("letters written before they carried their record's Kafka time replay under one id, its record's digest for the time", () => {
  const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet);
  // The record was rejected and its letter written; read and rejected again before the commit.
  const first = origin.of("pmacct-dlq", 0, letterOf(record, 10, 1764064800000, true))!;
  const second = origin.of("pmacct-dlq", 0, letterOf(record, 11, 1764064804000, true))!;
  assert.equal(documentId(first, "C"), `C:pmacct:3:120:0:${untimedTag(value)}`);
  assert.equal(documentId(second, "C"), documentId(first, "C"));
  assert.equal(first.timestampMs, 1764064800000, "filed by the letter's own time, the nearest known");
});

Deno.test("a record without a Kafka time (-1) keeps it through its letter", () => {
  const untimed = { ...record, timestampMs: -1 };
  assert.equal(deadLetterHeaders(untimed)["dlq.source.timestamp"], "-1");
  const read = readLetterHeaders(deadLetterHeaders(untimed));
  assert.ok(typeof read !== "string");
  assert.equal(read.timestampMs, -1);
  const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet);
  assert.equal(
    documentId(origin.of("pmacct-dlq", 0, letterOf(untimed, 10, 1764064800000))!, "C"),
    "C:pmacct:3:120:0:-1",
  );
});

Deno.test("through the pipeline, two letters without their record's Kafka time are indexed as one document", async () => {
  const bridge = bridgeOnFakes();
  bridge.pipeline.start(5);
  bridge.pipeline.plug({ origin: new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet) });
  const letters = [letterOf(record, 10, 1764064800000, true), letterOf(record, 11, 1764064804000, true)];
  assert.equal(feed(bridge.pipeline, "pmacct-dlq", 0, letters), 2);
  await bridge.indexEverything();
  const id = `pmacct:3:120:0:${untimedTag(value)}`;
  assert.deepEqual(bridge.indexed, [id, id], "one id, its record's digest for the time, for both");
});

Deno.test("a letter written again for a record whose Kafka time is not known carries no time either", async () => {
  const written: DeadLetter[] = [];
  const bridge = bridgeOnFakes({
    sendLetter: (letter) => {
      written.push(letter);
      return Promise.resolve();
    },
  });
  bridge.pipeline.start(5);
  bridge.pipeline.plug({ origin: new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet) });
  const invalid = { ...letterOf(record, 12, 1764064900000, true), value: new TextEncoder().encode("{not json") };
  assert.equal(feed(bridge.pipeline, "pmacct-dlq", 0, [invalid]), 1);
  await bridge.pipeline.drain(1000);
  assert.equal(written.length, 1);
  assert.equal(deadLetterHeaders(written[0])["dlq.source.timestamp"], undefined);
  assert.equal(deadLetterHeaders(written[0])["dlq.source.offset"], "120");
});
