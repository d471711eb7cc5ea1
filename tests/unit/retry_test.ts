import assert from "node:assert/strict";
import { backoffDelay } from "../../lib/runtime/retry.ts";
import { classifyStatus, isAuthFailure, refusedForSize, spendsRetryBudget } from "../../lib/elastic/retry_policy.ts";
import { BLOCKED_ITEMS } from "../support/cluster_blocks.ts";
import { CLOSED_INDEX_ITEM } from "../support/refusals.ts";

Deno.test("statuses are classified: success, retry (load, outage, auth), reject (bad data)", () => {
  for (const status of [200, 201]) assert.equal(classifyStatus(status), "indexed");
  for (const status of [429, 500, 502, 503, 504, 401, 403, 408]) {
    assert.equal(classifyStatus(status), "retry", String(status));
  }
  for (const status of [400, 404, 409, 413]) assert.equal(classifyStatus(status), "reject", String(status));
  assert.equal(isAuthFailure(401), true);
  assert.equal(isAuthFailure(500), false);
});

Deno.test("a closed index is waited for; only load, outages and indices the cluster will not create spend the budget", () => {
  assert.equal(classifyStatus(CLOSED_INDEX_ITEM.status, CLOSED_INDEX_ITEM.error), "retry");
  const held = [
    CLOSED_INDEX_ITEM,
    ...Object.values(BLOCKED_ITEMS),
    { status: 401 },
    { status: 403, error: { type: "security_exception" } },
    { status: 404, error: { type: "index_not_found_exception" } },
    { status: 400, error: { type: "illegal_argument_exception", reason: "pipeline with id [enrich] does not exist" } },
  ];
  for (const { status, error } of held) assert.equal(spendsRetryBudget(status, error), false, JSON.stringify(error));
  const spending: Array<{ status?: number; error?: { type: string } }> = [
    { status: 429, error: { type: "circuit_breaking_exception" } },
    { status: 503 },
    {},
    { status: 400, error: { type: "invalid_index_name_exception" } },
  ];
  for (const { status, error } of spending) assert.equal(spendsRetryBudget(status, error), true, String(status));
});

Deno.test("a 413 or a circuit breaker's refusal is one of size; other whole-request refusals are not", () => {
  assert.equal(refusedForSize(413, undefined), true);
  assert.equal(refusedForSize(429, "circuit_breaking_exception"), true);
  assert.equal(refusedForSize(500, "circuit_breaking_exception"), true, "a permanent breaker's 500 too");
  assert.equal(refusedForSize(429, "es_rejected_execution_exception"), false, "a full queue is load, not size");
  const pressure = "es_rejected_execution_exception: rejected execution of coordinating operation " +
    "[coordinating_and_primary_bytes=100400603, replica_bytes=0, all_bytes=100400603, " +
    "coordinating_operation_bytes=100404071, max_coordinating_and_primary_bytes=107374182]";
  assert.equal(refusedForSize(429, "es_rejected_execution_exception", pressure), true, "indexing pressure is size");
  assert.equal(refusedForSize(undefined, undefined), false);
});

Deno.test("backoff grows exponentially, is capped, and keeps half the step fixed", () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  assert.equal(backoffDelay(0, policy, () => 0), 50);
  assert.equal(backoffDelay(0, policy, () => 1), 100);
  assert.equal(backoffDelay(3, policy, () => 0), 400);
  assert.equal(backoffDelay(10, policy, () => 1), 1000);
  assert.equal(backoffDelay(1000, policy, () => 0.5), 750);
});
