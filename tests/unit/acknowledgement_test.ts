import assert from "node:assert/strict";
import { Acknowledgement, type CommitRequest, partitionKey } from "../../lib/delivery/acknowledgement.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";

/** An acknowledgement whose commits are answered by the test, in order. */
function harness() {
  const commits: Array<{ offsets: CommitRequest[]; answer: (error?: Error) => void }> = [];
  const logged: string[] = [];
  const metrics = createMetrics();
  const acks = new Acknowledgement({
    commit: (offsets) =>
      new Promise<void>((resolve, reject) => {
        commits.push({ offsets, answer: (error) => error ? reject(error) : resolve() });
      }),
    log: new Logger("warn", (line) => logged.push(line)),
    metrics,
  });
  return { acks, commits, logged, metrics };
}

const key = partitionKey("pmacct", 0);
/** Starts the generation's run of `key` at `offset`; returns the run, to which acknowledgements go. */
const startAt = (acks: Acknowledgement, offset: number, fromReset = false) => {
  acks.startRuns(acks.generation, new Map([[key, { offset, fromReset }]]));
  return acks.runOf(key)!;
};
const offsetsOf = (commit: { offsets: CommitRequest[] }) => commit.offsets.map(({ offset }) => offset);

Deno.test("one commit at a time: what becomes safe meanwhile is committed right after it", async () => {
  const { acks, commits, metrics } = harness();
  startAt(acks, 0);
  acks.begin(key, "0", 1);
  acks.begin(key, "1", 1);
  acks.acknowledge(key, "0", acks.runOf(key)!);
  const first = acks.commitReady();
  acks.acknowledge(key, "1", acks.runOf(key)!);
  assert.equal(acks.commitReady(), first, "a second call waits for the commit under way");
  assert.equal(commits.length, 1);
  commits[0].answer();
  await first;
  assert.deepEqual(commits.map(offsetsOf), [["1"], ["2"]], "committed again once the first was answered");
  commits[1].answer();
  await acks.commitLast(5000);
  assert.equal(acks.committedOffset("pmacct", 0), 2);
  const gauge = await metrics.registry.getSingleMetric("pmacct_bridge_kafka_committed_offset")!.get();
  assert.equal(gauge.values[0].value, 2);
});

Deno.test("a failed commit is logged and the same offset committed at the next chance", async () => {
  const { acks, commits, logged } = harness();
  startAt(acks, 7);
  acks.begin(key, "7", 1);
  acks.acknowledge(key, "7", acks.runOf(key)!);
  const failing = acks.commitReady();
  commits[0].answer(new Error("coordinator not available"));
  await failing;
  assert.match(logged.join("\n"), /offset commit failed; will retry.*coordinator not available/);
  assert.equal(acks.committedOffset("pmacct", 0), undefined);
  const retry = acks.commitReady();
  assert.deepEqual(commits.map(offsetsOf), [["8"], ["8"]]);
  commits[1].answer();
  await retry;
  assert.equal(acks.committedOffset("pmacct", 0), 8);
});

Deno.test("after a new generation, a late commit answer and old acknowledgements count for nothing", async () => {
  const { acks, commits } = harness();
  startAt(acks, 0);
  acks.begin(key, "0", 1);
  acks.acknowledge(key, "0", acks.runOf(key)!);
  const old = acks.runOf(key)!;
  const committing = acks.commitReady();
  acks.newGeneration();
  commits[0].answer();
  await committing;
  assert.equal(acks.committedOffset("pmacct", 0), undefined, "the answer belongs to the old assignment");
  startAt(acks, 5);
  acks.begin(key, "5", 1);
  acks.acknowledge(key, "5", old);
  assert.equal(acks.unfinished(), 1, "an acknowledgement of the old generation is ignored");
  acks.acknowledge(key, "5", acks.runOf(key)!);
  assert.equal(acks.unfinished(), 0);
});

