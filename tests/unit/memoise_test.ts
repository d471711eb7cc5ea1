import assert from "node:assert/strict";
import { memoise } from "../../lib/runtime/memoise.ts";

Deno.test("a memo computes each key once, holds at most its limit, and never remembers undefined", () => {
  const computed: number[] = [];
  const square = memoise((n: number) => {
    computed.push(n);
    return n === 0 ? undefined : n * n;
  }, 2);
  assert.deepEqual([square(2), square(2), square(3), square(3)], [4, 4, 9, 9]);
  assert.deepEqual(computed, [2, 3]);
  square(4); // full: starts over with 4 alone
  square(2);
  assert.deepEqual(computed, [2, 3, 4, 2]);
  square(0);
  square(0);
  assert.deepEqual(computed.slice(-2), [0, 0]);
});

Deno.test("a memo asked the same key again and again, or keys in turn, never answers with another key's result", () => {
  const computed: string[] = [];
  const upper = memoise((text: string) => {
    computed.push(text);
    return text.toUpperCase();
  }, 1);
  // Equal text built twice is the same key; a limit of one clears the memo on every new key.
  assert.deepEqual([upper("ab"), upper("a" + "b"), upper("cd"), upper("ab"), upper("ab")], [
    "AB",
    "AB",
    "CD",
    "AB",
    "AB",
  ]);
  assert.deepEqual(computed, ["ab", "cd", "ab"]);
  // NaN is never `===` itself: the memo's map, which treats NaN as one key, answers it.
  let halvings = 0;
  const half = memoise((n: number) => {
    halvings++;
    return n / 2;
  }, 10);
  assert.deepEqual([half(NaN), half(NaN), half(4), half(NaN)].map(String), ["NaN", "NaN", "2", "NaN"]);
  assert.equal(halvings, 2);
});
