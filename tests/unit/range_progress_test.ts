import assert from "node:assert/strict";
import { cutWhileRead, progressText, RangeProgress, type ReadPlan } from "../../lib/cli/range_progress.ts";

const plan: ReadPlan = {
  groupId: "g.backfill.x",
  ranges: [
    { topic: "t", partition: 0, start: 10, end: 20 },
    { topic: "t", partition: 1, start: 5, end: 5 },
    { topic: "u", partition: 0, start: 0, end: 4 },
  ],
};

Deno.test("a range committed to its end stays done when a rejoin makes the pipeline forget its commits", () => {
  const committed = new Map<string, number>();
  const progress = new RangeProgress(plan, {
    committedOffset: (topic, partition) => committed.get(`${topic}:${partition}`),
  });
  assert.deepEqual(progress.read(), { done: 0, finished: false });
  committed.set("t:0", 20);
  committed.set("u:0", 2);
  assert.deepEqual(progress.read(), { done: 12, finished: false });
  committed.clear(); // a new generation: the pipeline knows no commit of it yet
  assert.deepEqual(progress.read(), { done: 12, finished: false }, "nothing is lost, nothing counted twice");
  committed.set("u:0", 9); // the commit passes the end (messages after it are let go)
  assert.deepEqual(progress.read(), { done: 14, finished: true });
});

Deno.test("a range whose first offset taken lies past its start was cut by Kafka while it was read", () => {
  const first = new Map([["t:0", 13], ["u:0", 0]]);
  const none = { lostOffsets: () => [] };
  assert.deepEqual(
    cutWhileRead(plan, { firstOffset: (topic, partition) => first.get(`${topic}:${partition}`) }, none),
    ["t:0 from offset 13, not 10"],
  );
  assert.deepEqual(cutWhileRead(plan, { firstOffset: () => undefined }, none), [], "nothing taken, nothing cut");
});

Deno.test("offsets Kafka deleted under the run are cut; a move before the first read is the late start, said once", () => {
  const first = new Map([["t:0", 13], ["u:0", 0]]);
  const cut = cutWhileRead(plan, { firstOffset: (topic, partition) => first.get(`${topic}:${partition}`) }, {
    lostOffsets: () => [
      { topic: "t", partition: 0, resumedAt: 13 },
      { topic: "u", partition: 0, from: 2, resumedAt: 3 },
      { topic: "t", partition: 0, from: 15 },
      { topic: "t", partition: 1, from: 5 }, // an empty range
      { topic: "u", partition: 0, from: 4, resumedAt: 9 }, // from the range's end on
      { topic: "v", partition: 0, from: 0, resumedAt: 9 }, // no range
    ],
  });
  assert.deepEqual(cut, ["t:0 from offset 13, not 10", "u:0 offsets 2-2", "t:0 offsets 15 on, no longer held"]);
});

Deno.test("a range Kafka deleted to its end before it was committed is over, and said to be deleted", () => {
  const progress = new RangeProgress(plan, { committedOffset: () => undefined });
  progress.held(new Map([["t:0", 25], ["u:0", 3]]));
  assert.deepEqual(progress.read(), { done: 10, finished: false }, "u:0 still holds offset 3");
  assert.deepEqual(progress.deleted(), ["t:0 deleted up to offset 20"]);
  progress.held(new Map([["u:0", 4]]));
  assert.deepEqual(progress.read(), { done: 14, finished: true });
  assert.deepEqual(progress.deleted(), ["t:0 deleted up to offset 20", "u:0 deleted up to offset 4"]);
});

Deno.test("the progress line: share of offsets, records per second, time left", () => {
  const cases: Array<[number, number, number, number, string]> = [
    [1000, 450, 9000, 45, "45.0% of offsets, 200 records/s, 55s left"],
    [10_000_000, 100_000, 123_456, 10, "1.0% of offsets, 12,346 records/s, 16m30s left"],
    [10, 0, 0, 0, "0.0% of offsets, 0 records/s, ? left"],
    [0, 0, 0, 1, "100.0% of offsets, 0 records/s, 0s left"],
  ];
  for (const [totalOffsets, doneOffsets, indexed, seconds, text] of cases) {
    assert.equal(
      progressText("backfill 2026-11-24", { totalOffsets, doneOffsets, indexed, seconds }),
      `backfill 2026-11-24: ${text}`,
    );
  }
});

Deno.test("the group's commit counts as reached: one stored while the group rejoined is never the pipeline's", () => {
  const progress = new RangeProgress(plan, { committedOffset: () => undefined });
  progress.held(new Map(), new Map([["t:0", 20], ["u:0", 1]]));
  assert.deepEqual(progress.read(), { done: 11, finished: false });
  progress.held(new Map(), new Map([["t:0", 12], ["u:0", 9]]));
  assert.deepEqual(progress.read(), { done: 14, finished: true }, "never back, never past the end");
  assert.deepEqual(progress.deleted(), []);
});
