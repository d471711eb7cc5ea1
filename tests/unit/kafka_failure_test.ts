/**
 * Kafka failures named as what they are: "cannot reach" only when no broker answered.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { parseConfig } from "../../lib/config/mod.ts";
import { classifyKafkaFailure, createKafka, withAdmin } from "../../lib/kafka/client.ts";
import { Logger } from "../../lib/runtime/log.ts";

// kafkajs spreads its errors into its exports, which Deno does not see as named exports.
const { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

const config = parseConfig({ KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1", KAFKA_TOPIC: "pmacct" }, "UTC").kafka;

Deno.test("a port where no broker listens is 'cannot reach Kafka' (kafkajs' real error)", async () => {
  const kafka = createKafka(config, undefined, new Logger("error", () => {}));
  const error = await withAdmin(kafka, () => Promise.resolve()).then(() => undefined, (error) => error);
  assert.ok(error, "connecting to port 1 succeeded");
  assert.equal(classifyKafkaFailure(error, config).problem, "cannot reach Kafka at 127.0.0.1:1; retrying");
});

Deno.test("a broker's answer is named, also when kafkajs wraps it in its retries", () => {
  const denied = new KafkaJSProtocolError({
    message: "Not authorized to access group: Group authorization failed",
    type: "GROUP_AUTHORIZATION_FAILED",
    code: 30,
    retriable: false,
  } as never);
  const wrapped = new KafkaJSNumberOfRetriesExceeded(denied, { retryCount: 2, retryTime: 100 } as never);
  for (const error of [denied, wrapped]) {
    assert.deepEqual(classifyKafkaFailure(error, config), {
      check: "kafka",
      problem:
        "Kafka answered GROUP_AUTHORIZATION_FAILED: Not authorized to access group: Group authorization failed; retrying",
    });
  }
});

Deno.test("a refused join for the assignment protocols names the group, without details too", () => {
  const error = new KafkaJSProtocolError({ message: "incompatible", type: "INCONSISTENT_GROUP_PROTOCOL" } as never);
  assert.equal(
    classifyKafkaFailure(error, config).problem,
    "group kafka2elastic has members of another Kafka client whose assignment protocols this bridge does not offer (KAFKA_PARTITION_ASSIGNMENT_STRATEGY=roundrobin, range); waiting for them to leave",
  );
});

Deno.test("a group held by copies of version 1.0 (kafkajs' own assigner) says to stop them, not 'another client'", () => {
  const error = new KafkaJSProtocolError({ message: "incompatible", type: "INCONSISTENT_GROUP_PROTOCOL" } as never);
  const conflict = { protocol: "RoundRobinAssigner", clients: ["pmacct-kafka-elastic"] };
  const { problem } = classifyKafkaFailure(error, config, conflict);
  assert.match(problem, /^group kafka2elastic has members of pmacct-kafka-elastic 1\.0 /);
  assert.match(problem, /stop every 1\.0 copy/);
  assert.doesNotMatch(problem, /another Kafka client/);
});

Deno.test("kafkajs' line for a partition moved off an offset Kafka no longer holds reaches the bridge as an event", () => {
  const moved: Array<[string, number]> = [];
  // kafkajs' own logger, at the level the bridge runs it (WARN): its ConsumerGroup logs these two lines.
  const consumerGroupLog = createKafka(config, undefined, new Logger("info", () => {}), {
    offsetOutOfRange: (topic, partition) => moved.push([topic, partition]),
  }).logger().namespace("ConsumerGroup");
  consumerGroupLog.error("Offset out of range, resetting to default offset", { topic: "pmacct", partition: 2 });
  consumerGroupLog.info("Offset out of range while fetching from follower, retrying with leader", {
    topic: "pmacct",
    partition: 2,
  });
  assert.deepEqual(moved, [["pmacct", 2]], "a retry at the leader moves nothing");
});
