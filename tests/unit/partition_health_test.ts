/**
 * What the consumer sees of its partitions beyond the records: one whose commit a record holds
 * is read no further and named, one the group lost its commit for is said and counted, one kafkajs
 * keeps assigned but never fetches is named and healed. On the bridge's real consumer and
 * pipeline, with a fake kafkajs (tests/support/bridge_on_fakes.ts).
 */
import assert from "node:assert/strict";
import { bridgeOnFakes, counted, recordAt, settle, TOPIC, until } from "../support/bridge_on_fakes.ts";
import type { GroupAdmin } from "../../lib/kafka/consumer.ts";
import createRetry from "kafkajs/src/retry/index.js";
import { createErrorFromCode } from "kafkajs/src/protocol/error.js";

const encoder = new TextEncoder();

/** Holds partition 0: offset 0 is an undecodable line whose dead letter the topic refuses, until `store`. */
async function holdPartition(
  options: { now?: () => number; stall?: { afterMs: number; endsEveryMs: number; rebuildEveryMs: number } } = {},
) {
  let store = () => {};
  const refused = new Promise<void>((resolve) => store = resolve);
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 1000]]),
    pipeline: { maxBuffered: 100, maxBatch: 10, maxWaitMs: 5, maxUncommitted: 30 },
    sendLetter: (letter) => letter.offset === "0" ? refused : Promise.resolve(),
    now: options.now,
    stall: options.stall,
  });
  await bridge.joined(0);
  const value = (offset: number) => offset === 0 ? encoder.encode("{not json") : recordAt(offset);
  for (let round = 0; round < 10; round++) {
    const batch = bridge.latest().fetch(TOPIC, 0, 10, { value });
    const handedOver = batch?.deliver();
    await bridge.indexEverything();
    await handedOver;
  }
  await until("/readyz to name the held partition", () => !bridge.health.ok("partition_commit"));
  return { bridge, store, value };
}

Deno.test("a partition whose commit one record holds is read no further past a bound, named on /readyz, and read again once it moves", async () => {
  const { bridge, store } = await holdPartition();
  const calls = bridge.latest().calls;
  assert.ok(calls.includes(`pause ${TOPIC}:0`), "the partition is paused");
  const taken = calls.filter((call) => call.startsWith("resolve")).at(-1);
  assert.equal(taken, `resolve ${TOPIC}:0 29`, "30 messages tracked at most");
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
    const said = bridge.lines.filter((line) => line.includes("no committed offset for a partition it had read"));
    assert.equal(said.length, 1, bridge.lines.join("\n"));
    assert.match(said[0], /partition=pmacct:1/);
    assert.match(
      said[0],
      reset === "earliest" ? /reads it from the first offset/ : /records before it are not read/,
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

Deno.test("a start without a commit is committed at once, so that whoever reads the partition next goes on from it", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 100]]), autoOffsetReset: "latest" });
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC);
  await until("the start committed, no record read", () => bridge.groupCommits.get(0) === 100);
  await bridge.source.stop();
});

/** Reading marks as Elasticsearch's `_create` keeps them, in `marked`. */
const marksOf = (marked: Set<string>) => () => ({
  firstReading: (topic: string, partition: number) => {
    const first = !marked.has(`${topic}:${partition}`);
    marked.add(`${topic}:${partition}`);
    return Promise.resolve(first);
  },
});

Deno.test("a group whose commits expired while no copy ran is told from a new group by its reading marks", async () => {
  const readingMarks = marksOf(new Set());
  const said = async (bridge: ReturnType<typeof bridgeOnFakes>, expected: RegExp) => {
    bridge.source.start();
    await until("the consumer to run", () => bridge.latest()?.running);
    bridge.latest().join(TOPIC);
    await until("the start said", () => bridge.lines.some((line) => /no committed offset/.test(line)));
    assert.match(bridge.lines.find((line) => /no committed offset/.test(line))!, expected);
    await bridge.source.stop();
  };
  const first = bridgeOnFakes({ ends: new Map([[0, 100]]), autoOffsetReset: "latest", readingMarks });
  await said(first, /INFO.*a new group;/);
  assert.equal(await counted(first.metrics.offsetResets, "commit_missing_skipped"), 0);
  // Every copy stopped, offsets.retention.minutes passed: Kafka forgot the group's commits.
  const later = bridgeOnFakes({ ends: new Map([[0, 150]]), autoOffsetReset: "latest", readingMarks });
  await said(later, /WARN.*a partition it had read: its offsets expired/);
  assert.equal(await counted(later.metrics.offsetResets, "commit_missing_skipped"), 1);
  const unreachable = bridgeOnFakes({
    ends: new Map([[0, 100]]),
    autoOffsetReset: "latest",
    readingMarks: () => ({ firstReading: () => Promise.reject(new Error("no cluster")) }),
  });
  await said(unreachable, /INFO.*a new group \(or one whose earlier reading could not be checked\)/);
  assert.ok(unreachable.lines.some((line) => /WARN +cannot mark the partitions.*error="no cluster"/.test(line)));
});

