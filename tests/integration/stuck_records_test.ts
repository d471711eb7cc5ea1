/**
 * Records that cannot finish, on the real Kafka and Elasticsearch. One record whose dead letter
 * Kafka refuses for good holds its partition's commit: the bridge reads 100,000 messages past it
 * (its bound) and no further, names the partition, the offset and why on `/readyz`, counts it,
 * and reads on once Kafka takes the letter. A pmacct marker whose `purged_entries` no purge can
 * have (-1) is ignored and counted, and the flow line after it in the same message is indexed.
 */
import assert from "node:assert/strict";
import { ConfigResourceTypes } from "kafkajs";
import {
  committedOffset,
  indexedSums,
  integrationTest,
  readiness,
  recordOfNow,
  settingsOf,
  startBridge,
  waitFor,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";
import { totalCount } from "../support/live_traffic.ts";

/** Messages tracked past a record that cannot finish before its partition is read no further (the default). */
const BOUND = 100_000;
const PAST_THE_BOUND = 5_000;

integrationTest(
  "a record whose dead letter Kafka refuses holds its partition past the bound, named, until taken",
  () =>
    withScratchTopic("held", async ({ topic, admin, producer }) => {
      const deadLetterTopic = `${topic}-dlq`;
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic, numPartitions: 1 },
          // Smaller than any letter: Kafka refuses the one letter with MESSAGE_TOO_LARGE.
          { topic: deadLetterTopic, numPartitions: 1, configEntries: [{ name: "max.message.bytes", value: "64" }] },
        ],
      });
      const good = BOUND + PAST_THE_BOUND;
      await producer.send({ topic, acks: -1, messages: [{ value: '{"not json' }] });
      for (let sent = 0; sent < good; sent += 10_000) {
        const count = Math.min(10_000, good - sent);
        await producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: count }, (_, n) => ({ value: recordOfNow(sent + n) })),
        });
      }
      const bridge = await startBridge({ ...settingsOf(topic), KAFKA_AUTO_OFFSET_RESET: "earliest" });
      try {
        // No wait for a ready bridge first: the refused letter makes `/readyz` answer 503 from the
        // first read on (dead_letter_topic), which may come before any poll sees a 200.
        const named = await waitFor(
          `/readyz naming the held partition (log: ${bridge.logPath})`,
          async () => {
            const { status, problems } = await readiness(bridge);
            return status === 503 && problems.partition_commit;
          },
          180_000,
          500,
        );
        assert.match(named, new RegExp(`${topic}:0 is read no further: offset 0 holds its commit`));
        assert.match(named, /too large/, `why: the letter's topic and Kafka's error (${named})`);
        assert.equal(await bridge.metric("pmacct_bridge_kafka_partitions_held"), 1);
        // Reading stops at the bound: what was read is indexed, the rest waits in Kafka.
        await waitFor(
          `the records read before the bound indexed (log: ${bridge.logPath})`,
          async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= BOUND - 1 || undefined,
          180_000,
        );
        const read = await bridge.metric("samples_count_total");
        assert.ok(read <= BOUND + 1000, `${read} records read; the bound is ${BOUND} messages past the held one`);
        assert.ok(read < good, "the records past the bound are not read");
        assert.equal(await committedOffset(admin, topic, topic), 0, "nothing committed past the held record");

        await admin.alterConfigs({
          validateOnly: false,
          resources: [{
            type: ConfigResourceTypes.TOPIC,
            name: deadLetterTopic,
            configEntries: [{ name: "max.message.bytes", value: "1048588" }],
          }],
        });
        await waitFor(
          `every record indexed and the group at the end (log: ${bridge.logPath})`,
          async () =>
            totalCount(await indexedSums(topic)) === good &&
              (await committedOffset(admin, topic, topic)) === good + 1 ||
            undefined,
          300_000,
          1000,
        );
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 1);
        assert.equal(await bridge.metric("pmacct_bridge_kafka_partitions_held"), 0);
        assert.equal((await readiness(bridge)).problems.partition_commit, undefined);
        assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        await bridge.stop("SIGKILL");
      }
    }),
);

integrationTest(
  "a purge marker with purged_entries -1 is ignored and counted; its message's flow is indexed",
  () =>
    withScratchTopic("badmarker", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      const marker = JSON.stringify({ event_type: "purge_close", purged_entries: -1 });
      await producer.send({
        topic,
        acks: -1,
        messages: [
          { value: `${marker}\n${recordOfNow(1)}` },
          { value: recordOfNow(2) },
        ],
      });
      const bridge = await startBridge({ ...settingsOf(topic), KAFKA_AUTO_OFFSET_RESET: "earliest" });
      try {
        await waitReady(bridge);
        await waitFor(
          `both flows indexed and the group at the end (log: ${bridge.logPath})`,
          async () =>
            totalCount(await indexedSums(topic)) === 2 && (await committedOffset(admin, topic, topic)) === 2 ||
            undefined,
          60_000,
        );
        assert.equal(
          await bridge.metric('pmacct_bridge_pmacct_marker_values_ignored_total{field="purged_entries"}'),
          1,
        );
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
        assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        await bridge.stop("SIGKILL");
      }
    }),
);
