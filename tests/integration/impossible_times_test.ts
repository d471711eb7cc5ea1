/**
 * Times that once stopped a partition (issue 16's table: `encodeDocument` threw `RangeError`, the
 * consumer stopped, and the records behind were never indexed), on the real stack: between
 * fixture records on one partition, a message stamped by its producer past a JavaScript date's
 * range (a flow without a time of its own) and a flow whose own time is just past that range.
 * Both are indexed, the first under the clock (its Kafka time is no date), the second with that
 * time unknown; every record behind them is indexed, nothing is dead-lettered, and the group's lag
 * falls to 0. (An exception while encoding is dead-lettered as `encode_error`; no pmacct input is
 * known to raise one any more, so the pipeline's unit test shows that path with a broken clock.)
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { fixtureRecordFiles } from "../support/fixtures.ts";
import {
  alive,
  ensureTopic,
  groupLag,
  indexedDocuments,
  integrationTest,
  KAFKA,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

integrationTest("times past a date's range are indexed, and the partition flows on", async () => {
  const topic = uniqueName("encode");
  const records = fixtureRecordFiles().flatMap(({ lines }) => lines).slice(0, 200);
  const stampedPastDates = '{"bytes": 1, "case": "stamped past a date"}';
  const pastRange = '{"bytes": 2, "case": "past range", "timestamp_start": "8640000000000.5"}';
  await ensureTopic(topic);
  const producer = new Kafka({ clientId: "encode-error", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: [
        ...records.slice(0, 100).map((value) => ({ value, partition: 0 })),
        { value: stampedPastDates, partition: 0, timestamp: "9000000000000000" },
        { value: pastRange, partition: 0 },
        ...records.slice(100).map((value) => ({ value, partition: 0 })),
      ],
    });
  } finally {
    await producer.disconnect();
  }

  const startedAt = Date.now();
  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    ELASTIC_MAX_TIME_TO_SEND: "1",
  });
  try {
    await waitReady(bridge);
    await waitFor("every offset committed", async () => (await groupLag(topic, topic)) === 0, 120_000);
    const documents = await waitFor("every record indexed", async () => {
      const found = await indexedDocuments(topic, true);
      return found.length >= records.length + 2 && found;
    }, 60_000);
    assert.equal(documents.length, records.length + 2);
    const flow = documents.find((document) => document.source?.case === "past range");
    assert.equal(flow?.source?.timestamp_start, null, "a time past a date's range is unknown");
    const stamped = documents.find((document) => document.source?.case === "stamped past a date");
    const days = [startedAt, Date.now()].map((ms) => `${topic}-${new Date(ms).toISOString().slice(0, 10)}`);
    assert.ok(days.includes(stamped?.index ?? ""), `filed under the clock's day: ${stamped?.index}`);
    assert.equal(await bridge.metric("pmacct_bridge_decode_errors_total"), 0);
    assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
    assert.ok(await alive(bridge), "the bridge runs on");
  } finally {
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  }
});
