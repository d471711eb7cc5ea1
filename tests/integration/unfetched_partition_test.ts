/**
 * A partition the consumer keeps assigned but gets no batch of, on the real Kafka and
 * Elasticsearch: kafkajs keeps such a partition (kafkajs #1456); here a proxy between the bridge
 * and the broker takes it out of every Fetch answer, so kafkajs fetches it and never hands a batch
 * of it over. The bridge reads the partition's end from the broker, so its lag gauge grows; after
 * a minute it names the partition on `/readyz` and in `pmacct_bridge_kafka_partitions_stalled`,
 * reads it again from its position (counted), and once batches come again indexes every record
 * once.
 */
import assert from "node:assert/strict";
import {
  committedOffset,
  indexedSums,
  integrationTest,
  KAFKA,
  readiness,
  recordOfNow,
  settingsOf,
  startBridge,
  waitFor,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";
import { startKafkaProxy } from "../support/kafka_proxy.ts";
import { totalCount } from "../support/live_traffic.ts";

const PER_PARTITION = 500;

integrationTest(
  "a partition kafkajs keeps assigned but gets no batch of is seen by its lag, named, healed, and read once",
  () =>
    withScratchTopic("unfetched", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
      const produce = async (round: number) => {
        for (const partition of [0, 1]) {
          await producer.send({
            topic,
            acks: -1,
            messages: Array.from({ length: PER_PARTITION }, (_, n) => ({
              partition,
              value: recordOfNow(round * 10_000 + partition * 1000 + n),
            })),
          });
        }
      };
      const bothCommittedTo = async (offset: number) =>
        (await committedOffset(admin, topic, topic, 0)) === offset &&
        (await committedOffset(admin, topic, topic, 1)) === offset;
      const proxy = startKafkaProxy(KAFKA);
      const bridge = await startBridge({
        ...settingsOf(topic),
        KAFKA_BOOTSTRAP_SERVERS: proxy.address,
        KAFKA_AUTO_OFFSET_RESET: "earliest",
      });
      try {
        await produce(1);
        await waitReady(bridge);
        await waitFor(
          `the first records indexed and committed (log: ${bridge.logPath})`,
          async () =>
            (totalCount(await indexedSums(topic)) === 2 * PER_PARTITION && await bothCommittedTo(PER_PARTITION)) ||
            undefined,
        );

        // From now on the broker's answers to Fetch lose partition 1.
        proxy.hidden.add(`${topic}:1`);
        await produce(2);
        const lagOfOne = `pmacct_bridge_kafka_consumer_lag{topic="${topic}",partition="1"}`;
        await waitFor(
          `partition 1's lag read from the broker, not from a batch (log: ${bridge.logPath})`,
          async () => (await bridge.metric(lagOfOne)) === PER_PARTITION || undefined,
          60_000,
        );
        const named = await waitFor(
          `/readyz naming the partition not fetched (log: ${bridge.logPath})`,
          async () => {
            const { status, problems } = await readiness(bridge);
            return status === 503 && problems.partition_fetch;
          },
          150_000,
          500,
        );
        assert.match(
          named,
          new RegExp(
            `${topic}:1 is assigned but not fetched \\(${PER_PARTITION} records from offset ${PER_PARTITION},`,
          ),
        );
        assert.equal(await bridge.metric("pmacct_bridge_kafka_partitions_stalled"), 1);
        assert.ok(await bridge.metric('pmacct_bridge_kafka_fetch_heals_total{action="seek"}') >= 1);
        assert.ok(proxy.answersCut > 0, "the proxy took partition 1 out of Fetch answers");
        await waitFor(
          "partition 0 read on meanwhile",
          async () => (await committedOffset(admin, topic, topic, 0)) === 2 * PER_PARTITION || undefined,
          30_000,
        );

        proxy.hidden.clear();
        await waitFor(
          `every record indexed once and both partitions committed to their ends (log: ${bridge.logPath})`,
          async () =>
            (totalCount(await indexedSums(topic)) === 4 * PER_PARTITION && await bothCommittedTo(2 * PER_PARTITION)) ||
            undefined,
          200_000,
          1000,
        );
        // The gauges follow the commits at the bridge's next tick (every second).
        await waitFor(
          `/readyz no longer naming it, and partition 1's lag gone (log: ${bridge.logPath})`,
          async () =>
            ((await readiness(bridge)).problems.partition_fetch === undefined &&
              (await bridge.metric(lagOfOne)) === 0) || undefined,
          30_000,
        );
        assert.equal(await bridge.metric("pmacct_bridge_kafka_partitions_stalled"), 0);
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
        assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        await bridge.stop("SIGKILL");
        await proxy.close();
      }
    }),
);