Deno.test("a new group of two copies: the copy that sees the other's fresh start commit on the topic asks the marks, no WARN", async () => {
  const readingMarks = marksOf(new Set());
  const ends = new Map([[0, 100], [1, 100]]);
  const a = bridgeOnFakes({ ends, autoOffsetReset: "latest", readingMarks });
  // B reads the commits of A's group: one group, two copies.
  const sharedAdmin: GroupAdmin = {
    partitionOffsets: (topics) =>
      Promise.resolve({
        ends: topics.map(() => [...ends].map(([partition, high]) => ({ partition, high: String(high), low: "0" }))),
        committed: topics.map((topic) => ({
          topic,
          partitions: [...ends.keys()].map((partition) => ({
            partition,
            offset: String(a.groupCommits.get(partition) ?? -1),
          })),
        })),
      }),
    describeGroup: () => Promise.resolve({ protocol: "range", clients: [] }),
  };
  const b = bridgeOnFakes({ ends, autoOffsetReset: "latest", readingMarks, admin: sharedAdmin });
  a.source.start();
  b.source.start();
  await until("both consumers to run", () => a.latest()?.running && b.latest()?.running);
  // One generation's sync answers both; A reads the commits first and commits its start.
  a.latest().join(TOPIC, [0]);
  await until("A's start committed", () => a.groupCommits.get(0) === 100);
  b.latest().join(TOPIC, [1]);
  await until("B's start said", () => b.lines.some((line) => /no committed offset/.test(line)));
  assert.match(b.lines.find((line) => /no committed offset/.test(line))!, /INFO.*a new group;/);
  assert.equal(await counted(b.metrics.offsetResets, "commit_missing_skipped"), 0);
  await a.source.stop();
  await b.source.stop();
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
    /^pmacct:0 is assigned but not fetched \(93 records from offset 7, for 2 s\); healing$/,
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

Deno.test("after a rejoin a partition that was held is no longer named on /readyz nor counted as held once its commit moves", async () => {
  const { bridge, store, value } = await holdPartition();
  // The group rebalances while the partition is held: the generation's tracker is forgotten and
  // the pause is lifted at the join (#resume(#pausedHeld) empties the set without a report).
  bridge.latest().join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 0);
  store(); // the dead-letter topic takes letters again
  // The new generation reads the partition again from the group's commit (0) and goes on.
  for (let round = 0; round < 5; round++) {
    const batch = bridge.latest().fetch(TOPIC, 0, 10, { value });
    const handedOver = batch?.deliver();
    await bridge.indexEverything();
    await handedOver;
  }
  await until("the commit to move past offset 0", () => (bridge.groupCommits.get(0) ?? 0) >= 50);
  await settle(200); // many ticks
  const problem = bridge.health.report().problems.partition_commit;
  const held = (await bridge.metrics.heldPartitions.get()).values[0]?.value;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  assert.equal(
    problem,
    undefined,
    `the group's commit is at ${bridge.groupCommits.get(0)}, yet /readyz still says: ${problem}`,
  );
  assert.equal(held, 0, "pmacct_bridge_kafka_partitions_held still counts the partition");
});

Deno.test("a held partition resumed after more than the stall bound is not called 'not fetched', sought or healed", async () => {
  let clock = 0;
  const { bridge, store } = await holdPartition({
    now: () => clock,
    stall: { afterMs: 1000, endsEveryMs: 0, rebuildEveryMs: 600_000 },
  });
  // Held (paused by the bridge) for 5 s of the source's clock: the detector rightly ignores it.
  clock = 5000;
  await settle(100);
  assert.ok(bridge.health.ok("partition_fetch"), "not stalled while paused");
  const seeksBefore = bridge.latest().calls.filter((call) => call.startsWith("seek")).length;
  store(); // the letter is written: the commit moves, the partition is resumed at the next tick
  await until(
    "the partition to be resumed",
    () => bridge.latest().calls.some((call) => call.startsWith(`resume ${TOPIC}:0`)),
  );
  await settle(100); // a few ticks, no time passes on the source's clock: kafkajs had no chance to fetch
  const partitionFetch = bridge.health.report().problems.partition_fetch;
  const heals = await counted(bridge.metrics.fetchHeals, "seek");
  const seeks = bridge.latest().calls.filter((call) => call.startsWith("seek")).length - seeksBefore;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  assert.equal(partitionFetch, undefined, `resumed 0 ms ago, yet /readyz says: ${partitionFetch}`);
  assert.equal(heals, 0, "a seek 'heal' was counted for a partition resumed 0 ms ago");
  assert.equal(seeks, 0, "the partition was sought");
});

Deno.test("while the bridge's own batch waits for room, a partition queued behind it in kafkajs' worker is not called stalled, nor the consumer rebuilt", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 1000], [1, 1000]]),
    pipeline: { maxBuffered: 4, maxBatch: 2 },
    stall: { afterMs: 1000, endsEveryMs: 0, rebuildEveryMs: 0 },
    now: () => clock,
  });
  bridge.groupCommits.set(0, 0);
  bridge.groupCommits.set(1, 0);
  bridge.pipeline.start(5);
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC, [0, 1]);
  await until("the generation's start", () => bridge.pipeline.position(TOPIC, 1) !== undefined);
  const first = bridge.latest();
  // kafkajs' one worker hands over partition 0's batch; partition 1's, fetched by the same fetch,
  // waits in its queue until eachBatch returns. Elasticsearch has not answered: the batch waits
  // for room (each time up to ROOM_WAIT_MS) while the source's clock passes the stall bound twice.
  const handedOver = first.fetch(TOPIC, 0, 200, { value: recordAt })!.deliver();
  await until("the batch to wait for room", () => bridge.requests.length > 0);
  clock = 1500;
  await settle(100);
  const said = bridge.health.report().problems.partition_fetch;
  clock = 4000;
  await settle(100);
  const rebuilt = bridge.consumers.length > 1;
  const seeks = first.calls.filter((call) => call.startsWith("seek"));
  await bridge.indexEverything();
  await handedOver;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  assert.equal(said, undefined, `backpressure, not a stall; yet /readyz says: ${said}`);
  assert.deepEqual(seeks, [], "a partition was sought");
  assert.ok(!rebuilt, "the consumer was rebuilt (the group rebalances, buffered records dropped)");
});

