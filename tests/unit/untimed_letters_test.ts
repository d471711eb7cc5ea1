/**
 * Replayed letters written without their record's Kafka time (by versions before 1.2): a letter
 * written again for such a record says no more of its time than the first did, every letter of one
 * record lands as one document, and two records at the same coordinates (a topic made again) as
 * two. Through the real pipeline and letter origin, Elasticsearch's answers faked.
 */
import assert from "node:assert/strict";
import { LetterOrigin } from "../../lib/cli/letter_origin.ts";
import { type DeadLetter, deadLetterHeaders } from "../../lib/delivery/dead_letters.ts";
import { type PendingDocument, Pipeline, type SourceMessage } from "../../lib/delivery/pipeline.ts";
import { type BulkItemResult, BulkWriter } from "../../lib/elastic/bulk_writer.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { bulkActions } from "../support/bulk_body.ts";
import { feed } from "../support/feed.ts";

const quiet = new Logger("error", () => {});

/** A pipeline whose Elasticsearch answers each document with `answer(id)`; records what was indexed where. */
function replayPipeline(answer: (id: string) => BulkItemResult, window?: { maxAgeMs?: number }) {
  const metrics = createMetrics();
  const indexed: Array<{ index: string; id: string }> = [];
  const letters: DeadLetter[] = [];
  const writer = new BulkWriter<PendingDocument>(
    (body) => {
      const actions = bulkActions(body);
      const results = actions.map(({ id }) => answer(id));
      actions.forEach((action, i) => results[i].status < 300 && indexed.push(action));
      return Promise.resolve(results);
    },
    quiet,
    metrics,
    { backoff: { initialMs: 1, maxMs: 1 } },
  );
  const pipeline = new Pipeline({
    indexPrefix: "sflow",
    timezone: "UTC",
    timestampSource: "flow",
    maxBatch: 10,
    maxWaitMs: 5,
    maxBuffered: 100,
    concurrency: 1,
    ...(window ? { flowTimeWindow: window } : {}),
  }, {
    writer,
    deadLetters: { send: (letter) => (letters.push(letter), Promise.resolve()) },
    commit: () => Promise.resolve(),
    elasticHealth: () => {},
    log: quiet,
    metrics,
  });
  pipeline.start(5);
  pipeline.plug({ origin: new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet) });
  return { pipeline, indexed, letters };
}

const record: DeadLetter = {
  reason: "document_parsing_exception",
  detail: "failed to parse field [ip_src]",
  topic: "pmacct",
  partition: 3,
  offset: "120",
  position: 0,
  value: new TextEncoder().encode('{"bytes":1,"ip_src":"not-an-ip","stamp_inserted":"2026-11-25 10:00:00"}'),
  timestampMs: Date.UTC(2026, 10, 25, 10, 0, 5),
};

/** A letter as a version before dlq.source.timestamp wrote it, read back at `dlqOffset`, written at `writtenAt`. */
function untimedLetter(letter: DeadLetter, dlqOffset: number, writtenAt: number): SourceMessage {
  const headers = deadLetterHeaders(letter);
  delete headers["dlq.source.timestamp"];
  return { offset: String(dlqOffset), timestamp: String(writtenAt), value: letter.value as Uint8Array, headers };
}

/** A letter as the bridge writes it now (what the sink got), read back at `dlqOffset`, written at `writtenAt`. */
function asWritten(letter: DeadLetter, dlqOffset: number, writtenAt: number): SourceMessage {
  return {
    offset: String(dlqOffset),
    timestamp: String(writtenAt),
    value: typeof letter.value === "string" ? new TextEncoder().encode(letter.value) : letter.value,
    headers: deadLetterHeaders(letter),
  };
}

Deno.test("an untimed letter whose document Elasticsearch rejects again is written again without a time", async () => {
  const rejected = replayPipeline(() => ({
    status: 400,
    error: { type: "document_parsing_exception", reason: "failed to parse field [ip_src]" },
  }));
  const l1WrittenAt = Date.UTC(2026, 10, 25, 10, 1, 0);
  assert.equal(feed(rejected.pipeline, "pmacct-dlq", 0, [untimedLetter(record, 10, l1WrittenAt)]), 1);
  await rejected.pipeline.drain(1000);
  assert.equal(rejected.letters.length, 1, "rejected again: one new letter");
  const l2 = rejected.letters[0];
  // The pipeline's own letters (invalid lines, encode errors) omit the time; dispatch's do not.
  assert.equal(
    deadLetterHeaders(l2)["dlq.source.timestamp"],
    undefined,
    `the letter written again claims the old letter's time ${l1WrittenAt} as its record's Kafka time`,
  );
});

Deno.test("replaying the old untimed letter and the one written again for the same record: one document", async () => {
  // 1. a replay whose document Elasticsearch rejects again writes L2 for the record of L1
  const rejected = replayPipeline(() => ({
    status: 400,
    error: { type: "document_parsing_exception", reason: "failed to parse field [ip_src]" },
  }));
  const l1 = untimedLetter(record, 10, Date.UTC(2026, 10, 25, 10, 1, 0));
  feed(rejected.pipeline, "pmacct-dlq", 0, [l1]);
  await rejected.pipeline.drain(1000);
  const l2 = asWritten(rejected.letters[0], 11, Date.UTC(2026, 10, 26, 9, 0, 0));
  // 2. the mapping fixed, the whole dead-letter topic is replayed: L1 and L2 both
  const fixed = replayPipeline(() => ({ status: 201 }));
  assert.equal(feed(fixed.pipeline, "pmacct-dlq", 0, [l1, l2]), 2);
  await fixed.pipeline.drain(1000);
  const ids = new Set(fixed.indexed.map(({ index, id }) => `${index}/${id}`));
  assert.equal(ids.size, 1, `one record, documents: ${[...ids].join(" ")}`);
});

Deno.test("two untimed letters of two records at the same coordinates (a topic made again): neither overwrites the other", async () => {
  // Both written by a version before dlq.source.timestamp: offset 120 of pmacct:3 was dead-lettered,
  // the topic was deleted and made again, and its new offset 120, another record, too.
  const before = {
    ...record,
    value: new TextEncoder().encode('{"bytes":111,"ip_src":"10.0.0.1","stamp_inserted":"2026-11-25 10:00:00"}'),
  };
  const after = {
    ...record,
    value: new TextEncoder().encode('{"bytes":222,"ip_src":"10.0.0.2","stamp_inserted":"2026-11-25 14:00:00"}'),
  };
  const fixed = replayPipeline(() => ({ status: 201 }));
  const letters = [
    untimedLetter(before, 10, Date.UTC(2026, 10, 25, 10, 1, 0)),
    untimedLetter(after, 11, Date.UTC(2026, 10, 25, 14, 1, 0)),
  ];
  assert.equal(feed(fixed.pipeline, "pmacct-dlq", 0, letters), 2);
  await fixed.pipeline.drain(1000);
  const docs = new Set(fixed.indexed.map(({ index, id }) => `${index}/${id}`));
  assert.equal(docs.size, 2, `two records, documents: ${[...docs].join(" ")} (written ${fixed.indexed.length} times)`);
});