Deno.test("a commit failing again and again is said once; a drain's last commit says whether it went through", async () => {
  const { acks, commits, logged } = harness();
  startAt(acks, 3);
  acks.begin(key, "3", 1);
  acks.acknowledge(key, "3", acks.runOf(key)!);
  for (let i = 0; i < 3; i++) {
    const attempt = acks.commitReady();
    commits[i].answer(new Error("the consumer is not a member of its group (rejoining)"));
    await attempt;
  }
  assert.equal(logged.filter((line) => line.includes("offset commit failed")).length, 1, logged.join("\n"));
  const last = acks.commitLast(5000);
  await new Promise((resolve) => setTimeout(resolve, 0));
  commits[3].answer(new Error("the consumer is not a member of its group (rejoining)"));
  assert.equal(await last, false, "offset 4 is not committed: the drain did not finish");
  const again = acks.commitLast(5000);
  await new Promise((resolve) => setTimeout(resolve, 0));
  commits[4].answer();
  assert.equal(await again, true);
  assert.equal(acks.committedOffset("pmacct", 0), 4);
});

Deno.test("a drain's last commit gives up at its bound while Kafka does not answer", async () => {
  const { acks, commits } = harness();
  startAt(acks, 0);
  acks.begin(key, "0", 1);
  acks.acknowledge(key, "0", acks.runOf(key)!);
  const started = Date.now();
  assert.equal(await acks.commitLast(50), false);
  assert.ok(Date.now() - started < 1000, "bounded");
  commits[0].answer();
});

Deno.test("a batch is taken only in its generation, once the run started, and only where the run goes on", () => {
  const { acks } = harness();
  const generation = acks.generation;
  assert.deepEqual(acks.admit(key, 5, generation), { take: false, reason: "start_unknown" });
  startAt(acks, 5);
  assert.deepEqual(acks.admit(key, 5, generation + 1), { take: false, reason: "stale_generation" });
  assert.deepEqual(acks.admit(key, 9, generation), { take: false, reason: "not_contiguous", seekTo: 5 });
  assert.deepEqual(acks.admit(key, 3, generation), { take: false, reason: "not_contiguous", seekTo: 5 });
  const run = acks.runOf(key)!;
  assert.deepEqual(acks.admit(key, 5, generation), { take: true, run });
  acks.begin(key, "5", 1);
  acks.begin(key, "6", 1);
  assert.equal(acks.position(key), 7, "the run goes on past each message taken");
  assert.equal(acks.settle(key, 8, run), true, "resolved past a trailing marker");
  assert.deepEqual(acks.admit(key, 9, generation), { take: true, run });
  acks.newGeneration();
  assert.equal(acks.settle(key, 9, run), false, "a batch of the old generation is not resolved");
  assert.equal(acks.leftUncommitted, 2, "offsets 5 and 6 were taken, none committed");
});

Deno.test("a run started from a reset commits its start at once and takes no batch from elsewhere; a moved partition starts again where it is read", () => {
  const { acks, commits } = harness();
  const run = startAt(acks, 100, true); // latest: kafkajs read the end before the bridge did
  assert.deepEqual(commits.at(-1)?.offsets, [{ topic: "pmacct", partition: 0, offset: "100" }], "committed at once");
  commits.at(-1)!.answer();
  // kafkajs' own reset: records 97-99 came between its read and the bridge's. Taking them would leave
  // the commit of 100 ahead of records not indexed.
  assert.deepEqual(acks.admit(key, 97, acks.generation), { take: false, reason: "not_contiguous", seekTo: 100 });
  assert.deepEqual(acks.admit(key, 100, acks.generation), { take: true, run });
  acks.moved(key); // Kafka deleted the offset to read: kafkajs moves the partition
  assert.equal(acks.position(key), undefined);
  assert.deepEqual(acks.admit(key, 500, acks.generation), { take: true, run }, "moved on: the same run");
  assert.equal(acks.position(key), 500);
});

Deno.test("a batch kafkajs resolved itself moves the run only when read from the run's end; a gap proven three times is passed", () => {
  const logged: string[] = [];
  const acks = new Acknowledgement({
    commit: () => Promise.resolve(),
    log: new Logger("info", (line) => logged.push(line)),
    metrics: createMetrics(),
  });
  const run = startAt(acks, 10);
  acks.passedOver(key, 12, 14);
  assert.equal(acks.position(key), 10, "fetched elsewhere (before a rejoin, say): no move");
  acks.passedOver(key, 10, 11);
  assert.equal(acks.position(key), 12);
  acks.passedOver(key, undefined, 12); // compacted away: kafkajs resolves the offset it fetched
  assert.equal(acks.position(key), 13);
  for (let time = 1; time < 3; time++) {
    assert.deepEqual(acks.admit(key, 20, acks.generation), { take: false, reason: "not_contiguous", seekTo: 13 });
  }
  assert.deepEqual(
    acks.admit(key, 20, acks.generation),
    { take: true, run },
    "read from 13 three times, arriving at 20",
  );
  assert.match(logged.join("\n"), /offsets=13-19/);
});