Deno.test("a batch fetched before a rejoin for a partition that moved to another member is refused at once, not held for a start", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 100], [1, 100]]) });
  await bridge.joined(0); // assigned partition 0 only
  // kafkajs hands over a batch of partition 1 it fetched before the rejoin (this member owned it).
  let beats = 0;
  const started = Date.now();
  await bridge.latest().deliver(TOPIC, 1, [40, 41], {
    value: recordAt,
    heartbeat: () => {
      beats++;
      return Promise.resolve();
    },
  });
  const tookMs = Date.now() - started;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  // Every other partition's batch waits behind it (partitionsConsumedConcurrently: 1).
  assert.ok(tookMs < 500, `eachBatch held the worker ${tookMs} ms (${beats} heartbeats) for a partition not assigned`);
});

Deno.test("a partition paused for room is read again once the buffer has room, though records held long keep it above half", async () => {
  const pad = "x".repeat(3000);
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 1000]]),
    pipeline: { maxBuffered: 1000, maxBatch: 100, maxWaitMs: 5, concurrency: 2, maxBufferedBytes: 64 * 1024 },
    // The dead-letter topic does not take these letters (yet): the sink keeps trying.
    sendLetter: (_letter, signal) =>
      new Promise<void>((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted")))),
  });
  await bridge.joined(0);
  // Offsets 0-11: lines pmacct garbled, 3 KB each: their letters hold 36 KB, over half of 64 KB.
  const garbled = (offset: number) => encoder.encode(`{not json ${offset} ${pad}`);
  const good = (offset: number) =>
    encoder.encode(JSON.stringify({ bytes: offset, pad, stamp_inserted: "2026-11-25 10:00:00" }));
  await bridge.latest().fetch(TOPIC, 0, 12, { value: garbled })!.deliver();
  // Offsets 12-31, good records of 3 KB: the bound is reached while Elasticsearch is slow.
  await bridge.latest().fetch(TOPIC, 0, 20, { value: good })!.deliver();
  assert.ok(bridge.latest().calls.includes(`pause ${TOPIC}:0`), "paused for room");
  await bridge.indexEverything(); // 36 KB of letters held, 28 KB of room
  await until(
    "the partition to be read again",
    () => bridge.latest().calls.some((call) => call.startsWith(`resume ${TOPIC}:0`)),
  );
  await bridge.source.stop();
  bridge.pipeline.stop();
});

