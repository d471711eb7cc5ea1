/**
 * The dead-letter topic deleted under a running bridge, on the stack's Kafka 4.1.1, which creates
 * no topic on its own (`auto.create.topics.enable=false`): the letters wait, `/readyz` and the
 * metric say the topic is missing, nothing is committed past the first unwritten letter while the
 * good records around it are indexed, and once the topic exists again every letter is written
 * once and the group reaches the end.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import {
  allIds,
  committedOffset,
  integrationTest,
  KAFKA4,
  readiness,
  recordOfNow,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const GOOD_BEFORE = 10;
const POISON = 5;
const GOOD_AFTER = 20;

integrationTest(
  "a dead-letter topic deleted under the bridge: letters wait, named as missing, then written once it exists again",
  async () => {
    await stack("up", "kafka4");
    const name = uniqueName("dlqmissing");
    const topic = name;
    const deadLetterTopic = `${name}-dlq`;
    const kafka = new Kafka({ clientId: "dlq-missing-test", brokers: [KAFKA4], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    const bridge = await startBridge({
      KAFKA_BOOTSTRAP_SERVERS: KAFKA4,
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: name,
      ELASTIC_INDEX_PREFIX: name,
      ELASTIC_MAX_TIME_TO_SEND: "1",
      KAFKA_AUTO_OFFSET_RESET: "earliest",
    });
    try {
      await waitReady(bridge);
      assert.ok((await admin.listTopics()).includes(deadLetterTopic), "the bridge created its dead-letter topic");
      await producer.send({
        topic,
        messages: Array.from({ length: GOOD_BEFORE }, (_, n) => ({ value: recordOfNow(n) })),
      });
      await waitFor(
        "the first records committed",
        async () => (await committedOffset(admin, name, topic)) === GOOD_BEFORE,
      );

      await admin.deleteTopics({ topics: [deadLetterTopic] });
      await waitFor(
        "the dead-letter topic to be gone",
        async () => !(await admin.listTopics()).includes(deadLetterTopic),
      );
      await producer.send({
        topic,
        messages: [
          ...Array.from({ length: POISON }, (_, n) => ({ value: `{"not json": ${n}` })),
          ...Array.from({ length: GOOD_AFTER }, (_, n) => ({ value: recordOfNow(GOOD_BEFORE + n) })),
        ],
      });

      const problem = await waitFor("/readyz to name the missing dead-letter topic", async () => {
        const { status, checks, problems } = await readiness(bridge);
        return status === 503 && checks.dead_letter_topic === false && problems.dead_letter_topic;
      });
      assert.match(problem, new RegExp(`dead-letter topic ${deadLetterTopic} does not exist`));
      assert.ok(
        await bridge.metric('pmacct_bridge_dead_letter_write_failures_total{reason="topic_missing"}') >= 1,
        "the refusals are counted as a missing topic",
      );
      await waitFor(
        "the good records after the poison to be indexed",
        async () => (await allIds(name)).length === GOOD_BEFORE + GOOD_AFTER || undefined,
      );
      // Commits go out on the pipeline's 250 ms tick: over several ticks, none passes the waiting letters.
      for (let tick = 0; tick < 8; tick++) {
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
        assert.equal(
          await committedOffset(admin, name, topic),
          GOOD_BEFORE,
          "nothing committed past the first unwritten letter",
        );
        await new Promise((resolve) => setTimeout(resolve, 250));
      }

      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: deadLetterTopic, numPartitions: 1 }] });
      const end = GOOD_BEFORE + POISON + GOOD_AFTER;
      await waitFor(
        `the group's offset at the end, ${end} (log: ${bridge.logPath})`,
        async () => (await committedOffset(admin, name, topic)) === end,
        120_000,
        500,
      );
      const [dlqEnd] = await admin.fetchTopicOffsets(deadLetterTopic);
      assert.equal(Number(dlqEnd.high), POISON, "each poison line is one dead letter");
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), POISON);
      assert.equal(new Set(await allIds(name)).size, GOOD_BEFORE + GOOD_AFTER);
      const { checks } = await readiness(bridge);
      assert.equal(checks.dead_letter_topic, true, "the problem is over once letters are written");
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
      await admin.deleteTopics({ topics: [topic, deadLetterTopic] }).catch(() => {});
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    }
  },
);
