/**
 * Same-generation redelivery with real kafkajs, the real broker and the real Elasticsearch: the
 * bridge's own consumer (`KafkaSource`), whose `eachBatch` throws after ingesting (here kafkajs'
 * `resolveOffset` throws once, as a heartbeat error inside the wait for room would), so kafkajs
 * fetches the same messages again without a rebalance. The batch fetched again is not taken (it
 * does not continue the partition's reading), the partition is read again from where the bridge
 * got to, every record of the `kafka_multi_values` messages is indexed once and counted once, and
 * the group's committed offset reaches the end only when all are indexed.
 */
import assert from "node:assert/strict";
import { type Consumer, Kafka, logLevel } from "kafkajs";
import { parseConfig } from "../../lib/config/mod.ts";
import { type BulkItemResult, BulkWriter } from "../../lib/elastic/bulk_writer.ts";
import { KAFKA_CHECKS } from "../../lib/kafka/client.ts";
import { kafkaGroupAdmin, kafkaGroupConsumer, KafkaSource } from "../../lib/kafka/consumer.ts";
import { Health } from "../../lib/runtime/health.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { type PendingDocument, Pipeline } from "../../lib/delivery/pipeline.ts";
import { allIds, committedOffset, ELASTIC, integrationTest, KAFKA, uniqueName, waitFor } from "../support/stack.ts";

const MESSAGES = 40;
const RECORDS_PER_MESSAGE = 3;

/** `_bulk` against the real Elasticsearch, creating each daily index first (auto-creation is off there). */
function elasticBulk(): (body: Uint8Array) => Promise<BulkItemResult[]> {
  const created = new Set<string>();
  return async (body) => {
    const text = new TextDecoder().decode(body);
    const lines = text.split("\n").filter((line, i) => i % 2 === 0 && line !== "");
    for (const index of new Set(lines.map((line) => JSON.parse(line).index._index as string))) {
      if (created.has(index)) continue;
      await (await fetch(`${ELASTIC}/${index}`, { method: "PUT" })).body?.cancel();
      created.add(index);
    }
    const response = await fetch(`${ELASTIC}/_bulk`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: text,
    });
    const { items } = await response.json();
    return items.map((item: { index: BulkItemResult }) => ({ status: item.index.status, error: item.index.error }));
  };
}

integrationTest(
  "a batch kafkajs delivers again after eachBatch threw is indexed once and committed right",
  async () => {
    const name = uniqueName("redeliver");
    const kafka = new Kafka({ clientId: "redelivery-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: name, numPartitions: 1 }] });
    const stamp = new Date().toISOString().slice(0, 19).replace("T", " ");
    await producer.send({
      topic: name,
      messages: Array.from({ length: MESSAGES }, (_, offset) => ({
        value: Array.from(
          { length: RECORDS_PER_MESSAGE },
          (_, i) => JSON.stringify({ bytes: offset * 10 + i, stamp_inserted: stamp }),
        ).join("\n"),
      })),
    });

    const log = new Logger("error", () => {});
    const metrics = createMetrics();
    const config = parseConfig({
      KAFKA_BOOTSTRAP_SERVERS: KAFKA,
      KAFKA_TOPIC: name,
      KAFKA_CONSUMER_GROUP_ID: name,
      KAFKA_AUTO_OFFSET_RESET: "earliest",
    }, "UTC").kafka;
    const batchesFrom: string[] = [];
    const seeks: string[] = [];
    /** The bridge's kafkajs consumer, whose first `resolveOffset` throws inside `eachBatch`. */
    const failingOnce = (consumer: Consumer): Consumer => {
      let failed = false;
      const seek = consumer.seek.bind(consumer);
      consumer.seek = (where) => {
        seeks.push(where.offset);
        seek(where);
      };
      const run = consumer.run.bind(consumer);
      consumer.run = (options) =>
        run({
          ...options,
          eachBatch: (payload) => {
            batchesFrom.push(payload.batch.messages[0].offset);
            return options!.eachBatch!({
              ...payload,
              resolveOffset: (offset) => {
                if (!failed) {
                  failed = true;
                  throw new Error("eachBatch fails after ingesting");
                }
                payload.resolveOffset(offset);
              },
            });
          },
        });
      return consumer;
    };
    const bridge: { source?: KafkaSource } = {};
    const pipeline = new Pipeline({
      indexPrefix: name,
      timezone: "UTC",
      timestampSource: "flow",
      maxBatch: 7,
      maxWaitMs: 200,
      maxBuffered: 10_000,
      concurrency: 4,
    }, {
      writer: new BulkWriter<PendingDocument>(elasticBulk(), log, metrics),
      deadLetters: { send: () => Promise.reject(new Error("no record here is a dead letter")) },
      commit: (offsets) => bridge.source!.commitOffsets(offsets),
      elasticHealth: () => {},
      log,
      metrics,
    });
    const source = bridge.source = new KafkaSource({
      config,
      newConsumer: () => failingOnce(kafkaGroupConsumer(kafka, config) as Consumer),
      admin: kafkaGroupAdmin(kafka, name),
      pipeline,
      log,
      metrics,
      health: new Health(log, { ...KAFKA_CHECKS }),
    });
    try {
      pipeline.start(50);
      source.start();
      await waitFor(
        `the group's offset at ${MESSAGES}`,
        async () => (await committedOffset(admin, name, name)) === MESSAGES,
      );
      assert.equal(pipeline.generation, 1, "one generation: the batch came again without a rebalance");
      await waitFor("kafkajs to fetch the failed batch again", () => Promise.resolve(batchesFrom.length >= 2));
      assert.deepEqual(batchesFrom.slice(0, 2), ["0", "0"], "kafkajs fetched the failed batch again");
      await waitFor(
        "the batch fetched again to be sent back to the run's end",
        () => Promise.resolve(seeks.length > 0),
      );
      assert.ok(seeks.length > 0 && Number(seeks[0]) > 0, `read again from where the bridge got to: ${seeks}`);
      const total = MESSAGES * RECORDS_PER_MESSAGE;
      assert.equal((await metrics.samples.get()).values[0].value, total, "each record counted once");
      await waitFor(`${total} documents`, async () => (await allIds(name)).length === total || undefined);
      assert.equal(new Set(await allIds(name)).size, total, "each record indexed under its own id");
      assert.equal(
        (await metrics.indexed.get()).values.reduce((sum, { value }) => sum + value, 0),
        total,
        "each sent once",
      );
    } finally {
      await pipeline.drain(5000);
      await source.stop();
      await admin.deleteTopics({ topics: [name] }).catch(() => {});
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    }
  },
);
