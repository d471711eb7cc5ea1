/**
 * A record that cannot be encoded never stops its partition (issue 16 item 4), on the real stack:
 * between fixture records on one partition, a message stamped by its producer past a JavaScript
 * date's range (a flow without a time of its own cannot be filed by it) and a flow whose own time
 * is just past that range. The first is dead-lettered as `encode_error`, the second indexed with
 * that time unknown, every record behind them indexed, and the group's lag falls to 0.
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
  readTopic,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

integrationTest("a record that cannot be encoded is dead-lettered and the partition flows on", async () => {
  const topic = uniqueName("encode");
  const records = fixtureRecordFiles().flatMap(({ lines }) => lines).slice(0, 200);
  const unencodable = '{"bytes": 1, "poison": "stamped past a date"}';
  const pastRange = '{"bytes": 2, "case": "past range", "timestamp_start": "8640000000000.5"}';
  await ensureTopic(topic);
  const producer = new Kafka({ clientId: "encode-error", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: [
        ...records.slice(0, 100).map((value) => ({ value, partition: 0 })),
        { value: unencodable, partition: 0, timestamp: "9000000000000000" },
        { value: pastRange, partition: 0 },
        ...records.slice(100).map((value) => ({ value, partition: 0 })),
      ],
    });
  } finally {
    await producer.disconnect();
  }

  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    ELASTIC_MAX_TIME_TO_SEND: "1",
  });
  try {
    await waitReady(bridge);
    await waitFor("every offset committed", async () => (await groupLag(topic, topic)) === 0, 120_000);
    const documents = await waitFor("every record but one indexed", async () => {
      const found = await indexedDocuments(topic, true);
      return found.length >= records.length + 1 && found;
    }, 60_000);
    assert.equal(documents.length, records.length + 1);
    const flow = documents.find((document) => document.source?.case === "past range");
    assert.equal(flow?.source?.timestamp_start, null, "a time past a date's range is unknown");
    const letters = await waitFor("the dead letter", async () => {
      const found = await readTopic(`${topic}-dlq`);
      return found.length > 0 && found;
    }, 60_000);
    assert.deepEqual(letters.map((letter) => [letter.payload, letter.headers["dlq.reason"]]), [
      [unencodable, "encode_error"],
    ]);
    assert.match(letters[0].headers["dlq.detail"], /Invalid time value/);
    assert.equal(await bridge.metric("pmacct_bridge_decode_errors_total"), 1);
    assert.ok(await alive(bridge), "the bridge runs on");
  } finally {
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  }
});
