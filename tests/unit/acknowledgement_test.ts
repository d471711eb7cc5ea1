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
const offsetsOf = (commit: { offsets: CommitRequest[] }) => commit.offsets.map(({ offset }) => offset);

Deno.test("one commit at a time: what becomes safe meanwhile is committed right after it", async () => {
  const { acks, commits, metrics } = harness();
  acks.begin(key, "0", 1);
  acks.begin(key, "1", 1);
  acks.acknowledge(key, "0", acks.generation);
  const first = acks.commitReady();
  acks.acknowledge(key, "1", acks.generation);
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
  acks.begin(key, "7", 1);
  acks.acknowledge(key, "7", acks.generation);
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
  acks.begin(key, "0", 1);
  acks.acknowledge(key, "0", acks.generation);
  const old = acks.generation;
  const committing = acks.commitReady();
  acks.newGeneration();
  commits[0].answer();
  await committing;
  assert.equal(acks.committedOffset("pmacct", 0), undefined, "the answer belongs to the old assignment");
  acks.begin(key, "5", 1);
  acks.acknowledge(key, "5", old);
  assert.equal(acks.unfinished(), 1, "an acknowledgement of the old generation is ignored");
  acks.acknowledge(key, "5", acks.generation);
  assert.equal(acks.unfinished(), 0);
});

Deno.test("a commit failing again and again is said once; a drain's last commit says whether it went through", async () => {
  const { acks, commits, logged } = harness();
  acks.begin(key, "3", 1);
  acks.acknowledge(key, "3", acks.generation);
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
  acks.begin(key, "0", 1);
  acks.acknowledge(key, "0", acks.generation);
  const started = Date.now();
  assert.equal(await acks.commitLast(50), false);
  assert.ok(Date.now() - started < 1000, "bounded");
  commits[0].answer();
});
