/**
 * A topic deleted and made again under the same name starts its offsets at 0 again: the records
 * there now are other records, and their documents go beside those of the records read before,
 * never over them (ids end with the Kafka time of their message). Before, 600 new records
 * overwrote 600 of the 3,000 old documents.
 */
import assert from "node:assert/strict";
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
import { totalCount } from "../support/live_traffic.ts";

const BEFORE = 3000;
const AFTER = 600;

integrationTest(
  "a topic deleted and made again: 3,000 records before, 600 after, 3,600 documents",
  () =>
    withScratchTopic("remade", async ({ topic, admin, producer }) => {
      /** Makes the topic and publishes `count` records whose `bytes` start at `from`. */
      const publish = async (from: number, count: number) => {
        await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
        for (let sent = 0; sent < count; sent += 500) {
          const messages = Array.from({ length: Math.min(500, count - sent) }, (_, i) => ({
            value: recordOfNow(from + sent + i),
          }));
          await producer.send({ topic, acks: -1, messages });
        }
      };
      const indexedBytes = async () => Object.values(await indexedSums(topic)).reduce((sum, day) => sum + day.bytes, 0);
      const sumOf = (from: number, count: number) => count * from + (count * (count - 1)) / 2;
      await publish(1, BEFORE);
      const first = await startBridge(settingsOf(topic));
      try {
        await waitReady(first);
        await waitForLog(first, "no committed offset for a partition: a new group;");
        await waitFor(
          "the first records indexed and committed",
          async () => totalCount(await indexedSums(topic)) === BEFORE && (await groupLag(topic, topic)) === 0,
          120_000,
          500,
        );
      } finally {
        assert.equal((await first.stop("SIGTERM")).code, 0, "everything committed");
      }
      await admin.deleteTopics({ topics: [topic] });
      await waitFor("the topic to be gone", async () => !(await admin.listTopics()).includes(topic), 60_000, 500);
      // Offsets 0-599 again, other records: bytes 100,001 on.
      await publish(100_001, AFTER);
      const second = await startBridge(settingsOf(topic));
      try {
        await waitReady(second);
        await waitFor(
          `${BEFORE + AFTER} documents`,
          async () => totalCount(await indexedSums(topic)) === BEFORE + AFTER || undefined,
          120_000,
          500,
        );
        assert.equal(await indexedBytes(), sumOf(1, BEFORE) + sumOf(100_001, AFTER), "every record of both, by bytes");
        await waitFor("the new topic committed to its end", async () => (await groupLag(topic, topic)) === 0, 60_000);
        // Kafka dropped the group's commits with the topic; the bridge's reading mark tells it from a new group.
        await waitForLog(second, "no committed offset for a partition it had read");
        assert.equal(
          await second.metric(
            `pmacct_bridge_kafka_offset_resets_total{topic="${topic}",reason="commit_missing_reread"}`,
          ),
          1,
        );
      } finally {
        await second.stop("SIGKILL");
      }
    }),
);