Deno.test("a partition that started from the group's commit and stayed idle, whose commit is lost while the bridge runs, is said at WARN and counted", async () => {
  const marked = new Set(["pmacct:0"]); // an earlier copy read it
  const bridge = bridgeOnFakes({ ends: new Map([[0, 100]]), autoOffsetReset: "latest", readingMarks: marksOf(marked) });
  bridge.groupCommits.set(0, 100); // the group's commit; the partition is idle: nothing to read, nothing committed
  bridge.pipeline.start(5);
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC);
  await until("the generation's start", () => bridge.pipeline.position(TOPIC, 0) === 100);
  await settle(20);
  // The topic is deleted and made again under the running bridge: Kafka drops the group's offsets.
  bridge.groupCommits.delete(0);
  bridge.latest().join(TOPIC);
  await until("the start said", () => bridge.lines.some((line) => /no committed offset/.test(line)));
  const said = bridge.lines.find((line) => /no committed offset/.test(line))!;
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
  assert.equal(await counted(bridge.metrics.offsetResets, "commit_missing_skipped"), 1, said);
  assert.match(said, /WARN.*a partition it had read/);
});

Deno.test("a partition's mark is asked once a process: a join while the first answer is awaited gets it too, no WARN", async () => {
  let asked = 0;
  let answer = (_first: boolean) => {};
  const readingMarks = () => ({
    firstReading: () => {
      asked++;
      return new Promise<boolean>((resolve) => answer = resolve);
    },
  });
  const bridge = bridgeOnFakes({ ends: new Map([[0, 100]]), autoOffsetReset: "latest", readingMarks });
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  // A new group, whose start commit does not land before the next join.
  bridge.latest().committing = () => Promise.reject(new Error("The group is rebalancing"));
  bridge.latest().join(TOPIC);
  await until("the mark asked", () => asked === 1);
  bridge.latest().join(TOPIC);
  await settle(50);
  answer(true);
  await until("the starts said", () => bridge.lines.filter((line) => /no committed offset/.test(line)).length === 2);
  assert.equal(asked, 1, "a second _create would find this process' own mark");
  assert.equal(await counted(bridge.metrics.offsetResets, "commit_missing_skipped"), 0);
  await bridge.source.stop();
});

Deno.test("a join kafkajs began and never finished (it dropped it) is given a new consumer, which joins", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({ ends: new Map([[0, 100]]), now: () => clock });
  bridge.groupCommits.set(0, 7);
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC);
  await until("the generation's start", () => bridge.pipeline.position(TOPIC, 0) === 7);
  // The coordinator moved: kafkajs says the group is rebalancing, then drops the join it began.
  bridge.latest().emit(bridge.latest().events.REBALANCING, { groupId: "g", memberId: "m-1" });
  clock = 60_000;
  await settle(50);
  assert.equal(bridge.consumers.length, 1, "a join may take kafkajs' rebalance timeout");
  clock = 60_000 + 30_000 + 1;
  await until("a new consumer", () => bridge.consumers.length === 2);
  assert.equal(await counted(bridge.metrics.fetchHeals, "rejoin"), 1);
  assert.ok(bridge.lines.some((line) => /WARN.*has not joined its group 90 s after it began to/.test(line)));
  await until("the new consumer to run", () => bridge.latest().running);
  bridge.latest().join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 7);
  // Joined: no other consumer however long it runs.
  clock += 200_000;
  await settle(50);
  assert.equal(bridge.consumers.length, 2);
  await bridge.source.stop();
});

