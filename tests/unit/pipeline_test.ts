import { drained, feed } from "../support/feed.ts";
import { counted } from "../support/bridge_on_fakes.ts";
import { CLOSED_INDEX_ITEM } from "../support/refusals.ts";
import assert from "node:assert/strict";
import { bulkActions } from "../support/bulk_body.ts";
import { type BulkItemResult, BulkWriter } from "../../lib/elastic/bulk_writer.ts";
import { type DeadLetter, deadLetterHeaders } from "../../lib/delivery/dead_letters.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import {
  type CommitRequest,
  type PendingDocument,
  Pipeline,
  type PipelineOptions,
  type SourceMessage,
} from "../../lib/delivery/pipeline.ts";
import { partitionKey } from "../../lib/delivery/acknowledgement.ts";
import { lostText } from "../../lib/delivery/offset_resets.ts";
import { LetterOrigin } from "../../lib/cli/letter_origin.ts";
import { ANY_TIME, RangeAdmission } from "../../lib/cli/range_admission.ts";

const encoder = new TextEncoder();
const record = (n: number) => encoder.encode(JSON.stringify({ bytes: n, stamp_inserted: "2026-11-25 10:00:00" }));

function message(offset: number, value: Uint8Array | null = record(offset)): SourceMessage {
  return { offset: String(offset), timestamp: "1764064800000", value };
}

/**
 * A pipeline whose `_bulk` answers are released by the test: each request waits until `release`
 * is called with the status for its items.
 */
function harness(
  maxBuffered = 4,
  maxBatch = 2,
  concurrency = 4,
  metrics = createMetrics(),
  overrides: Partial<PipelineOptions> = {},
  log = new Logger("error", () => {}),
) {
  const requests: Array<{
    ids: string[];
    actions: Array<{ index: string; id: string }>;
    answer: (status: number, error?: BulkItemResult["error"]) => void;
  }> = [];
  const commits: CommitRequest[][] = [];
  const deadLetters: DeadLetter[] = [];
  let releaseDeadLetters: () => void = () => {};
  let deadLetterGate = Promise.resolve();
  const writer = new BulkWriter<PendingDocument>(
    (body) =>
      new Promise<BulkItemResult[]>((resolve) => {
        const actions = bulkActions(body);
        const ids = actions.map(({ id }) => id);
        requests.push({ ids, actions, answer: (status, error) => resolve(ids.map(() => ({ status, error }))) });
      }),
    new Logger("error", () => {}),
    createMetrics(),
    { backoff: { initialMs: 1, maxMs: 1 } },
  );
  const pipeline = new Pipeline(
    {
      indexPrefix: "sflow",
      timezone: "UTC",
      timestampSource: "flow",
      maxBatch,
      maxWaitMs: 60_000,
      maxBuffered,
      concurrency,
      ...overrides,
    },
    {
      writer,
      deadLetters: {
        send: async (letter) => {
          await deadLetterGate;
          deadLetters.push(letter);
        },
      },
      commit: (offsets) => {
        commits.push(offsets);
        return Promise.resolve();
      },
      elasticHealth: () => {},
      log,
      metrics,
    },
  );
  return {
    pipeline,
    requests,
    commits,
    deadLetters,
    holdDeadLetters() {
      deadLetterGate = new Promise((resolve) => (releaseDeadLetters = resolve));
    },
    releaseDeadLetters: () => releaseDeadLetters(),
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));
const quiet = new Logger("error", () => {});
const lastCommit = (commits: CommitRequest[][]) => commits.at(-1)?.[0].offset;

Deno.test("takes messages only while there is room, and says when room is back", async () => {
  const { pipeline, requests } = harness(4);
  let roomCalls = 0;
  pipeline.onRoom(() => roomCalls++);
  const taken = feed(pipeline, "pmacct", 0, [0, 1, 2, 3, 4, 5].map((offset) => message(offset)));
  assert.equal(taken, 4, "the bound is 4 records");
  assert.equal(pipeline.hasRoom, false);
  assert.equal(feed(pipeline, "pmacct", 0, [message(4)]), 0, "full: nothing taken");
  assert.equal(requests.length, 2, "two full batches of 2 went out");
  assert.equal(await pipeline.whenRoom(20), false, "nothing finished: still full");
  const room = pipeline.whenRoom(60_000);
  requests[0].answer(201);
  assert.equal(await room, true, "one batch indexed: room for more");
  await settle();
  assert.equal(roomCalls, 1, "half the bound is free again");
  requests[1].answer(201);
  await pipeline.drain(1000);
});

