/**
 * kafkajs 2.2.4 hands over batches in orders its own bugs allow (#1046, #1097, #1197, #1366: a
 * batch fetched before a rejoin, handed over after it) and rejoins from inside one broker's fetch
 * without a rebalance event. Driven through the bridge's real consumer and pipeline on a fake
 * kafkajs that keeps kafkajs' fetch position as kafkajs does (the group's commit at the first
 * fetch after a join, then what is resolved or sought), each interleaving must end with every
 * record indexed, the group's commit at the end, and nothing committed past an unindexed record.
 */
import assert from "node:assert/strict";
import { Logger } from "../../lib/runtime/log.ts";
import { shutdown } from "../../lib/runtime/shutdown.ts";
import { type BridgeOnFakes, bridgeOnFakes, idOf, recordAt, settle, TOPIC, until } from "../support/bridge_on_fakes.ts";

/** The ids of records 0 to `end` - 1 of partition 0. */
const idsUpTo = (end: number) => Array.from({ length: end }, (_, offset) => idOf(offset));

/**
 * kafkajs' loop from here on: fetch from its position, hand the batch over, while Elasticsearch
 * answers everything; until the partition's end is read and the group's commit reaches `end`.
 */
async function consumeToEnd(bridge: BridgeOnFakes, end: number): Promise<void> {
  for (let round = 0; round < 50 && bridge.groupCommits.get(0) !== end; round++) {
    const batch = bridge.latest().fetch(TOPIC, 0, 10, { value: recordAt });
    const handedOver = batch?.deliver();
    await bridge.indexEverything();
    await handedOver;
    await bridge.pipeline.commitAcknowledged();
  }
}

/**
 * Watches the group's commit from now on: each value it takes must lie past indexed records only.
 * `stop` ends the watch and says whether every record up to `end` was indexed and committed.
 */
function watchCommits(bridge: BridgeOnFakes) {
  const seen: number[] = [];
  const check = () => {
    const at = bridge.groupCommits.get(0);
    if (at === undefined || at === seen.at(-1)) return;
    seen.push(at);
    const unindexed = idsUpTo(at).filter((id) => !bridge.indexed.includes(id));
    assert.deepEqual(unindexed, [], `the group's commit moved to ${at} past unindexed records`);
  };
  const timer = setInterval(check, 1);
  return {
    async stop(end: number): Promise<void> {
      clearInterval(timer);
      check();
      const missing = idsUpTo(end).filter((id) => !bridge.indexed.includes(id));
      assert.deepEqual(missing, [], "records never indexed");
      assert.equal(bridge.groupCommits.get(0), end, "the group's commit reached the end");
      await bridge.pipeline.drain(1000);
      await bridge.source.stop();
    },
  };
}

/** The bridge's log as the harness keeps it. */
const logOf = (lines: string[]) => new Logger("info", (line) => lines.push(line));

Deno.test("a rejoin while a batch waits for room: the rest is not taken, nothing resolved, the new generation reads from the group's commit", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 10]]) });
  await bridge.joined(0);
  const commits = watchCommits(bridge);
  // 4 of 10 taken (the bound): 0-1 in flight, 2-3 buffered; the batch waits for room.
  const waiting = bridge.latest().fetch(TOPIC, 0, 10, { value: recordAt })!.deliver();
  await until("the first request", () => bridge.requests.length === 1);
  // kafkajs rejoins from inside another broker's fetch: no rebalance event. 2-3 are dropped,
  // which makes room for the batch still waiting.
  bridge.latest().join(TOPIC);
  await waiting;
  assert.deepEqual(bridge.latest().calls.filter((call) => call.startsWith("resolve")), [], "nothing resolved");
  assert.equal(bridge.requests.length, 1, "nothing more of the old generation's batch sent");
  bridge.requests[0].answer(201);
  await consumeToEnd(bridge, 10);
  await commits.stop(10);
});

Deno.test("a batch fetched before a join and handed over after it is not taken; the partition is read again from the group's commit", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 8]]) });
  await bridge.joined(0);
  const commits = watchCommits(bridge);
  await bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!.deliver();
  // 0-1 in flight, 2-3 buffered. kafkajs already fetched 4-7 (from the position 3 was resolved to).
  const fetchedBefore = bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!;
  bridge.latest().join(TOPIC);
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 0);
  await fetchedBefore.deliver();
  assert.ok(bridge.latest().calls.includes(`seek ${TOPIC}:0 0`), "read again from the group's commit");
  assert.equal(bridge.requests.length, 1, "4-7 were not taken");
  bridge.requests[0].answer(201);
  await consumeToEnd(bridge, 8);
  await commits.stop(8);
  assert.equal(
    (await bridge.metrics.batchesRefused.get()).values.find(({ labels }) => labels.reason === "not_contiguous")?.value,
    1,
  );
});

