/**
 * A group whose committed offsets Kafka forgot while no copy of the bridge ran (its offsets
 * expired after `offsets.retention.minutes`, or someone deleted the group: Kafka is left in the
 * same state) looks to Kafka like a new group. The bridge tells the two apart by the reading
 * marks it keeps in Elasticsearch (`<prefix>-bridge-state`): with `latest`, the records published
 * meanwhile are skipped, and it says so at WARN and counts it (alert
 * `PmacctBridgeKafkaCommitLostSkipped`), where it used to say "a new group" at INFO.
 */
import assert from "node:assert/strict";
import {
  committedOffset,
  elastic,
  groupLag,
  indexedSums,
  integrationTest,
  logLines,
  recordOfNow,
  settingsOf,
  startBridge,
  waitFor,
  waitForLog,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";
import { totalCount } from "../support/live_traffic.ts";

integrationTest(
  "commits lost while every copy was stopped: said at WARN and counted, not taken for a new group",
  () =>
    withScratchTopic("lostcommits", async ({ topic, admin, producer }) => {
      const publish = (from: number, count: number) =>
        producer.send({
          topic,
          acks: -1,
          messages: Array.from({ length: count }, (_, i) => ({ value: recordOfNow(from + i) })),
        });
      const indexed = async () => totalCount(await indexedSums(topic));
      const settings = { ...settingsOf(topic), KAFKA_AUTO_OFFSET_RESET: "latest" };
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      // A template of the operator's that makes data streams only, under the prefix (as Elasticsearch's
      // own `logs-*-*` does for a prefix `logs-x`): the marks' index must not fall under it.
      const catchAll = `${topic}-data-streams`;
      await elastic.indices.putIndexTemplate({
        name: catchAll,
        index_patterns: [`${topic}-*`],
        priority: 100,
        data_stream: {},
      });
      const first = await startBridge(settings);
      try {
        await waitReady(first);
        await waitForLog(first, "no committed offset for a partition: a new group;");
        assert.deepEqual(await logLines(first, "cannot mark"), [], "marked");
        // Its start is committed at once, before any record: records from here on are the group's.
        await waitFor("the start committed", async () => (await committedOffset(admin, topic, topic)) === 0);
        await publish(1, 100);
        await waitFor(
          "100 records indexed and committed",
          async () => await indexed() === 100 && (await groupLag(topic, topic)) === 0,
        );
      } finally {
        assert.equal((await first.stop("SIGTERM")).code, 0);
      }
      await admin.deleteGroups([topic]);
      await publish(101, 50); // published while the group had no commit: `latest` skips them
      const second = await startBridge(settings);
      try {
        await waitReady(second);
        const said = await waitForLog(second, "no committed offset for a partition it had read");
        assert.match(said, /WARN/);
        assert.match(said, /--backfill indexes them/);
        assert.equal(
          await second.metric(
            `pmacct_bridge_kafka_offset_resets_total{topic="${topic}",reason="commit_missing_skipped"}`,
          ),
          1,
        );
        assert.deepEqual(await logLines(second, "a new group"), [], "not taken for a new group");
        await publish(151, 10);
        await waitFor("the records after its start indexed", async () => await indexed() === 110);
        await waitFor("them committed", async () => (await groupLag(topic, topic)) === 0);
        assert.equal(await indexed(), 110, "the 50 published while it had no commit: skipped");
        // The marks are out of the way: hidden, so searches of `<prefix>-*` (and the counts above) never see them.
        const state = await elastic.count({ index: `${topic}-bridge-state` });
        assert.equal(state.count, 1, "one mark: one group and partition");
        const visible = await elastic.cat.indices({ index: `${topic}-*`, format: "json" });
        assert.ok(visible.every(({ index }) => index !== `${topic}-bridge-state`), JSON.stringify(visible));
      } finally {
        assert.equal((await second.stop("SIGTERM")).code, 0);
        await elastic.indices.deleteIndexTemplate({ name: catchAll }).catch(() => {});
      }
    }),
);