Deno.test("commits only past acknowledged records, never past a failing one", async () => {
  const { pipeline, requests, commits } = harness(10);
  feed(pipeline, "pmacct", 0, [0, 1, 2, 3].map((offset) => message(offset)));
  assert.deepEqual(requests.map((request) => request.ids), [["pmacct:0:0:0:mieemv40", "pmacct:0:1:0:mieemv40"], [
    "pmacct:0:2:0:mieemv40",
    "pmacct:0:3:0:mieemv40",
  ]]);
  requests[1].answer(201);
  await settle();
  assert.equal(commits.length, 0, "offsets 0 and 1 are not indexed yet");
  requests[0].answer(503);
  await settle();
  assert.equal(commits.length, 0, "503 is retried, not acknowledged");
  requests[2].answer(201);
  await settle();
  assert.equal(lastCommit(commits), "4");
  await pipeline.drain(1000);
});

Deno.test("an undecodable message commits only after its dead letter is stored", async () => {
  const h = harness(10);
  h.holdDeadLetters();
  feed(h.pipeline, "pmacct", 0, [message(0, encoder.encode("{not json")), message(1, null)]);
  await settle();
  assert.equal(h.commits.length, 0);
  h.releaseDeadLetters();
  await settle();
  assert.deepEqual(h.deadLetters.map((letter) => [letter.offset, letter.reason]), [
    ["0", "invalid_json"],
    ["1", "empty_message"],
  ]);
  assert.equal(lastCommit(h.commits), "2");
  await h.pipeline.drain(1000);
});

Deno.test("after a rebalance, unsent records are dropped and old acknowledgements do not commit", async () => {
  const { pipeline, requests, commits } = harness(10);
  feed(pipeline, "pmacct", 0, [0, 1, 2].map((offset) => message(offset)));
  assert.equal(pipeline.held, 3);
  pipeline.newGeneration();
  assert.equal(pipeline.held, 2, "the unsent third record is dropped; the batch in flight stays");
  requests[0].answer(201);
  await settle();
  assert.equal(commits.length, 0, "an acknowledgement of the old assignment commits nothing");
  feed(pipeline, "pmacct", 0, [message(0), message(1)]);
  assert.deepEqual(
    requests[1].ids,
    ["pmacct:0:0:0:mieemv40", "pmacct:0:1:0:mieemv40"],
    "read again under the same ids",
  );
  requests[1].answer(200);
  await settle();
  assert.equal(lastCommit(commits), "2");
  await pipeline.drain(1000);
});

Deno.test("drain gives up at its bound and leaves unindexed records uncommitted", async () => {
  const { pipeline, commits } = harness(10);
  feed(pipeline, "pmacct", 0, [message(0), message(1)]);
  assert.equal((await pipeline.drain(50)).sent, false);
  assert.equal(commits.length, 0);
  assert.equal(pipeline.unfinished(), 2);
});

Deno.test("a record that cannot be encoded is dead-lettered as encode_error, and its neighbours flow on", async () => {
  const metrics = createMetrics();
  // No pmacct input is known to make encoding throw any more; a clock that reads NaN does
  // (`@timestamp` of an invalid date), which stands for any exception of the encoder.
  const validClock = Date.UTC(2026, 10, 25, 10);
  let clock = validClock;
  const h = harness(10, 2, 4, metrics, { timestampSource: "ingest", now: () => clock });
  const json = (records: object[]) => encoder.encode(records.map((record) => JSON.stringify(record)).join("\n"));
  feed(h.pipeline, "pmacct", 0, [message(0)]);
  clock = Number.NaN;
  feed(h.pipeline, "pmacct", 0, [message(1, json([{ bytes: 1 }, { bytes: 2 }]))]);
  clock = validClock;
  feed(h.pipeline, "pmacct", 0, [message(2), message(3), message(4)]);
  await settle();
  assert.deepEqual(h.deadLetters.map(({ offset, position, reason }) => [offset, position, reason]), [
    ["1", 0, "encode_error"],
    ["1", 1, "encode_error"],
  ]);
  assert.match(h.deadLetters[0].detail, /Invalid time value/);
  assert.equal(new TextDecoder().decode(h.deadLetters[1].value as Uint8Array), '{"bytes":2}');
  assert.deepEqual(h.requests.flatMap((request) => request.ids).sort(), [
    "pmacct:0:0:0:mieemv40",
    "pmacct:0:2:0:mieemv40",
    "pmacct:0:3:0:mieemv40",
    "pmacct:0:4:0:mieemv40",
  ]);
  for (const request of h.requests) request.answer(201);
  await settle();
  assert.equal(lastCommit(h.commits), "5", "every offset is committed");
  const errors = await metrics.decodeErrors.get();
  assert.deepEqual(errors.values.map(({ labels, value }) => [labels.reason, value]), [["encode_error", 2]]);
  await h.pipeline.drain(1000);
});

