/**
 * The start commit of a run from a reset (`fromReset`, committed at once) and the invariant "the
 * group's commit never passes a record taken and not finished", whatever kafkajs fetches and
 * whenever the commits land. (From the third review of issue 24: each failed on 2f08093.)
 */
import assert from "node:assert/strict";
import { Acknowledgement, type CommitRequest, partitionKey } from "../../lib/delivery/acknowledgement.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { settle } from "../support/bridge_on_fakes.ts";

/** Commits answered by the test; `landed` is what Kafka holds for the group (the last commit answered ok). */
function harness() {
  const commits: Array<{ offsets: CommitRequest[]; answer: (error?: Error) => void }> = [];
  const held = { landed: undefined as number | undefined };
  const acks = new Acknowledgement({
    commit: (offsets) =>
      new Promise<void>((resolve, reject) => {
        commits.push({
          offsets,
          answer: (error) => {
            if (error) return reject(error);
            held.landed = Number(offsets[0].offset);
            resolve();
          },
        });
      }),
    log: new Logger("error", () => {}),
    metrics: createMetrics(),
  });
  return { acks, commits, held };
}

const key = partitionKey("pmacct", 0);

/** Answers every commit asked for (and those it sets off) until none is left. */
async function answerAll(commits: ReturnType<typeof harness>["commits"], from: number) {
  for (let i = from; i < commits.length; i++) {
    commits[i].answer();
    await settle(0);
  }
  await settle(5);
}

Deno.test("a start commit landed before kafkajs' first batch from an earlier offset: that batch is refused, the partition read from the start", async () => {
  const { acks, commits, held } = harness();
  // latest: kafkajs read the end (97) before the bridge's admin did (100, records came meanwhile).
  acks.startRuns(acks.generation, new Map([[key, { offset: 100, fromReset: true }]]));
  await answerAll(commits, 0); // the start commit lands: Kafka holds 100
  assert.equal(held.landed, 100);
  assert.deepEqual(acks.admit(key, 97, acks.generation), { take: false, reason: "not_contiguous", seekTo: 100 });
  assert.equal(acks.holdingOffset(key), undefined, "nothing before the commit taken");
});

Deno.test("a start commit in flight when kafkajs' first batch comes from an earlier offset: the commit stays at the start, and records taken after it are left uncommitted at the next generation", async () => {
  const { acks, commits, held } = harness();
  acks.startRuns(acks.generation, new Map([[key, { offset: 100, fromReset: true }]])); // commit of 100 in flight
  assert.deepEqual(acks.admit(key, 97, acks.generation), { take: false, reason: "not_contiguous", seekTo: 100 });
  assert.ok(acks.admit(key, 100, acks.generation).take);
  for (const offset of [100, 101, 102]) acks.begin(key, String(offset), 1);
  await answerAll(commits, 0); // 100 lands, then whatever commitReady asks after it
  const committing = acks.commitReady();
  await answerAll(commits, 0);
  await committing;
  assert.equal(held.landed, 100, "never past offset 100, taken and not finished");
  acks.newGeneration();
  assert.equal(acks.leftUncommitted, 3, "offsets 100-102 were taken and no commit covers them");
});

Deno.test("a reset start whose commit failed does not follow a forward move past records already taken", async () => {
  const { acks, commits, held } = harness();
  acks.startRuns(acks.generation, new Map([[key, { offset: 100, fromReset: true }]]));
  commits[0]?.answer(new Error("The coordinator is not available")); // the start commit fails; retried later
  await settle(5);
  const first = acks.admit(key, 100, acks.generation);
  assert.ok(first.take);
  for (let offset = 100; offset < 105; offset++) acks.begin(key, String(offset), 1); // taken, in flight
  acks.moved(key); // offsetOutOfRange on the next fetch: kafkajs moves the partition forward
  const second = acks.admit(key, 500, acks.generation);
  assert.ok(second.take);
  const before = commits.length;
  const committing = acks.commitReady();
  await answerAll(commits, before);
  await committing;
  assert.ok(
    held.landed === undefined || held.landed <= 100,
    `Kafka holds ${held.landed} for the group while offsets 100-104 were taken and are not finished`,
  );
});

Deno.test("a went-back run whose start commit failed keeps it through a forward move past records already taken", async () => {
  const { acks, commits, held } = harness();
  acks.startRuns(acks.generation, new Map([[key, { offset: 0 }]]));
  const first = acks.runOf(key)!;
  for (let offset = 0; offset < 100; offset++) acks.begin(key, String(offset), 1);
  for (let offset = 0; offset < 50; offset++) acks.acknowledge(key, String(offset), first);
  const c1 = acks.commitReady();
  await answerAll(commits, 0);
  await c1;
  assert.equal(held.landed, 50);
  acks.moved(key); // unclean leader election: the log went back to 80
  assert.deepEqual(acks.admit(key, 80, acks.generation), { take: false, reason: "not_contiguous", seekTo: 50 });
  const c2 = acks.commitReady(); // the new run's start, 50
  commits.at(-1)!.answer(new Error("The coordinator is not available"));
  await c2;
  assert.ok(acks.admit(key, 50, acks.generation).take);
  for (let offset = 50; offset < 61; offset++) acks.begin(key, String(offset), 1); // taken, in flight
  acks.moved(key); // retention deleted past the position: kafkajs moves the partition forward
  assert.ok(acks.admit(key, 500, acks.generation).take);
  const before = commits.length;
  const c3 = acks.commitReady();
  await answerAll(commits, before);
  await c3;
  assert.ok(held.landed! <= 50, `Kafka holds ${held.landed} while offsets 50-60 were taken and are not finished`);
});