Deno.test("a rejoin while the old generation's commit is under way: the new one starts where that commit landed", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 8]]), pipeline: { maxBuffered: 10, maxBatch: 4 } });
  await bridge.joined(0);
  const commits = watchCommits(bridge);
  let land = () => {};
  bridge.latest().committing = () => new Promise<void>((resolve) => land = resolve);
  const taken = bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!.deliver();
  await bridge.indexEverything();
  await taken;
  await until("the commit of 4 to be under way", () => bridge.requests.length === 1);
  bridge.latest().join(TOPIC); // no rebalance event: the same Kafka generation, so the commit lands
  // kafkajs reads the group's commit for the new generation before the old commit lands.
  const early = bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!;
  land();
  bridge.latest().committing = () => Promise.resolve();
  await until("the new generation's start", () => bridge.pipeline.position(TOPIC, 0) === 4);
  await early.deliver();
  await consumeToEnd(bridge, 8);
  await commits.stop(8);
  assert.deepEqual(bridge.indexed, idsUpTo(8), "each record indexed once, in order");
});

Deno.test("a batch kafkajs hands over again after eachBatch threw is not taken again; reading goes on from the run's end", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 6]]) });
  await bridge.joined(0);
  const commits = watchCommits(bridge);
  let beats = 0;
  const heartbeat = () => ++beats === 1 ? Promise.reject(new Error("heartbeat failed")) : Promise.resolve();
  // 4 taken, the batch waits for room; room comes, 2 more are taken, then the heartbeat throws.
  const failing = assert.rejects(
    bridge.latest().fetch(TOPIC, 0, 6, { value: recordAt, heartbeat })!.deliver(),
    /heartbeat failed/,
  );
  await bridge.indexEverything();
  await failing;
  assert.equal(bridge.latest().positionOf(TOPIC, 0), 0, "kafkajs fetches the batch again from 0");
  await bridge.latest().fetch(TOPIC, 0, 6, { value: recordAt })!.deliver();
  await consumeToEnd(bridge, 6);
  await commits.stop(6);
  assert.deepEqual(bridge.indexed, idsUpTo(6), "each record indexed once");
  assert.ok(bridge.latest().calls.includes(`seek ${TOPIC}:0 6`));
});

Deno.test("a batch kafkajs resolves itself (transaction markers only) moves the run past it, so the next is taken", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 6]]) });
  await bridge.joined(0);
  await bridge.latest().fetch(TOPIC, 0, 2, { value: recordAt })!.deliver();
  bridge.latest().passOver(TOPIC, 0, 2, 3);
  await bridge.latest().fetch(TOPIC, 0, 2, { value: recordAt })!.deliver();
  assert.deepEqual(bridge.latest().calls.filter((call) => call.startsWith("seek")), []);
  await bridge.indexEverything();
  assert.deepEqual(bridge.indexed, [
    "pmacct:0:0:0:mieemv40",
    "pmacct:0:1:0:mieemv40",
    "pmacct:0:4:0:mieemv40",
    "pmacct:0:5:0:mieemv40",
  ]);
  await bridge.pipeline.drain(1000);
  await bridge.source.stop();
});

Deno.test("shutdown says so when kafkajs made no commit (its runner had stopped): exit 1", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 2]]) });
  await bridge.joined(0);
  await bridge.latest().fetch(TOPIC, 0, 2, { value: recordAt })!.deliver();
  bridge.latest().running = false; // kafkajs restarts its runner: a commit now resolves, committing nothing
  await bridge.indexEverything();
  const lines = bridge.lines;
  const status = await shutdown({ source: bridge.source, pipeline: bridge.pipeline, log: logOf(lines) }, 500);
  assert.equal(status, 1);
  assert.equal(bridge.groupCommits.get(0), 0, "nothing was committed");
  assert.match(lines.at(-1)!, /shutdown incomplete: the last commit did not go through/);
});

Deno.test("shutdown says so when a rebalance took the partitions during its drain: exit 1, naming the offsets left", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 4]]) });
  await bridge.joined(0);
  await bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!.deliver();
  const lines = bridge.lines;
  const stopping = shutdown({ source: bridge.source, pipeline: bridge.pipeline, log: logOf(lines) }, 1000);
  await settle();
  bridge.latest().join(TOPIC); // the group rebalanced: buffered records dropped, the acknowledgements void
  await bridge.indexEverything();
  assert.equal(await stopping, 1);
  assert.match(
    lines.at(-1)!,
    /a rebalance during the drain gave 4 offsets taken but not committed to their next owner/,
  );
});