/** A `kafka_multi_values` message: `count` records, one a line. */
const multiValue = (offset: number, count: number) =>
  message(offset, encoder.encode(Array.from({ length: count }, (_, i) => JSON.stringify({ bytes: i })).join("\n")));

Deno.test("a batch fetched again from an earlier offset is not taken: the partition is read again from its run's end", async () => {
  const { pipeline, requests, commits } = harness(20, 1, 20);
  const batch = [multiValue(0, 2), multiValue(1, 3), multiValue(2, 2)];
  assert.equal(feed(pipeline, "pmacct", 0, batch), 3);
  // eachBatch threw after ingesting (a heartbeat error, say): kafkajs fetches from the last
  // resolved offset again, in the same generation.
  assert.deepEqual(pipeline.admit("pmacct", 0, "0"), { refused: "not_contiguous", seekTo: 3 });
  assert.equal(feed(pipeline, "pmacct", 0, batch.slice(0, 2)), 0, "the copies are not taken");
  const index = async (id: string) => {
    for (const request of requests) if (request.ids.includes(id)) request.answer(201);
    await settle();
  };
  // Everything of offsets 0 and 1 but record 1:0, in the order that once committed 2 past it.
  for (
    const id of ["pmacct:0:1:2:mieemv40", "pmacct:0:1:1:mieemv40", "pmacct:0:0:0:mieemv40", "pmacct:0:0:1:mieemv40"]
  ) await index(id);
  for (const commit of commits) assert.ok(Number(commit[0].offset) <= 1, `committed ${commit[0].offset} past 1:0`);
  assert.deepEqual(requests.map((request) => request.ids[0]), [
    "pmacct:0:0:0:mieemv40",
    "pmacct:0:0:1:mieemv40",
    "pmacct:0:1:0:mieemv40",
    "pmacct:0:1:1:mieemv40",
    "pmacct:0:1:2:mieemv40",
    "pmacct:0:2:0:mieemv40",
    "pmacct:0:2:1:mieemv40",
  ], "every record is sent once");
  assert.equal(pipeline.held, 3, "records 1:0, 2:0 and 2:1 are held, once each");
  assert.equal(feed(pipeline, "pmacct", 0, [message(3)]), 1, "read again from the run's end: taken");
  for (const request of requests) request.answer(201);
  await settle();
  assert.equal(lastCommit(commits), "4");
  await pipeline.drain(1000);
});

Deno.test("a batch that skips past the run's end is not taken; one fetched from it is", async () => {
  const { pipeline, requests, commits } = harness(20, 1);
  feed(pipeline, "pmacct", 0, [message(0), message(1)]);
  assert.deepEqual(pipeline.admit("pmacct", 0, "5"), { refused: "not_contiguous", seekTo: 2 });
  assert.equal(feed(pipeline, "pmacct", 0, [message(0), message(1), message(2)]), 0);
  assert.equal(feed(pipeline, "pmacct", 0, [message(2)]), 1);
  for (const request of requests) request.answer(201);
  await settle();
  assert.deepEqual(requests.map((request) => request.ids[0]), [
    "pmacct:0:0:0:mieemv40",
    "pmacct:0:1:0:mieemv40",
    "pmacct:0:2:0:mieemv40",
  ]);
  assert.equal(lastCommit(commits), "3");
  await pipeline.drain(1000);
});

Deno.test("dead letters waiting to be written count toward the bound, so a refusing topic pauses reading", async () => {
  const h = harness(4);
  h.holdDeadLetters();
  const poison = [0, 1, 2, 3, 4, 5].map((offset) => message(offset, encoder.encode("{not json")));
  assert.equal(feed(h.pipeline, "pmacct", 0, poison), 4, "four letters fill the bound");
  assert.equal(h.pipeline.held, 4);
  assert.equal(h.pipeline.hasRoom, false);
  assert.equal(await h.pipeline.whenRoom(20), false, "no letter written: still full");
  const room = h.pipeline.whenRoom(60_000);
  h.releaseDeadLetters();
  assert.equal(await room, true, "written: room again");
  assert.equal(h.pipeline.held, 0);
  await settle();
  assert.equal(lastCommit(h.commits), "4", "committed up to the last letter written");
  await h.pipeline.drain(1000);
});

