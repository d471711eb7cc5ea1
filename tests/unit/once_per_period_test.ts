import assert from "node:assert/strict";
import { OncePerPeriod } from "../../lib/runtime/once_per_period.ts";

Deno.test("once per period and key, with a bounded number of keys", () => {
  const once = new OncePerPeriod(1000, 2);
  assert.deepEqual([once.due("a", 0), once.due("a", 999), once.due("b", 999), once.due("a", 1000)], [
    true,
    false,
    true,
    true,
  ]);
  assert.equal(once.due("c", 1001), true, "a third key clears the memory");
  assert.equal(once.due("a", 1002), true, "so a known key is due again once");
});