Deno.test("a consumer that stopped while it joined is not counted as a dropped join, nor is its successor hurried", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({ now: () => clock, backoff: { initialMs: 300, maxMs: 300 } });
  bridge.source.start();
  await until("the consumer to run", () => bridge.latest()?.running);
  bridge.latest().join(TOPIC);
  bridge.latest().emit(bridge.latest().events.REBALANCING, { groupId: "g", memberId: "m-1" });
  // kafkajs gives up for good (CRASH without restart): the bridge waits its backoff, then builds anew.
  bridge.latest().crash(new Error("The coordinator is not available"), false);
  await settle(20);
  clock = 200_000;
  await settle(100);
  assert.equal(bridge.consumers.length, 1, "the backoff is waited out");
  await until("the next consumer", () => bridge.consumers.length === 2);
  assert.equal(await counted(bridge.metrics.fetchHeals, "rejoin"), 0);
  await bridge.source.stop();
});

Deno.test("commits the group's old coordinator refuses for longer than a join can take get a new consumer; one accepted resets the wait", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({ now: () => clock, pipeline: { maxWaitMs: 5 } });
  await bridge.joined(0);
  // What kafkajs' commit throws once its retries of a refused commit are used up.
  const notCoordinator = () =>
    createRetry({ retries: 1, initialRetryTime: 1 })(() => Promise.reject(createErrorFromCode(16)));
  const consumer = bridge.latest();
  const commitRound = async (offset: number) => {
    const handedOver = consumer.deliver(TOPIC, 0, [offset], { value: () => recordAt(offset) });
    await bridge.indexEverything();
    await handedOver;
    bridge.pipeline.commitAcknowledged();
    await settle(20);
  };
  consumer.committing = notCoordinator;
  await commitRound(0);
  clock = 60_000;
  consumer.committing = () => Promise.resolve();
  await commitRound(1);
  assert.equal(bridge.groupCommits.get(0), 2, "accepted by the coordinator");
  consumer.committing = notCoordinator;
  await commitRound(2);
  clock = 60_000 + 89_000;
  await settle(50);
  assert.equal(bridge.consumers.length, 1, "refused for less than a join can take");
  clock = 60_000 + 90_000;
  await until("a new consumer", () => bridge.consumers.length === 2);
  assert.equal(await counted(bridge.metrics.fetchHeals, "rejoin"), 1);
  assert.ok(
    bridge.lines.some((line) => /WARN.*every commit for 90 s went to a broker that does not coordinate/.test(line)),
  );
  await bridge.source.stop();
});

Deno.test("refused commits never get a new consumer while kafkajs joins by itself: after a crash it restarts from, or a rebalance it began", async () => {
  let clock = 0;
  const bridge = bridgeOnFakes({ now: () => clock, pipeline: { maxWaitMs: 5 } });
  await bridge.joined(0);
  const consumer = bridge.latest();
  let refusals = 0;
  consumer.committing = () => {
    refusals++;
    return createRetry({ retries: 1, initialRetryTime: 1 })(() => Promise.reject(createErrorFromCode(16)));
  };
  const refusedCommit = async (offset: number) => {
    const before = refusals;
    const handedOver = consumer.deliver(TOPIC, 0, [offset], { value: () => recordAt(offset) });
    await bridge.indexEverything();
    await handedOver;
    bridge.pipeline.commitAcknowledged();
    await until(`the commit of ${offset + 1} refused`, () => refusals > before);
    await settle(20);
  };
  // Refused since 0; kafkajs' heartbeat meets the same refusal, and it restarts by itself.
  await refusedCommit(0);
  consumer.crash(new Error("This is not the correct coordinator for this group"), true);
  consumer.running = true;
  clock = 200_000;
  await settle(100);
  assert.equal(bridge.consumers.length, 1, "kafkajs' own restart is not disconnected in the middle of its join");
  // It joined again and reads from the group's commit; a commit is refused at 200 s, then kafkajs
  // begins a rebalance at 230 s.
  consumer.join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 0);
  await refusedCommit(0);
  clock = 230_000;
  consumer.emit(consumer.events.REBALANCING, { groupId: "g", memberId: "m-1" });
  clock = 230_000 + 89_000;
  await settle(100);
  assert.equal(bridge.consumers.length, 1, "while it joins, only the join's own bound counts");
  clock = 230_000 + 90_000;
  await until("a new consumer once the join is overdue", () => bridge.consumers.length === 2);
  assert.ok(bridge.lines.some((line) => /WARN.*has not joined its group 90 s after it began to/.test(line)));
  assert.equal(await counted(bridge.metrics.fetchHeals, "rejoin"), 1);
  await bridge.source.stop();
});
