import assert from "node:assert/strict";
import { BulkBuffer } from "../../lib/delivery/batch.ts";

const doc = (index: string, n: number) => ({ index, n });

Deno.test("a full batch is due at once; a partial one when the oldest has waited long enough", () => {
  const buffer = new BulkBuffer<ReturnType<typeof doc>>({ maxBatch: 3, maxWaitMs: 1000 });
  assert.equal(buffer.due(0), false);
  buffer.add(doc("a", 1), 0);
  buffer.add(doc("a", 2), 500);
  assert.equal(buffer.due(999), false);
  assert.equal(buffer.due(1000), true);
  buffer.add(doc("b", 3), 600);
  assert.equal(buffer.due(600), true);
});

Deno.test("take returns at most a batch, oldest index first, grouped by index", () => {
  const buffer = new BulkBuffer<ReturnType<typeof doc>>({ maxBatch: 3, maxWaitMs: 1000 });
  buffer.add(doc("b", 1), 10);
  buffer.add(doc("a", 2), 20);
  buffer.add(doc("b", 3), 30);
  buffer.add(doc("a", 4), 40);
  const first = buffer.take(50);
  assert.deepEqual(first.map((d) => d.n), [1, 3, 2]);
  assert.equal(buffer.size, 1);
  assert.equal(buffer.oldestAt(), 50);
  assert.deepEqual(buffer.take(60).map((d) => d.n), [4]);
  assert.equal(buffer.size, 0);
  assert.equal(buffer.oldestAt(), undefined);
  assert.equal(buffer.due(1_000_000), false);
});

Deno.test("a batch is also bounded in bytes, one document at least; bytes due make a batch due", () => {
  const buffer = new BulkBuffer<ReturnType<typeof doc>>({
    maxBatch: 100,
    maxWaitMs: 1000,
    maxBatchBytes: 10,
    sizeOf: (item) => item.n,
  });
  for (const n of [4, 4, 4, 30, 1]) buffer.add(doc("a", n), 0);
  assert.equal(buffer.bytes, 43);
  assert.equal(buffer.due(0), true, "10 bytes buffered: due at once");
  assert.deepEqual(buffer.take(0).map((d) => d.n), [4, 4], "a third would pass 10 bytes");
  assert.deepEqual(buffer.take(0).map((d) => d.n), [4]);
  assert.deepEqual(buffer.take(0).map((d) => d.n), [30], "larger than a batch: alone");
  assert.equal(buffer.bytes, 1);
  assert.equal(buffer.due(0), false);
});
