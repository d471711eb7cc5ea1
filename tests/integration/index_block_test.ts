/**
 * `index.blocks.write` on the bridge's daily index for 25 s while records flow: the log names
 * the `cluster_block_exception` and never credentials, `/readyz` names the block while it lasts
 * (with `elasticsearch_auth_failed` 0), nothing reaches the blocked index meanwhile, and once the
 * block is lifted every record is indexed exactly once (per-day counts and byte sums, unique ids).
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { AGGREGATE, expectedTotals, produceLiveTraffic, totalCount } from "../support/live_traffic.ts";
import { flowRecord } from "../support/flow_records.ts";
import {
  alive,
  indexedDocuments,
  indexedSums,
  integrationTest,
  KAFKA,
  logLines,
  MAIN_ELASTIC,
  readiness,
  replaySyntheticTraffic,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

const BLOCK_MS = 25_000;

function setWriteBlock(prefix: string, blocked: boolean): Promise<unknown> {
  return MAIN_ELASTIC.request("PUT", `/${prefix}-*/_settings`, { "index.blocks.write": blocked ? true : null });
}

integrationTest(
  "a write block on the daily index is named as a block, held, and indexed exactly once when lifted",
  async () => {
    const topic = uniqueName("block");
    const prefix = topic;
    const before = await produceLiveTraffic(topic, prefix);
    const bridge = await startBridge({
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: topic,
      ELASTIC_INDEX_PREFIX: prefix,
      ELASTIC_MAX_TIME_TO_SEND: "1",
    });
    const producer = new Kafka({ clientId: "block-trickle", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    let blocked = false;
    try {
      await waitReady(bridge);
      await waitFor(
        `${totalCount(before)} documents before the block (log: ${bridge.logPath})`,
        async () => totalCount(await indexedSums(prefix)) >= totalCount(before) || undefined,
      );
      const held = await indexedSums(prefix);
      const index = Object.keys(held).sort().at(-1)!;

      await setWriteBlock(prefix, true);
      blocked = true;
      const blockedAt = Date.now();
      await producer.connect();
      await replaySyntheticTraffic(topic, AGGREGATE);
      let sequence = 0;
      await producer.send({ topic, messages: [{ value: flowRecord(sequence++) }] });
      const named = await waitFor(
        `/readyz naming the block (log: ${bridge.logPath})`,
        async () => {
          const { status, problems } = await readiness(bridge);
          // Its own day: a capture that straddles midnight fills two days, each its own request.
          return status === 503 && problems.elasticsearch_block?.includes(index) && problems.elasticsearch_block;
        },
        60_000,
        500,
      );
      assert.match(named, new RegExp(`index ${prefix}-\\d{4}-\\d{2}-\\d{2} is blocked: index write \\(api\\)`));
      assert.ok(named.includes(index), `the problem names ${index}: ${named}`);

      // Records keep coming for as long as the block lasts; nothing gets past it, and it stays named.
      while (Date.now() - blockedAt < BLOCK_MS) {
        await producer.send({ topic, messages: [{ value: flowRecord(sequence++) }] });
        const { status, problems } = await readiness(bridge);
        assert.equal(status, 503);
        assert.match(problems.elasticsearch_block ?? "", /is blocked: index write \(api\)/);
        assert.ok(
          Object.values(problems).every((problem) => !problem.includes("credentials")),
          JSON.stringify(problems),
        );
        assert.equal(await bridge.metric("pmacct_bridge_elasticsearch_auth_failed"), 0);
        assert.equal(await bridge.metric("pmacct_bridge_elasticsearch_up"), 1);
        assert.ok(await bridge.metric("pmacct_bridge_elasticsearch_blocked") >= 1);
        const now = await indexedSums(prefix);
        for (const [day, totals] of Object.entries(held)) assert.deepEqual(now[day], totals, `${day} is blocked`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await setWriteBlock(prefix, false);
      blocked = false;

      const expected = await expectedTotals(topic, prefix);
      const total = totalCount(expected);
      assert.ok(total > totalCount(before) + sequence, "records arrived during the block");
      await waitFor(
        `${total} documents after the block (log: ${bridge.logPath})`,
        async () => totalCount(await indexedSums(prefix)) >= total || undefined,
      );
      assert.deepEqual(await indexedSums(prefix), expected, "per-day documents, bytes and packets");
      const documents = await indexedDocuments(prefix);
      assert.equal(new Set(documents.map((document) => document.id)).size, total, "each record once");
      assert.ok(documents.every((document) => document.version === 1), "no document written twice");
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, "nothing dead-lettered for a block");
      await waitReady(bridge);
      assert.equal(await bridge.metric("pmacct_bridge_elasticsearch_blocked"), 0);

      await waitForLog(bridge, "resolved");
      const log = await Deno.readTextFile(bridge.logPath);
      assert.match(log, /cluster_block_exception/);
      assert.match(log, /resolved.*check=elasticsearch_block|check=elasticsearch_block.*resolved/);
      assert.deepEqual(await logLines(bridge, "credentials"), [], "the log never speaks of credentials");
      assert.ok(await alive(bridge));
    } finally {
      if (blocked) await setWriteBlock(prefix, false).catch(() => {});
      await producer.disconnect();
      await bridge.stop();
      await MAIN_ELASTIC.request("DELETE", `/${prefix}-*`).catch(() => {});
    }
  },
);
