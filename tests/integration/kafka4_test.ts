/**
 * Kafka 4.1.1 (KRaft), hardened: `auto.create.topics.enable=false`, with the stack's
 * Elasticsearch at `action.auto_create_index: false`. The bridge starts before the topic
 * exists, says so, picks the topic up once it is created, creates its dead-letter topic large
 * enough for the source's messages, and indexes everything pmacct produced.
 */
import assert from "node:assert/strict";
import { ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { assertIndexedTotals, expectedTotals, totalCount } from "../support/live_traffic.ts";
import {
  integrationTest,
  KAFKA4,
  readiness,
  readTopic,
  replaySyntheticTraffic,
  stack,
  startBridge,
  uniqueName,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

const SOURCE_MAX_MESSAGE_BYTES = 3_145_728;

integrationTest(
  "Kafka 4.1.1 without topic auto-creation: the bridge waits for the topic, then indexes every record",
  async () => {
    await stack("up", "kafka4");
    const admin = new Kafka({ clientId: "kafka4-test", brokers: [KAFKA4], logLevel: logLevel.NOTHING }).admin();
    const topic = uniqueName("kafka4");
    const bridge = await startBridge({
      KAFKA_BOOTSTRAP_SERVERS: KAFKA4,
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: topic,
      ELASTIC_INDEX_PREFIX: topic,
      ELASTIC_MAX_TIME_TO_SEND: "1",
    });
    try {
      const waiting = `topic ${topic} does not exist yet; waiting`;
      await waitForLog(bridge, waiting);
      const { status, checks, problems } = await readiness(bridge);
      assert.equal(status, 503);
      assert.equal(checks.kafka_topic, false);
      assert.equal(problems.kafka_topic, waiting);

      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic,
          numPartitions: 3,
          configEntries: [{ name: "max.message.bytes", value: String(SOURCE_MAX_MESSAGE_BYTES) }],
        }],
      });
      await replaySyntheticTraffic(
        topic,
        "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start",
        undefined,
        KAFKA4,
      );
      const expected = await expectedTotals(topic, topic, KAFKA4);
      assert.ok(totalCount(expected) >= 5000, `pmacct produced only ${totalCount(expected)} records`);

      await waitReady(bridge, 60_000);
      await assertIndexedTotals(bridge, topic, expected);

      const deadLetterTopic = `${topic}-dlq`;
      assert.equal((await readTopic(deadLetterTopic, KAFKA4)).length, 0, "dead-letter topic");
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: deadLetterTopic, configNames: ["max.message.bytes"] }],
      });
      const bytes = Number(described.resources[0].configEntries[0].configValue);
      assert.ok(bytes >= SOURCE_MAX_MESSAGE_BYTES, `the dead-letter topic takes ${bytes} bytes a message`);
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
      await admin.disconnect();
      await stack("down", "kafka4");
    }
  },
);
