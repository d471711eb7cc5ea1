/**
 * SIGKILL of the bridge mid-stream, then a restart: every record pmacct produced is in
 * Elasticsearch exactly once (deterministic ids turn the re-read of uncommitted records into
 * overwrites).
 */
import assert from "node:assert/strict";
import {
  allIds,
  groupLag,
  kafkaClusterId,
  readTopic,
  recordIdOf,
  replaySyntheticTraffic,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

Deno.test("after SIGKILL mid-stream and a restart, no record is missing and no _id is duplicated", async () => {
  const topic = uniqueName("sigkill");
  await replaySyntheticTraffic(topic, "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start");
  const messages = await readTopic(topic);
  const cluster = await kafkaClusterId();
  const expectedIds = messages.map((message) => recordIdOf(cluster, topic, message, 0)).sort();
  assert.ok(expectedIds.length >= 5000, `pmacct produced only ${expectedIds.length} records`);

  // Small, sequential batches make the stream long enough to be killed in the middle of it.
  const env = {
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    ELASTIC_MAX_SAMPLES_PER_SEND: "25",
    ELASTIC_BULK_CONCURRENCY: "1",
    ELASTIC_MAX_TIME_TO_SEND: "1",
  };
  const first = await startBridge(env);
  let indexedAtKill = 0;
  try {
    await waitReady(first);
    indexedAtKill = await waitFor(
      "the first bridge to index part of the stream",
      async () => {
        const indexed = await first.metric("pmacct_bridge_documents_indexed_total");
        return indexed >= 1000 ? indexed : undefined;
      },
      120_000,
      20,
    );
  } finally {
    await first.stop("SIGKILL");
  }
  assert.ok(
    indexedAtKill < expectedIds.length,
    `the bridge finished (${indexedAtKill}) before it could be killed mid-stream`,
  );

  const second = await startBridge(env);
  try {
    await waitReady(second);
    await waitFor(
      "every record indexed after the restart",
      async () => {
        const ids = await allIds(topic);
        return new Set(ids).size >= expectedIds.length ? ids : undefined;
      },
      120_000,
      1000,
    );
    // Kafka's own view: a partition the first bridge had finished is never touched again.
    await waitFor("the group to have committed everything", async () => (await groupLag(topic, topic)) === 0, 30_000);
    const ids = (await allIds(topic)).sort();
    assert.equal(ids.length, new Set(ids).size, "an _id appears twice");
    assert.deepEqual(ids, expectedIds);
    const reindexed = await second.metric("pmacct_bridge_documents_indexed_total");
    assert.ok(reindexed < expectedIds.length, "the restart re-read everything: offsets were never committed");
  } finally {
    await second.stop("SIGKILL");
  }
});
