import assert from "node:assert/strict";
import { lostText, OffsetResets } from "../../lib/delivery/offset_resets.ts";

const key = "t\u00000";

Deno.test("a move is skipped offsets once a later offset comes, said by their range", () => {
  const resets = new OffsetResets();
  assert.equal(resets.waiting, false);
  assert.equal(resets.resumed(key, 5), undefined, "no move, nothing to say");
  resets.note(key, { topic: "t", partition: 0, from: 120 });
  assert.equal(resets.waiting, true);
  assert.deepEqual(resets.lost().map(lostText), ["t:0 offsets 120 on, no longer held"]);
  assert.deepEqual(resets.resumed(key, 500), { topic: "t", partition: 0, from: 120, resumedAt: 500, kind: "skipped" });
  assert.equal(resets.waiting, false);
  assert.equal(resets.resumed(key, 501), undefined, "said once");
  assert.deepEqual(resets.lost().map(lostText), ["t:0 offsets 120-499"]);
});

Deno.test("without the offset read from, the range starts at the group's commit; from offset 0 nothing was skipped", () => {
  const resets = new OffsetResets();
  resets.note(key, { topic: "t", partition: 0 });
  assert.equal(resets.resumed(key, 40)?.kind, "skipped");
  resets.note(key, { topic: "t", partition: 0 });
  assert.equal(resets.resumed(key, 0), undefined, "a topic made again, first read in this generation");
  assert.deepEqual(resets.lost().map(lostText), ["t:0 offsets from the group's commit to 39"]);
});

Deno.test("a log that went back is said as such; a rebalance ends the wait without a range", () => {
  const resets = new OffsetResets();
  resets.note(key, { topic: "t", partition: 0, from: 120 });
  assert.equal(resets.resumed(key, 120), undefined, "resumed where it was: nothing skipped, nothing read again");
  resets.note(key, { topic: "t", partition: 0, from: 120 });
  assert.equal(resets.resumed(key, 119)?.kind, "back");
  resets.note("t\u00001", { topic: "t", partition: 1, from: 7 });
  resets.newGeneration();
  assert.equal(resets.waiting, false);
  assert.equal(resets.resumed("t\u00001", 900), undefined, "another member may have read 7-899");
  assert.deepEqual(resets.lost().map(lostText), [
    "t:0 went back to offset 119 from 120",
    "t:1 offsets 7 on, no longer held",
  ]);
});
