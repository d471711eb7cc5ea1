/**
 * The lag and committed-offset gauges cover every assigned partition, including one with nothing
 * new to fetch since the last run (the bridge never sees it in a fetch).
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { fixtureRecordFiles } from "../support/fixtures.ts";
import { type BridgeProcess, groupLag, KAFKA, startBridge, uniqueName, waitFor, waitReady } from "../support/stack.ts";

/** The value of one series, or `undefined` when the bridge does not export it at all. */
async function seriesValue(bridge: BridgeProcess, name: string, partition: number): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${bridge.port}/metrics`)).text();
  const line = text.split("\n").find((candidate) =>
    candidate.startsWith(`${name}{`) && candidate.includes(`partition="${partition}"`)
  );
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

Deno.test("after a restart, a partition with nothing new still shows its committed offset and zero lag", async () => {
  const topic = uniqueName("gauges");
  const [{ lines }] = fixtureRecordFiles();
  const producer = new Kafka({ clientId: "gauges", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  const send = (partition: number, count: number) =>
    producer.send({ topic, messages: lines.slice(0, count).map((value) => ({ value, partition })) });
  const env = {
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    ELASTIC_MAX_TIME_TO_SEND: "1",
  };
  try {
    await send(0, 10);
    await send(1, 7);
    const first = await startBridge(env);
    try {
      await waitReady(first);
      await waitFor("the first run to commit everything", async () => (await groupLag(topic, topic)) === 0, 60_000);
    } finally {
      assert.equal((await first.stop("SIGTERM")).code, 0);
    }
    await send(0, 5);

    const second = await startBridge(env);
    try {
      await waitReady(second);
      await waitFor("the second run to commit everything", async () => (await groupLag(topic, topic)) === 0, 60_000);
      const committed = "pmacct_bridge_kafka_committed_offset";
      await waitFor("partition 0's new commit", async () => (await seriesValue(second, committed, 0)) === 15, 10_000);
      assert.equal(await seriesValue(second, committed, 1), 7, "the untouched partition's committed offset");
      const lag = "pmacct_bridge_kafka_consumer_lag";
      await waitFor(
        "lag gauges of both partitions",
        async () => (await seriesValue(second, lag, 0)) === 0 && (await seriesValue(second, lag, 1)) === 0,
        10_000,
      );
    } finally {
      await second.stop("SIGKILL");
    }
  } finally {
    await producer.disconnect();
  }
});
