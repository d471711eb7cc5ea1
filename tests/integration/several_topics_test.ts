/**
 * One bridge reading two topics (`KAFKA_TOPIC=a,b`), as for one pmacct collector per topic: each
 * is fed live by Debian's pmacctd (with different aggregates, as two collectors would be), plus a
 * poison message. Per topic and per day, counts and byte/packet sums in Elasticsearch equal what
 * pmacct produced, ids are `<cluster id>:<topic>:<partition>:<offset>:<position>`, and each poison message
 * lands in its own topic's dead-letter topic.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { addToDay, type DayTotals } from "../support/flow_oracle.ts";
import { expectedTotals, totalCount } from "../support/live_traffic.ts";
import {
  ensureTopic,
  indexedDocuments,
  integrationTest,
  KAFKA,
  kafkaClusterId,
  readTopic,
  recordPartOfId,
  replaySyntheticTraffic,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

/** Two collectors' aggregates: per 5-tuple, and per host pair and protocol. */
const COLLECTORS = [
  "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start, timestamp_end",
  "src_host, dst_host, proto, timestamp_start, timestamp_end",
];

integrationTest(
  "two topics: per-topic, per-day totals equal pmacct's, and each topic's poison goes to its own DLQ",
  async () => {
    const prefix = uniqueName("topics");
    const topics = COLLECTORS.map((_, i) => `${prefix}.collector${i + 1}`);
    const expected: Record<string, DayTotals> = {};
    const producer = new Kafka({ clientId: "topics-poison", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    try {
      for (const [i, topic] of topics.entries()) {
        await ensureTopic(topic);
        await replaySyntheticTraffic(topic, COLLECTORS[i]);
        expected[topic] = await expectedTotals(topic, prefix);
        await producer.send({ topic, messages: [{ value: `{"poison": "of ${topic}"` }] });
      }
    } finally {
      await producer.disconnect();
    }
    const total = topics.reduce((sum, topic) => sum + totalCount(expected[topic]), 0);
    assert.ok(totalCount(expected[topics[0]]) > 0 && totalCount(expected[topics[1]]) > 0, "pmacct produced records");

    const bridge = await startBridge({
      KAFKA_TOPIC: topics.join(","),
      KAFKA_CONSUMER_GROUP_ID: prefix,
      ELASTIC_INDEX_PREFIX: prefix,
      ELASTIC_MAX_TIME_TO_SEND: "1",
    });
    try {
      await waitReady(bridge);
      await waitFor(
        `${total} documents (log: ${bridge.logPath})`,
        async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= total,
        120_000,
      );
      const indexed: Record<string, DayTotals> = Object.fromEntries(topics.map((topic) => [topic, {}]));
      const cluster = await kafkaClusterId();
      for (const document of await indexedDocuments(prefix, true)) {
        const [topic, partition, offset, position] = recordPartOfId(document.id, cluster).split(":");
        assert.ok(topics.includes(topic), `id ${document.id} names a source topic`);
        assert.ok([partition, offset, position].every((part) => /^\d+$/.test(part)), document.id);
        addToDay(indexed[topic], document.index, document.source!);
      }
      for (const topic of topics) assert.deepEqual(indexed[topic], expected[topic], `${topic}: per-day totals`);

      for (const topic of topics) {
        const letters = await readTopic(`${topic}-dlq`);
        assert.equal(letters.length, 1, `${topic}-dlq holds its topic's poison message`);
        assert.equal(letters[0].headers["dlq.source.topic"], topic);
        assert.equal(letters[0].payload, `{"poison": "of ${topic}"`);
      }
      const lag = await (await fetch(`http://127.0.0.1:${bridge.port}/metrics`)).text();
      for (const topic of topics) {
        assert.match(lag, new RegExp(`pmacct_bridge_kafka_committed_offset\\{topic="${topic.replaceAll(".", "\\.")}"`));
      }
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
    }
  },
);
