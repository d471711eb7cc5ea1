/**
 * Records Kafka deleted before the bridge read them (retention, while the bridge lagged or was
 * down) are lost, and said so: kafkajs moves the group past them with a line of its own only.
 */
import assert from "node:assert/strict";
import { totalCount } from "../support/live_traffic.ts";
import {
  groupLag,
  indexedSums,
  integrationTest,
  recordOfNow,
  settingsOf,
  startBridge,
  waitFor,
  waitForLog,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";

integrationTest(
  "a group commit Kafka deleted past: the loss is logged with its offsets and counted, the rest is indexed",
  () =>
    withScratchTopic("deleted-unread", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: recordOfNow(i) })) });
      // The group read up to offset 2; then retention deleted offsets 0-4, before it came back.
      await admin.setOffsets({ groupId: topic, topic, partitions: [{ partition: 0, offset: "2" }] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "5" }] });

      const bridge = await startBridge(settingsOf(topic));
      try {
        await waitReady(bridge);
        const moved = await waitForLog(bridge, "Kafka no longer holds the records a partition was to read next");
        assert.match(moved, new RegExp(`partition=${topic}:0 from="the group's commit"`));
        const lost = await waitForLog(bridge, "records skipped unread: Kafka deleted them before the bridge read them");
        assert.match(lost, new RegExp(`lost="${topic}:0 offsets from the group's commit to 4" resumed_at=5`));
        await waitFor("the group to commit the rest", async () => (await groupLag(topic, topic)) === 0, 60_000);
        await waitFor(
          "offsets 5-9 indexed",
          async () => totalCount(await indexedSums(topic)) === 5 || undefined,
          60_000,
        );
        const sums = Object.values(await indexedSums(topic));
        assert.equal(sums.reduce((sum, day) => sum + day.bytes, 0), 5 + 6 + 7 + 8 + 9, "exactly the records held");
        assert.equal(
          await bridge.metric(`pmacct_bridge_kafka_offset_resets_total{topic="${topic}",reason="deleted_unread"}`),
          1,
        );
      } finally {
        await bridge.stop("SIGKILL");
      }
    }),
);
