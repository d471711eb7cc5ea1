import assert from "node:assert/strict";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { requestQueuePatched } from "../../lib/kafka/request_queue.ts";

// deno-lint-ignore no-explicit-any
function queue(): any {
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  return new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, clientId: "test", broker: "b", logger });
}

Deno.test("kafkajs' request queue schedules a check only for a waiting request or a throttle's end", () => {
  assert.ok(requestQueuePatched, "kafkajs 2.2.4's scheduleCheckPendingRequests was recognised and patched");
  const idle = queue();
  idle.scheduleCheckPendingRequests();
  assert.equal(
    idle.throttleCheckTimeoutId,
    null,
    "nothing pending, no throttle: no timer (kafkajs re-armed one every 1 ms)",
  );

  const throttled = queue();
  throttled.throttledUntil = Date.now() + 60_000;
  throttled.scheduleCheckPendingRequests();
  assert.notEqual(throttled.throttleCheckTimeoutId, null, "a throttle's end is still checked");
  throttled.destroy();

  const waiting = queue();
  waiting.pending.push({});
  waiting.scheduleCheckPendingRequests();
  assert.notEqual(waiting.throttleCheckTimeoutId, null, "a waiting request is still checked");
  waiting.destroy();
});
