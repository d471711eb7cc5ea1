/**
 * A generation's start: the join's read of the group's commit when it cannot be made, and a
 * partition Kafka moved (offset out of range) with nothing new to read; the run and kafkajs agree
 * on a batch resolved past trailing markers; a partition added to the topic that the admin's
 * metadata does not know yet.
 */
import assert from "node:assert/strict";
import { bridgeOnFakes, counted, recordAt, settle, TOPIC, until } from "../support/bridge_on_fakes.ts";
import type { GroupAdmin } from "../../lib/kafka/consumer.ts";

Deno.test("a partition Kafka moved to its end (offset out of range) with nothing new is not called stalled, nor sought back to the offset Kafka said is gone", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 100]]),
    autoOffsetReset: "latest",
    stall: { afterMs: 1000, endsEveryMs: 0, rebuildEveryMs: 0 },
    now: () => clock,
  });
  // The group's commit is 7; retention deleted everything before 100 (the end): the partition is quiet.
  await bridge.joined(7);
  // kafkajs fetches from 7: OFFSET_OUT_OF_RANGE. It logs it (the bridge's hook) and moves the
  // partition to the end, 100, where there is nothing to fetch.
  bridge.pipeline.offsetOutOfRange(TOPIC, 0);
  assert.equal(bridge.pipeline.position(TOPIC, 0), undefined, "(the run waits for its next batch)");
  clock = 1500;
  await settle(100);
  const seeks = bridge.latest().calls.filter((call) => call.startsWith("seek"));
  const said = bridge.health.report().problems.partition_fetch;
  clock = 4000;
  await settle(100);
  const rebuilt = bridge.consumers.length > 1;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  // kafkajs would fetch 7 again: OFFSET_OUT_OF_RANGE again, another ERROR and deleted_unread count,
  // and kafkajs' setDefaultOffset commits -1 for the group.
  assert.deepEqual(seeks, [], `sought back into deleted offsets; /readyz: ${said}; consumer rebuilt: ${rebuilt}`);
  assert.equal(said, undefined);
  assert.ok(!rebuilt, "the consumer was rebuilt (a rebalance) for a partition with nothing to read");
});

Deno.test("while the join's read of the group's commit fails, /readyz says that no partition is read", async () => {
  let clock = 0;
  let reads = 0;
  const bridge = bridgeOnFakes({
    // A bootstrap broker that is down (the cause of many rejoins) keeps the read from being made.
    admin: {
      partitionOffsets: () => {
        reads++;
        return Promise.reject(new Error("Connection error: connect ECONNREFUSED 10.0.0.1:9092"));
      },
      describeGroup: () => Promise.resolve({ protocol: "range", clients: [] }),
    },
    stall: { afterMs: 1000, endsEveryMs: 0, rebuildEveryMs: 0 },
    now: () => clock,
  });
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running === true);
  bridge.latest().join(TOPIC, [0]);
  await until("two reads of the group's commit", () => reads >= 2);
  assert.ok(bridge.health.ok("partition_fetch"), "not before the bound");
  clock = 600_000;
  await until("/readyz to say so", () => !bridge.health.ok("partition_fetch"));
  assert.match(
    bridge.health.report().problems.partition_fetch,
    /^the group's committed offsets cannot be read \(Connection error: connect ECONNREFUSED 10\.0\.0\.1:9092\) for 600 s: no assigned partition is read until they are$/,
  );
  assert.equal(bridge.pipeline.position(TOPIC, 0), undefined, "no partition's reading started");
  await bridge.pipeline.drain(100);
  await bridge.source.stop();
});

Deno.test("a batch whose every message is taken is resolved past trailing markers: the run and kafkajs agree", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 10]]) });
  await bridge.joined(0);
  await bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt, lastOffset: 5 })!.deliver();
  assert.equal(bridge.pipeline.position(TOPIC, 0), 6);
  assert.equal(bridge.latest().positionOf(TOPIC, 0), 6);
  await bridge.indexEverything();
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  assert.equal(await counted(bridge.metrics.batchesRefused, "not_contiguous"), 0);
});

Deno.test("a partition added to the topic after the admin learned it starts at the group's commit, read anew, not at 0", async () => {
  const ends = new Map([[0, 100], [1, 80]]);
  let knows = [0]; // kafkajs' admin keeps a topic's partitions up to 5 minutes
  let closed = 0;
  const admin: GroupAdmin = {
    partitionOffsets: (topics) =>
      Promise.resolve({
        ends: topics.map(() => knows.map((partition) => ({ partition, high: String(ends.get(partition)), low: "0" }))),
        committed: topics.map((topic) => ({
          topic,
          partitions: knows.map((partition) => ({
            partition,
            offset: String(bridge.groupCommits.get(partition) ?? -1),
          })),
        })),
      }),
    describeGroup: () => Promise.resolve({ protocol: "range", clients: [] }),
    close: () => {
      closed++;
      knows = [0, 1];
      return Promise.resolve();
    },
  };
  const bridge = bridgeOnFakes({ ends, autoOffsetReset: "latest", admin });
  bridge.groupCommits.set(0, 40);
  bridge.groupCommits.set(1, 50); // another member read the new partition
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC, [0, 1]);
  await until("the generation's start", () => bridge.pipeline.position(TOPIC, 1) !== undefined);
  const started = bridge.pipeline.position(TOPIC, 1);
  const commit = bridge.groupCommits.get(1);
  const madeAnew = closed;
  await bridge.source.stop();
  assert.equal(started, 50, "read from the group's commit");
  assert.equal(commit, 50, "the commit did not go back");
  assert.equal(madeAnew, 1, "the admin was made anew once");
  assert.ok(bridge.lines.some((line) => /does not know partitions pmacct:1 yet/.test(line)), bridge.lines.join("\n"));
});
