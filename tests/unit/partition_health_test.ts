/**
 * What the consumer sees of its partitions beyond the records: one whose commit a record holds
 * is read no further and named, one the group lost its commit for is said and counted, one kafkajs
 * keeps assigned but never fetches is named and healed. On the bridge's real consumer and
 * pipeline, with a fake kafkajs (tests/support/bridge_on_fakes.ts).
 */
import assert from "node:assert/strict";
import { bridgeOnFakes, recordAt, settle, TOPIC, until } from "../support/bridge_on_fakes.ts";

const encoder = new TextEncoder();

/** The value of a series of a counter, by one label. */
async function counted(
  metric: { get(): Promise<{ values: Array<{ labels: object; value: number }> }> },
  label: string,
) {
  const { values } = await metric.get();
  return values.find(({ labels }) => Object.values(labels).includes(label))?.value ?? 0;
}

Deno.test("a partition whose commit one record holds is read no further past a bound, named on /readyz, and read again once it moves", async () => {
  let store = () => {};
  const refused = new Promise<void>((resolve) => store = resolve);
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 1000]]),
    pipeline: { maxBuffered: 100, maxBatch: 10, maxWaitMs: 5, maxUncommitted: 30 },
    // The first letter waits (a topic that refuses it), the others are stored.
    sendLetter: (letter) => letter.offset === "0" ? refused : Promise.resolve(),
  });
  await bridge.joined(0);
  const value = (offset: number) => offset === 0 ? encoder.encode("{not json") : recordAt(offset);
  for (let round = 0; round < 10; round++) {
    const batch = bridge.latest().fetch(TOPIC, 0, 10, { value });
    const handedOver = batch?.deliver();
    await bridge.indexEverything();
    await handedOver;
  }
  const calls = bridge.latest().calls;
  assert.ok(calls.includes(`pause ${TOPIC}:0`), "the partition is paused");
  const taken = calls.filter((call) => call.startsWith("resolve")).at(-1);
  assert.equal(taken, `resolve ${TOPIC}:0 29`, "30 messages tracked at most");
  await until("/readyz to name it", () => bridge.health.report().problems.partition_commit !== undefined);
  assert.equal(
    bridge.health.report().problems.partition_commit,
    "pmacct:0 is read no further: offset 0 holds its commit " +
      "(its dead letter (invalid_json) is not written: the topic refuses it (test))",
  );
  assert.equal((await bridge.metrics.heldPartitions.get()).values[0].value, 1);
  assert.equal(bridge.groupCommits.get(0), 0, "nothing committed past the held record");
  store();
  await bridge.indexEverything();
  await until("the partition to be read again", () => calls.some((call) => call.startsWith(`resume ${TOPIC}:0`)));
  await until("/readyz to pass", () => bridge.health.ok("partition_commit"));
  await until("the commit to move", () => bridge.groupCommits.get(0) === 30);
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
});

Deno.test("a partition the group lost its commit for is said at WARN and counted; a new group's only at INFO", async () => {
  for (const reset of ["earliest", "latest"] as const) {
    const bridge = bridgeOnFakes({ ends: new Map([[0, 100], [1, 100]]), autoOffsetReset: reset });
    bridge.groupCommits.set(0, 40); // partition 1 has none, though the group committed on the topic
    bridge.source.start();
    await until("the consumer to run", () => bridge.latest()?.running);
    bridge.latest().join(TOPIC, [0, 1]);
    await until("the generation's start", () => bridge.pipeline.position(TOPIC, 1) !== undefined);
    assert.equal(bridge.pipeline.position(TOPIC, 1), reset === "earliest" ? 0 : 100);
    const said = bridge.lines.filter((line) =>
      line.includes("no committed offset for a partition it had committed on")
    );
    assert.equal(said.length, 1, bridge.lines.join("\n"));
    assert.match(said[0], /partition=pmacct:1/);
    assert.match(
      said[0],
      reset === "earliest" ? /reads it again from the first offset/ : /records before it are not read/,
    );
    const reason = reset === "earliest" ? "commit_missing_reread" : "commit_missing_skipped";
    assert.equal(await counted(bridge.metrics.offsetResets, reason), 1, reason);
    await bridge.source.stop();
  }
  const fresh = bridgeOnFakes({ ends: new Map([[0, 100]]), autoOffsetReset: "latest" });
  fresh.source.start();
  await until("the consumer to run", () => fresh.latest()?.running);
  fresh.latest().join(TOPIC);
  await until("the generation's start", () => fresh.pipeline.position(TOPIC, 0) !== undefined);
  assert.ok(fresh.lines.some((line) => /INFO.*no committed offset for a partition: a new group/.test(line)));
  assert.equal(await counted(fresh.metrics.offsetResets, "commit_missing_skipped"), 0);
  await fresh.source.stop();
});

Deno.test("a partition the group lost its commit for is counted when this process had committed on it", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 4]]) });
  await bridge.joined(0);
  const handedOver = bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!.deliver();
  await bridge.indexEverything();
  await handedOver;
  await until("the commit", () => bridge.groupCommits.get(0) === 4);
  bridge.groupCommits.delete(0); // the topic was deleted and made again: Kafka dropped its offsets
  bridge.latest().join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 0);
  assert.equal(await counted(bridge.metrics.offsetResets, "commit_missing_reread"), 1);
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
});

Deno.test("a partition kafkajs keeps assigned but does not fetch is named, read again from the bridge's position, then given a new consumer", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 100]]),
    stall: { afterMs: 1000, endsEveryMs: 0, rebuildEveryMs: 0 },
    now: () => clock,
  });
  bridge.groupCommits.set(0, 7);
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC);
  await until("the generation's start", () => bridge.pipeline.position(TOPIC, 0) === 7);
  await settle(50);
  assert.ok(bridge.health.ok("partition_fetch"), "not stalled before its time");
  clock = 1500;
  await until("/readyz to name it", () => !bridge.health.ok("partition_fetch"));
  assert.match(
    bridge.health.report().problems.partition_fetch,
    /^assigned partitions not fetched: pmacct:0 \(93 records from offset 7, not fetched for 2 s\); healing$/,
  );
  assert.ok(bridge.latest().calls.includes(`seek ${TOPIC}:0 7`), "read again from the bridge's position");
  assert.equal(await counted(bridge.metrics.fetchHeals, "seek"), 1);
  assert.equal((await bridge.metrics.stalledPartitions.get()).values[0].value, 1);
  clock = 4000;
  await until("a new consumer", () => bridge.consumers.length === 2);
  assert.equal(await counted(bridge.metrics.fetchHeals, "rebuild"), 1);
  await until("the new consumer to run", () => bridge.latest().running);
  bridge.latest().join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 7);
  await bridge.latest().fetch(TOPIC, 0, 2, { value: recordAt })!.deliver();
  await until("/readyz to pass", () => bridge.health.ok("partition_fetch"));
  await bridge.indexEverything();
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
});