Deno.test("each indexed flow is one observation of its age, from its own time to the acknowledgement", async () => {
  const metrics = createMetrics();
  const h = harness(10, 1, 4, metrics);
  const stamp = (ageSeconds: number) =>
    encoder.encode(JSON.stringify({
      bytes: 1,
      stamp_inserted: new Date(Date.now() - ageSeconds * 1000).toISOString().slice(0, 19).replace("T", " "),
    }));
  feed(h.pipeline, "pmacct", 0, [message(0, stamp(90)), message(1, stamp(90)), message(2, stamp(1000))]);
  await settle();
  // By id, not by order: near midnight the oldest flow is another day's index, whose batch goes first.
  const requestFor = (id: string) => h.requests.find((request) => request.ids[0] === id)!;
  requestFor("pmacct:0:0:0:mieemv40").answer(201);
  requestFor("pmacct:0:1:0:mieemv40").answer(201);
  requestFor("pmacct:0:2:0:mieemv40").answer(500);
  await settle();
  const observed = async () => {
    const { values } = await metrics.flowAge.get();
    const value = (name: string, le?: number) =>
      values.find((entry) => entry.metricName === name && (le === undefined || entry.labels.le === le))?.value;
    return {
      count: value("pmacct_bridge_indexed_flow_age_seconds_count"),
      within60: value("pmacct_bridge_indexed_flow_age_seconds_bucket", 60),
      within120: value("pmacct_bridge_indexed_flow_age_seconds_bucket", 120),
      within900: value("pmacct_bridge_indexed_flow_age_seconds_bucket", 900),
      within1800: value("pmacct_bridge_indexed_flow_age_seconds_bucket", 1800),
    };
  };
  assert.deepEqual(
    await observed(),
    { count: 2, within60: 0, within120: 2, within900: 2, within1800: 2 },
    "a failed write is not indexed",
  );
  assert.deepEqual(h.requests[3].ids, ["pmacct:0:2:0:mieemv40"], "the failed flow is sent again");
  h.requests[3].answer(201);
  await settle();
  assert.deepEqual(await observed(), { count: 3, within60: 0, within120: 2, within900: 2, within1800: 3 });
  await h.pipeline.drain(1000);
});

Deno.test("a bounded run writes only its period's documents and takes nothing from a partition's end offset on", async () => {
  const { pipeline, requests, commits } = harness(10);
  const dated = (offset: number, day: string) =>
    message(offset, encoder.encode(JSON.stringify({ bytes: offset, stamp_inserted: `${day} 10:00:00` })));
  const startMs = Date.UTC(2026, 10, 25);
  const admission = new RangeAdmission({
    period: { startMs, endMs: startMs + 86_400_000 },
    endOffsets: new Map([[partitionKey("pmacct", 0), 4]]),
  });
  pipeline.plug({ admission });
  const taken = feed(pipeline, "pmacct", 0, [
    dated(0, "2026-11-24"),
    dated(1, "2026-11-25"),
    dated(2, "2026-11-26"),
    dated(3, "2026-11-25"),
    dated(4, "2026-11-25"),
    dated(5, "2026-11-25"),
  ]);
  assert.equal(taken, 6, "past the end, messages are taken and let go");
  assert.equal(admission.outOfPeriod, 2);
  assert.equal(admission.firstOffset("pmacct", 0), 0);
  feed(pipeline, "pmacct", 1, [dated(7, "2026-11-24")]);
  assert.equal(admission.firstOffset("pmacct", 1), 7, "each partition's own first offset, whatever became of it");
  assert.deepEqual(requests.map((request) => request.ids), [["pmacct:0:1:0:mieemv40", "pmacct:0:3:0:mieemv40"]]);
  requests[0].answer(201);
  assert.equal(await drained(pipeline), true);
  assert.deepEqual(requests.length, 1, "nothing else was written");
  assert.equal(lastCommit(commits), "6", "the commit passes what was let go");
});

/** A dead letter as the bridge wrote it to its topic, read back at `offset` there, `daysLater` after its record. */
const letterMessage = (letter: DeadLetter, offset: number, daysLater = 3): SourceMessage => ({
  offset: String(offset),
  timestamp: String(letter.timestampMs + daysLater * 86_400_000),
  value: typeof letter.value === "string" ? encoder.encode(letter.value) : letter.value,
  headers: deadLetterHeaders(letter),
});

