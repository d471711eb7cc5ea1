import assert from "node:assert/strict";
import { backoffDelay } from "../../lib/runtime/retry.ts";
import { classifyStatus, isAuthFailure } from "../../lib/elastic/retry_policy.ts";

Deno.test("statuses are classified: success, retry (load, outage, auth), reject (bad data)", () => {
  for (const status of [200, 201]) assert.equal(classifyStatus(status), "indexed");
  for (const status of [429, 500, 502, 503, 504, 401, 403, 408]) {
    assert.equal(classifyStatus(status), "retry", String(status));
  }
  for (const status of [400, 404, 409, 413]) assert.equal(classifyStatus(status), "reject", String(status));
  assert.equal(isAuthFailure(401), true);
  assert.equal(isAuthFailure(500), false);
});

Deno.test("backoff grows exponentially, is capped, and keeps half the step fixed", () => {
  const policy = { initialMs: 100, maxMs: 1000 };
  assert.equal(backoffDelay(0, policy, () => 0), 50);
  assert.equal(backoffDelay(0, policy, () => 1), 100);
  assert.equal(backoffDelay(3, policy, () => 0), 400);
  assert.equal(backoffDelay(10, policy, () => 1), 1000);
  assert.equal(backoffDelay(1000, policy, () => 0.5), 750);
});