Deno.test("the span of tracked messages starts at the first unfinished one, which holds the commit", () => {
  const { acks } = harness();
  startAt(acks, 0);
  for (let offset = 0; offset < 5; offset++) acks.begin(key, String(offset), 1);
  for (const offset of ["0", "2", "3", "4"]) acks.acknowledge(key, offset, acks.runOf(key)!);
  assert.equal(acks.span(key), 4, "1 to 4");
  assert.equal(acks.holdingOffset(key), 1);
  acks.acknowledge(key, "1", acks.runOf(key)!);
  assert.equal(acks.span(key), 0);
  assert.equal(acks.holdingOffset(key), undefined);
});

Deno.test("a log that went back is read again in a new run: the old run's acknowledgements count for nothing, commits go back", async () => {
  const { acks, commits } = harness();
  const first = startAt(acks, 0);
  for (let offset = 0; offset < 5; offset++) acks.begin(key, String(offset), 1);
  for (const offset of ["0", "1"]) acks.acknowledge(key, offset, first);
  const committing = acks.commitReady();
  commits[0].answer();
  await committing;
  assert.equal(acks.committedOffset("pmacct", 0), 2);
  acks.moved(key); // the topic was made again: kafkajs moves the partition to offset 0
  const admission = acks.admit(key, 0, acks.generation);
  assert.ok(admission.take && admission.run !== first, "a new run");
  acks.acknowledge(key, "2", first); // a record of the old log, indexed late
  assert.equal(acks.begin(key, "0", 1), true, "offset 0 is taken again: another record now");
  assert.equal(acks.unfinished(), 1, "only the new run's message is unfinished; the old run's are forgotten");
  acks.acknowledge(key, "0", admission.run);
  const again = acks.commitReady();
  assert.deepEqual(offsetsOf(commits[1]), ["1"], "the commit goes back to the new log's offsets");
  commits[1].answer();
  await again;
});

Deno.test("a log that went back is read again from the first offset the old run had not finished, never committed past it", async () => {
  const { acks, commits } = harness();
  const first = startAt(acks, 0);
  for (let offset = 0; offset < 100; offset++) acks.begin(key, String(offset), 1);
  for (let offset = 0; offset < 50; offset++) acks.acknowledge(key, String(offset), first);
  const committing = acks.commitReady();
  commits[0].answer();
  await committing;
  // An unclean leader election: the new leader holds offsets 0-79 (the same records) and appends
  // new ones from 80; under latest, kafkajs moves the partition from 100 to 80.
  acks.moved(key);
  assert.deepEqual(acks.admit(key, 80, acks.generation), { take: false, reason: "not_contiguous", seekTo: 50 });
  const second = acks.runOf(key)!;
  assert.deepEqual(acks.admit(key, 50, acks.generation), { take: true, run: second });
  for (let offset = 50; offset < 81; offset++) acks.begin(key, String(offset), 1);
  acks.acknowledge(key, "80", second);
  const next = acks.commitReady();
  assert.deepEqual(offsetsOf(commits[1]), ["50"], "the new run's start, nothing past the records 50-79");
  commits[1].answer();
  await next;
});

Deno.test("a log that went back commits its start at once: an old run's commit landing late does not stand ahead of it", async () => {
  const { acks, commits } = harness();
  const first = startAt(acks, 0);
  for (let offset = 0; offset < 1000; offset++) acks.begin(key, String(offset), 1);
  for (let offset = 0; offset < 1000; offset++) acks.acknowledge(key, String(offset), first);
  const oldCommit = acks.commitReady(); // 1000, not answered yet
  acks.moved(key); // the topic was made again: kafkajs reads it from 0
  const second = acks.admit(key, 0, acks.generation);
  assert.ok(second.take);
  acks.begin(key, "0", 1); // not indexed yet
  commits[0].answer(); // the old commit lands: Kafka holds 1000 for the group
  await oldCommit;
  const again = acks.commitReady();
  assert.deepEqual(offsetsOf(commits.at(-1)!), ["0"], "the new run's start, committed over it");
  commits.at(-1)!.answer();
  await again;
});