Deno.test("a replayed letter's record goes in under its original id and day; one failing again goes back naming its origin", async () => {
  // Filed by the Kafka time: the letter's own, days later, would name another day.
  const byKafkaTime = { timestampSource: "kafka" as const };
  const live = harness(10, 1, 4, createMetrics(), byKafkaTime);
  feed(live.pipeline, "pmacct", 2, [message(7), message(8, encoder.encode("{not json"))]);
  live.requests[0].answer(400, { type: "document_parsing_exception", reason: "field [bytes]" });
  await live.pipeline.drain(1000);
  const original = live.requests[0].actions[0];
  assert.deepEqual(original, { index: "sflow-2025-11-25", id: "pmacct:2:7:0:mieemv40" });
  const [rejected, undecodable] = live.deadLetters.sort((a, b) => Number(a.offset) - Number(b.offset));
  assert.equal(rejected.timestampMs, 1764064800000, "a letter keeps its record's Kafka time");

  const replay = harness(10, 1, 4, createMetrics(), byKafkaTime);
  const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet);
  replay.pipeline.plug({
    origin,
    admission: new RangeAdmission({
      period: ANY_TIME,
      endOffsets: new Map([[partitionKey("pmacct-dlq", 0), 3]]),
      keepPastEnd: true,
    }),
  });
  const taken = feed(replay.pipeline, "pmacct-dlq", 0, [
    letterMessage(rejected, 0),
    { offset: "1", timestamp: "1764064800000", value: record(1) },
    letterMessage(undecodable, 2),
    letterMessage(rejected, 3),
  ]);
  assert.equal(taken, 4);
  assert.deepEqual(replay.requests.map((request) => request.actions), [[original]], "past the end: not sent");
  replay.requests[0].answer(201);
  assert.equal(await drained(replay.pipeline), true);
  assert.equal(origin.skipped, 1, "the message without dlq headers");
  assert.deepEqual(
    replay.deadLetters.map(({ topic, partition, offset, position, timestampMs, reason }) => ({
      topic,
      partition,
      offset,
      position,
      timestampMs,
      reason,
    })),
    [{ topic: "pmacct", partition: 2, offset: "8", position: 0, timestampMs: 1764064800000, reason: "invalid_json" }],
  );
  assert.deepEqual(
    replay.commits.at(-1),
    [{ topic: "pmacct-dlq", partition: 0, offset: "3" }],
    "the letters' offsets, up to the end",
  );
});

/** A dead letter of the record at `offset` of the source topic `topic`. */
const sourceLetter = (offset: number, topic = "pmacct", reason = "x"): DeadLetter => ({
  reason,
  detail: "",
  topic,
  partition: 0,
  offset: String(offset),
  position: 0,
  timestampMs: 1764064800000,
  value: record(offset),
});

Deno.test("a replay filtered by reason or source topic skips the other letters and commits past them", async () => {
  const { pipeline, requests, commits } = harness(10, 2);
  const origin = new LetterOrigin({ sourceTopics: new Set(["pmacct"]), reason: "illegal_argument_exception" }, quiet);
  pipeline.plug({ origin });
  feed(pipeline, "all-dlq", 0, [
    letterMessage(sourceLetter(10, "pmacct", "illegal_argument_exception"), 0),
    letterMessage(sourceLetter(11, "pmacct", "document_parsing_exception"), 1),
    letterMessage(sourceLetter(12, "other", "illegal_argument_exception"), 2),
    letterMessage(sourceLetter(13, "pmacct", "illegal_argument_exception"), 3),
  ]);
  assert.deepEqual(requests.map((request) => request.ids), [["pmacct:0:10:0:mieemv40", "pmacct:0:13:0:mieemv40"]]);
  assert.equal(origin.skipped, 2);
  requests[0].answer(201);
  assert.equal(await drained(pipeline), true);
  assert.equal(lastCommit(commits), "4", "past the skipped letters too");
});

Deno.test("a replay never commits the letters past its end: they are the next run's", async () => {
  const { pipeline, requests, commits } = harness(10, 2);
  pipeline.plug({
    origin: new LetterOrigin({ sourceTopics: new Set(["pmacct"]) }, quiet),
    admission: new RangeAdmission({
      period: ANY_TIME,
      endOffsets: new Map([[partitionKey("pmacct-dlq", 0), 5]]),
      keepPastEnd: true,
    }),
  });
  feed(pipeline, "pmacct-dlq", 0, [letterMessage(sourceLetter(1), 3), letterMessage(sourceLetter(2), 4)]);
  requests[0].answer(201);
  await settle();
  feed(pipeline, "pmacct-dlq", 0, [letterMessage(sourceLetter(3), 5), letterMessage(sourceLetter(4), 6)]);
  assert.equal(await drained(pipeline), true);
  assert.equal(lastCommit(commits), "5", "up to the end, not past it");
  assert.equal(requests.length, 1, "letters 5 and 6 not sent");
});

const SKIPPED =
  "records skipped unread: Kafka deleted them before the bridge read them (with KAFKA_AUTO_OFFSET_RESET=latest, " +
  "also those it still holds; --backfill indexes them)";

