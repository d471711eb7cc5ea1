/**
 * `--backfill PERIOD` on the stack: a day's index deleted under a running bridge is rebuilt
 * from Kafka with the same documents, while the live group's committed offsets stay as they
 * were; and where Kafka no longer holds the start of the period, the backfill says from when it
 * can rebuild and exits 1, unless `--partial`.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { assertIndexedTotals, produceLiveTraffic, totalCount } from "../support/live_traffic.ts";
import {
  elastic,
  integrationTest,
  KAFKA,
  MAIN_ELASTIC,
  runMain,
  settingsOf,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const kafka = new Kafka({ clientId: "test-backfill", brokers: [KAFKA], logLevel: logLevel.NOTHING });

async function committedOffsets(groupId: string, topic: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return partitions.sort((a, b) => a.partition - b.partition).map(({ offset }) => offset);
  } finally {
    await admin.disconnect();
  }
}

async function groups(): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listGroups()).groups.map(({ groupId }) => groupId);
  } finally {
    await admin.disconnect();
  }
}

integrationTest(
  "--backfill rebuilds a deleted day beside the running bridge; the live group's offsets stay",
  async () => {
    const topic = uniqueName("backfill");
    const expected = await produceLiveTraffic(topic, topic);
    const bridge = await startBridge(settingsOf(topic));
    try {
      await waitReady(bridge);
      await assertIndexedTotals(bridge, topic, expected);
      // The bridge commits what it indexed: wait until its offsets stop moving at the topic's end.
      const ends = await (async () => {
        const admin = kafka.admin();
        await admin.connect();
        try {
          return (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition).map(({ high }) =>
            high
          );
        } finally {
          await admin.disconnect();
        }
      })();
      await waitFor(
        "the live group to commit every offset",
        async () => JSON.stringify(await committedOffsets(topic, topic)) === JSON.stringify(ends),
      );
      const before = await MAIN_ELASTIC.sums(topic);
      const [day, { count }] = Object.entries(before).sort(([, a], [, b]) => b.count - a.count)[0];
      await elastic.indices.delete({ index: day });
      assert.equal((await MAIN_ELASTIC.sums(topic))[day], undefined, "the day is gone");

      const backfill = await runMain(["--backfill", day.slice(topic.length + 1)], settingsOf(topic));
      assert.equal(backfill.code, 0, backfill.stderr);
      const summary = backfill.stderr.split("\n").find((line) => line.includes("done"));
      assert.match(
        summary ?? backfill.stderr,
        new RegExp(`backfill of ${day.slice(topic.length + 1)} done .*indexed=${count} `),
      );
      assert.match(summary!, new RegExp(`out_of_period=${totalCount(expected) - count}`));
      assert.match(summary!, / dead_lettered=0 /);
      assert.match(backfill.stderr, /backfill \d{4}-\d{2}-\d{2}: 100\.0% of offsets/, "progress lines off a terminal");

      assert.deepEqual(await MAIN_ELASTIC.sums(topic), before, "every day as it was: documents, bytes, packets");
      assert.deepEqual(await committedOffsets(topic, topic), ends, "the live group's offsets did not move");
      assert.deepEqual(
        (await groups()).filter((group) => group.startsWith(`${topic}.backfill.`)),
        [],
        "its group is gone",
      );
    } finally {
      await bridge.stop("SIGKILL");
    }
  },
);

integrationTest(
  "a period whose start Kafka deleted: exit 1 naming from when it can rebuild; --partial rebuilds the rest",
  async () => {
    const topic = uniqueName("backfill-truncated");
    const admin = kafka.admin();
    await admin.connect();
    const producer = kafka.producer();
    await producer.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      // A whole second, so that the records' milliseconds never reach the next day.
      const now = Math.floor(Date.now() / 1000) * 1000;
      const record = (i: number) => ({
        event_type: "purge",
        ip_src: "192.0.2.1",
        ip_dst: "198.51.100.2",
        timestamp_start: new Date(now + i).toISOString().replace("T", " ").slice(0, 23),
        bytes: 100 + i,
        packets: 1,
      });
      await producer.send({
        topic,
        messages: Array.from({ length: 10 }, (_, i) => ({ value: JSON.stringify(record(i)) })),
      });
      // The admin learns the new topic's leader first: else it finds no broker to delete on.
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: "4" }] });
      const today = new Date(now).toISOString().slice(0, 10);
      const env = { ...settingsOf(topic), FLOW_TIME_MAX_AGE: "7d" };

      const refused = await runMain(["--backfill", today], env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(
          `Kafka no longer holds the start of ${today}: ${topic}:0 holds records only from \\S+Z \\(offset 4\\); run again with --partial`,
        ),
      );
      assert.deepEqual(await MAIN_ELASTIC.sums(topic), {}, "nothing indexed");

      const partial = await runMain(["--backfill", today, "--partial"], env);
      assert.equal(partial.code, 0, partial.stderr);
      assert.match(partial.stderr, /indexed=6 /);
      assert.deepEqual(await MAIN_ELASTIC.sums(topic), {
        [`${topic}-${today}`]: { count: 6, bytes: [4, 5, 6, 7, 8, 9].reduce((sum, i) => sum + 100 + i, 0), packets: 6 },
      });
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  },
);

integrationTest("only the Kafka times that can carry the period's flows are read, on every partition", async () => {
  const topic = uniqueName("backfill-window");
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer();
  await producer.connect();
  const day = "2026-11-10";
  const startMs = Date.parse(`${day}T00:00:00Z`);
  const endMs = startMs + 86_400_000;
  // Published at `kafkaMs`, a flow of `flowMs`.
  const message = (kafkaMs: number, flowMs: number, bytes: number) => ({
    timestamp: String(kafkaMs),
    value: JSON.stringify({
      event_type: "purge",
      ip_src: "192.0.2.1",
      timestamp_start: new Date(flowMs).toISOString().replace("T", " ").slice(0, 19),
      bytes,
      packets: 1,
    }),
  });
  const HOUR = 3_600_000;
  try {
    // Its records are weeks old: the stack's broker keeps a week unless the topic says otherwise.
    await admin.createTopics({
      topics: [{ topic, numPartitions: 2, configEntries: [{ name: "retention.ms", value: "-1" }] }],
      waitForLeaders: true,
    });
    for (const partition of [0, 1]) {
      await producer.send({
        topic,
        messages: [
          // Published before the period's start less FLOW_TIME_MAX_AHEAD: not read.
          message(startMs - 2 * HOUR, startMs + HOUR, 1),
          message(startMs - 2 * HOUR, startMs + HOUR, 1),
          // Of the period.
          message(startMs + HOUR, startMs + HOUR, 10),
          message(endMs + 6 * 24 * HOUR, endMs - HOUR, 100),
          // Published after its end plus FLOW_TIME_MAX_AGE (7 days): not read.
          message(endMs + 8 * 24 * HOUR, endMs - HOUR, 1000),
        ].map((entry) => ({ ...entry, partition })),
      });
    }
    const env = { ...settingsOf(topic), FLOW_TIME_MAX_AGE: "7d" };
    const backfill = await runMain(["--backfill", day], env);
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.match(backfill.stderr, new RegExp(`offsets="${topic}:0:2-4 ${topic}:1:2-4"`));
    assert.match(backfill.stderr, /records_read=4 indexed=4 dead_lettered=0 out_of_period=0/);
    assert.deepEqual(await MAIN_ELASTIC.sums(topic), { [`${topic}-${day}`]: { count: 4, bytes: 220, packets: 4 } });
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
});
