import assert from "node:assert/strict";
import { OffsetTracker } from "../../lib/delivery/offsets.ts";

Deno.test("commits only up to the first unfinished message", () => {
  const tracker = new OffsetTracker();
  tracker.begin("p0", 10, 2);
  tracker.begin("p0", 11, 1);
  tracker.begin("p0", 12, 1);
  assert.equal(tracker.committable("p0"), undefined);
  tracker.complete("p0", 11);
  tracker.complete("p0", 12);
  assert.equal(tracker.committable("p0"), undefined, "offset 10 still has two records in flight");
  tracker.complete("p0", 10);
  assert.equal(tracker.committable("p0"), undefined, "one of two records is not enough");
  tracker.complete("p0", 10);
  assert.equal(tracker.committable("p0"), 13);
  tracker.markCommitted("p0", 13);
  assert.equal(tracker.committable("p0"), undefined, "nothing new to commit");
  assert.equal(tracker.committedOffset("p0"), 13);
});

Deno.test("messages without records (markers only) finish at once; gaps in offsets are fine", () => {
  const tracker = new OffsetTracker();
  tracker.begin("p0", 5, 0);
  assert.equal(tracker.committable("p0"), 6);
  tracker.begin("p0", 9, 1);
  assert.equal(tracker.committable("p0"), 9);
  tracker.complete("p0", 9);
  assert.equal(tracker.committable("p0"), 10);
});

Deno.test("partitions are independent and a forgotten one ignores late acknowledgements", () => {
  const tracker = new OffsetTracker();
  tracker.begin("p0", 0, 1);
  tracker.begin("p1", 100, 1);
  tracker.complete("p1", 100);
  assert.equal(tracker.committable("p0"), undefined);
  assert.equal(tracker.committable("p1"), 101);
  assert.equal(tracker.inFlight(), 1);
  tracker.forget("p0");
  tracker.complete("p0", 0);
  assert.deepEqual(tracker.keys(), ["p1"]);
});

Deno.test("a long run of out-of-order completions commits exactly the contiguous prefix", () => {
  const tracker = new OffsetTracker();
  const count = 5000;
  for (let offset = 0; offset < count; offset++) tracker.begin("p", offset, 1);
  const order = Array.from({ length: count }, (_, i) => i).sort((a, b) => ((a * 7919) % count) - ((b * 7919) % count));
  const done = new Set<number>();
  for (const offset of order) {
    tracker.complete("p", offset);
    done.add(offset);
    let expected = 0;
    while (done.has(expected)) expected++;
    const next = tracker.committable("p");
    if (next !== undefined) {
      assert.equal(next, expected);
      tracker.markCommitted("p", next);
    }
  }
  assert.equal(tracker.committedOffset("p"), count);
});

Deno.test("a message delivered again in the same generation is refused, not counted twice", () => {
  const tracker = new OffsetTracker();
  assert.equal(tracker.begin("p", 0, 2), true);
  assert.equal(tracker.begin("p", 1, 3), true);
  assert.equal(tracker.begin("p", 0, 2), false, "offset 0 again");
  assert.equal(tracker.begin("p", 1, 3), false, "offset 1 again");
  assert.equal(tracker.begun("p", 1), true);
  assert.equal(tracker.begun("p", 2), false);
  for (let i = 0; i < 2; i++) tracker.complete("p", 0);
  for (let i = 0; i < 2; i++) tracker.complete("p", 1);
  assert.equal(tracker.committable("p"), 1, "offset 1 waits for its third record");
  tracker.forget("p");
  assert.equal(tracker.begin("p", 0, 1), true, "a new generation takes it again");
});