Deno.test("offsets Kafka deleted before they were read are said when kafkajs moves the partition, and named once reading resumes", async () => {
  const metrics = createMetrics();
  const lines: string[] = [];
  const h = harness(10, 1, 4, metrics, {}, new Logger("info", (line) => lines.push(line), "json"));
  feed(h.pipeline, "pmacct", 0, [message(0), message(1)]);
  h.pipeline.offsetOutOfRange("pmacct", 0);
  h.pipeline.offsetOutOfRange("pmacct", 1);
  const said = lines.map((line) => JSON.parse(line));
  assert.deepEqual(said.map(({ partition, from }) => [partition, from]), [["pmacct:0", 2], [
    "pmacct:1",
    "the group's commit",
  ]]);
  assert.match(said[0].message, /deleted \(retention\.ms, retention\.bytes\) before the bridge read them/);
  const { values } = await metrics.offsetResets.get();
  assert.deepEqual(values.map(({ labels, value }) => [labels.topic, value]), [["pmacct", 2]]);
  assert.deepEqual(h.pipeline.lostOffsets().map(lostText), [
    "pmacct:0 offsets 2 on, no longer held",
    "pmacct:1 offsets from the group's commit on, no longer held",
  ]);

  lines.length = 0;
  assert.equal(feed(h.pipeline, "pmacct", 0, [message(40), message(41)]), 2, "taken: reading goes on from there");
  assert.equal(feed(h.pipeline, "pmacct", 1, [message(7)]), 1);
  assert.deepEqual(
    lines.map((line) => JSON.parse(line)).map(({ message, lost, offsets }) => [message, lost, offsets]),
    [
      [SKIPPED, "pmacct:0 offsets 2-39", 38],
      [
        SKIPPED,
        "pmacct:1 offsets from the group's commit to 6",
        undefined,
      ],
    ],
  );
  assert.deepEqual(h.pipeline.lostOffsets().map(lostText), [
    "pmacct:0 offsets 2-39",
    "pmacct:1 offsets from the group's commit to 6",
  ]);
  lines.length = 0;
  feed(h.pipeline, "pmacct", 0, [message(42)]);
  assert.deepEqual(lines, [], "said once");
  for (let answered = 0; answered < 6; answered++) {
    h.requests[answered].answer(201); // four in flight at most: each answer lets the next one go
    await settle();
  }
  assert.equal(lastCommit(h.commits.filter((commit) => commit[0].partition === 0)), "43", "committed past the gap");
  await h.pipeline.drain(1000);
});

Deno.test("a partition whose log went back is read again beside what was read before, and a move a rebalance overtook gives no range", async () => {
  const lines: string[] = [];
  const metrics = createMetrics();
  const h = harness(200, 1, 10, metrics, {}, new Logger("info", (line) => lines.push(line), "json"));
  feed(h.pipeline, "pmacct", 0, [0, 1, 2].map((offset) => message(offset)));
  h.pipeline.offsetOutOfRange("pmacct", 0); // the topic made again: kafkajs goes back to offset 0
  h.pipeline.offsetOutOfRange("pmacct", 1);
  const madeAgain = { ...message(0), timestamp: "1764151200000" }; // another record, a day later
  assert.equal(feed(h.pipeline, "pmacct", 0, [madeAgain]), 1, "taken: the offsets are read again");
  const said = JSON.parse(lines.at(-1)!);
  assert.match(said.message, /^Kafka's log of a partition went back/);
  assert.equal(said.went_back, "pmacct:0 went back to offset 0 from 3");
  const { values } = await metrics.offsetResets.get();
  assert.equal(values.find(({ labels }) => labels.reason === "log_went_back")?.value, 1);
  h.pipeline.newGeneration(); // pmacct:1 is another member's now
  lines.length = 0;
  feed(h.pipeline, "pmacct", 1, [message(900)]);
  assert.deepEqual(lines, [], "no range from before the rebalance");
  assert.deepEqual(h.pipeline.lostOffsets().map(lostText), [
    "pmacct:0 went back to offset 0 from 3",
    "pmacct:1 offsets from the group's commit on, no longer held",
  ]);
  const draining = h.pipeline.drain(1000);
  const sent = h.requests.flatMap((request) => request.ids);
  assert.ok(sent.includes(`pmacct:0:0:0:${(1764151200000).toString(36)}`), `under an id of its own: ${sent}`);
  assert.ok(sent.includes("pmacct:0:0:0:mieemv40"), "beside the record read there before");
  for (const request of h.requests) request.answer(201);
  await draining;
});

Deno.test("a marker whose purged_entries no purge can have is ignored and counted; the message's flow goes in", async () => {
  const metrics = createMetrics();
  const lines: string[] = [];
  const h = harness(10, 1, 4, metrics, {}, new Logger("warn", (line) => lines.push(line)));
  const lines_ = (...texts: string[]) => encoder.encode(texts.join("\n"));
  const marker = (purged: unknown) => JSON.stringify({ event_type: "purge_close", purged_entries: purged });
  const taken = feed(h.pipeline, "pmacct", 0, [
    message(0, lines_(marker(-1), JSON.stringify({ bytes: 1, stamp_inserted: "2026-11-25 10:00:00" }))),
    message(1, lines_(marker(2.5), marker(1e300), marker("12"))),
    // A counter that wrapped: beyond 2^53, kept as its digits, and no count either; nor one in an array.
    message(2, lines_('{"event_type":"purge_close","purged_entries":18446744073709551615}')),
    message(3, lines_('{"event_type":"purge_close","purged_entries":[9007199254740993]}')),
  ]);
  assert.equal(taken, 4);
  assert.deepEqual(h.requests.map((request) => request.ids), [["pmacct:0:0:1:mieemv40"]]);
  h.requests[0].answer(201);
  assert.equal(await drained(h.pipeline), true);
  assert.deepEqual(h.deadLetters, []);
  assert.equal(lastCommit(h.commits), "4", "committed past every message");
  assert.equal((await metrics.markerValuesIgnored.get()).values[0].value, 5);
  assert.equal((await metrics.purgedEntries.get()).values[0].value, 12, "a count written as text is a count");
  const said = lines.filter((line) => line.includes("purged_entries no purge can have"));
  assert.equal(said.length, 5);
  assert.match(said[3], /purged_entries=18446744073709551615/);
  assert.match(said[4], /9007199254740993/);
});

Deno.test("a message whose reading throws outside any record is dead-lettered whole; its partition goes on", async () => {
  const h = harness(10, 1);
  h.pipeline.plug({
    origin: {
      of: (topic, partition, message) => {
        if (message.offset === "1") throw new TypeError("a fault of the bridge's");
        return { topic, partition, offset: message.offset, position: 0, timestampMs: Number(message.timestamp) };
      },
    },
  });
  assert.equal(feed(h.pipeline, "pmacct", 0, [message(0), message(1), message(2)]), 3);
  for (const request of h.requests) request.answer(201);
  assert.equal(await drained(h.pipeline), true);
  assert.deepEqual(h.deadLetters.map(({ offset, reason, detail }) => [offset, reason, detail]), [
    ["1", "internal_error", "a fault of the bridge's"],
  ]);
  assert.equal(lastCommit(h.commits), "3");
});

Deno.test("records are held by their bytes too: the bound stops taking, batches stay under a quarter of it, a larger record is too large", async () => {
  const h = harness(100, 100, 4, createMetrics(), { maxBufferedBytes: 4000, maxWaitMs: 1 });
  const sized = (offset: number, length: number) =>
    message(offset, encoder.encode(JSON.stringify({ bytes: offset, pad: "x".repeat(length - 20) })));
  const taken = feed(h.pipeline, "pmacct", 0, [
    sized(0, 900),
    sized(1, 900),
    sized(2, 900),
    sized(3, 900),
    sized(4, 5000),
    sized(5, 900),
  ]);
  assert.equal(taken, 5, "4 × 900 bytes fit under 4,000; the fifth crosses it, and then nothing more is taken");
  const draining = drained(h.pipeline);
  for (let round = 0; round < 10; round++) {
    await settle();
    for (const request of h.requests) request.answer(201);
  }
  assert.equal(await draining, true);
  assert.deepEqual(h.requests.map((request) => request.ids.length), [1, 1, 1, 1], "1,000 bytes a request at most");
  assert.deepEqual(h.deadLetters.map(({ offset, reason }) => [offset, reason]), [["4", "record_too_large"]]);
  assert.match(h.deadLetters[0].detail, /records are limited to 4000/);
});

Deno.test("documents a closed index holds are parked, not kept in a request slot: the other days' records flow meanwhile", async () => {
  let closed = true;
  const sentIds: string[][] = [];
  const metrics = createMetrics();
  const writer = new BulkWriter<PendingDocument>(
    (body) => {
      const actions = bulkActions(body);
      sentIds.push(actions.map(({ id }) => id));
      return Promise.resolve(
        actions.map(({ index }) => closed && index.endsWith("2026-11-24") ? CLOSED_INDEX_ITEM : { status: 201 }),
      );
    },
    new Logger("error", () => {}),
    metrics,
    { backoff: { initialMs: 1, maxMs: 1 } },
  );
  const commits: CommitRequest[][] = [];
  const pipeline = new Pipeline(
    {
      indexPrefix: "sflow",
      timezone: "UTC",
      timestampSource: "flow",
      maxBatch: 2,
      maxWaitMs: 1,
      maxBuffered: 100,
      concurrency: 1,
    },
    {
      writer,
      deadLetters: { send: () => Promise.reject(new Error("nothing here is a dead letter")) },
      commit: (offsets) => {
        commits.push(offsets);
        return Promise.resolve();
      },
      elasticHealth: () => {},
      log: quiet,
      metrics,
    },
  );
  pipeline.start(5);
  const dated = (offset: number, day: string) =>
    message(offset, encoder.encode(JSON.stringify({ bytes: offset, stamp_inserted: `${day} 10:00:00` })));
  // One request slot. A late flow of a closed day, then today's, batch after batch.
  feed(pipeline, "pmacct", 0, [dated(0, "2026-11-24"), dated(1, "2026-11-25")]);
  for (let offset = 2; offset < 12; offset++) {
    await settle();
    feed(pipeline, "pmacct", 0, [dated(offset, "2026-11-25")]);
  }
  for (let round = 0; round < 5; round++) await settle();
  const indexedToday = sentIds.flat().filter((id) => !id.startsWith("pmacct:0:0:"));
  assert.equal(new Set(indexedToday).size, 11, "every record of the open day went in");
  assert.equal(pipeline.held, 1, "the closed day's record is held");
  assert.equal(commits.length, 0, "nothing committed: the held record is the first");
  closed = false; // POST /sflow-2026-11-24/_open
  assert.equal(await drained(pipeline), true);
  assert.equal(lastCommit(commits), "12");
  assert.equal(await counted(metrics.deadLetters, "index_closed_exception"), 0, "nothing dead-lettered");
});

/** One fetched response of 1 MiB: the messages' values are views into it, as kafkajs gives them. */
function fetchedResponse(firstOffset: number, lines: string[]): SourceMessage[] {
  const response = new Uint8Array(new ArrayBuffer(1024 * 1024));
  let at = 0;
  return lines.map((line, i) => {
    const bytes = encoder.encode(line);
    response.set(bytes, at);
    const value = response.subarray(at, at + bytes.length);
    at += bytes.length + 64;
    return { offset: String(firstOffset + i), timestamp: "1764064800000", value };
  });
}

/** The bytes of the buffers behind `values`, each counted once. */
const bytesBehind = (values: Array<Uint8Array | string>) =>
  [...new Set(values.map((value) => (value as Uint8Array).buffer))].reduce((sum, buffer) => sum + buffer.byteLength, 0);

Deno.test("dead letters held and parked documents keep bytes of their own, not their whole fetched responses", async () => {
  const letters: DeadLetter[] = [];
  const parked: PendingDocument[] = [];
  const writer = new BulkWriter<PendingDocument>(
    (body) =>
      Promise.resolve(
        bulkActions(body).map(({ index }) => index.endsWith("2026-11-20") ? CLOSED_INDEX_ITEM : { status: 201 }),
      ),
    quiet,
    createMetrics(),
  );
  const pipeline = new Pipeline(
    {
      indexPrefix: "sflow",
      timezone: "UTC",
      timestampSource: "flow",
      maxBatch: 4,
      maxWaitMs: 1,
      maxBuffered: 10_000,
      maxBufferedBytes: 64 * 1024,
      concurrency: 2,
    },
    {
      writer: {
        write: (batch, handlers, signal) =>
          writer.write(batch, {
            ...handlers,
            park: (documents, why) => {
              parked.push(...documents);
              handlers.park!(documents, why);
            },
          }, signal),
      } as BulkWriter<PendingDocument>,
      // The dead-letter topic does not take letters (yet): they are held.
      deadLetters: { send: (letter) => (letters.push(letter), new Promise<void>(() => {})) },
      commit: () => Promise.resolve(),
      elasticHealth: () => {},
      log: quiet,
      metrics: createMetrics(),
    },
  );
  const late = JSON.stringify({ bytes: 1, stamp_inserted: "2026-11-20 10:00:00" });
  const today = JSON.stringify({ bytes: 1, stamp_inserted: "2026-11-25 10:00:00" });
  for (let fetch = 0; fetch < 100; fetch++) {
    const messages = fetchedResponse(fetch * 4, ["{not json", late, today, today]);
    assert.equal(feed(pipeline, "pmacct", 0, messages), 4);
    await settle();
  }
  assert.equal(letters.length, 100);
  assert.ok(parked.length >= 90, `${parked.length} parked`);
  assert.ok(bytesBehind(letters.map(({ value }) => value)) < 64 * 1024, "letters keep their own bytes");
  assert.ok(bytesBehind(parked.map(({ original }) => original)) < 64 * 1024, "parked documents keep their own bytes");
  pipeline.stop();
});
