/**
 * Stops kafkajs 2.2.4 from waking every millisecond for nothing. Its per-connection request
 * queue re-arms a check of pending requests after each check, with a negative delay (run in
 * 1 ms) when the broker does not throttle, also when nothing is pending (tulios/kafkajs#1556,
 * #1704; the fixes proposed in #1667 and #1768 are not released). On the bridge that loop cost
 * 2–4 % of a core while idle, a third of its CPU per record at 3,000 records/s.
 *
 * Patched to schedule a check only for what it exists for: a request waiting to be sent, or the
 * end of a broker's throttle. A request pushed later checks the queue itself. This is the one
 * place the bridge reaches into kafkajs' internals, so it checks it patches the code it knows.
 */
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/** kafkajs' own delay between checks while requests wait for an in-flight slot. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

interface QueueState {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
}

/** The method as kafkajs 2.2.4 has it: the patch only replaces what it has read. */
const KNOWN_SHAPE = /let scheduleAt = this\.throttledUntil - Date\.now\(\)[\s\S]*setTimeout\([\s\S]*scheduleAt\)/;

/** Whether the queue's idle loop is stopped (false: kafkajs changed, and is left as it is). */
export const requestQueuePatched: boolean = patch();

function patch(): boolean {
  const prototype = RequestQueue.prototype as { scheduleCheckPendingRequests(this: QueueState): void };
  if (!KNOWN_SHAPE.test(String(prototype.scheduleCheckPendingRequests))) return false;
  prototype.scheduleCheckPendingRequests = function (this: QueueState) {
    if (this.throttleCheckTimeoutId) return;
    const throttledFor = this.throttledUntil - Date.now();
    let delay: number;
    if (this.pending.length > 0) delay = throttledFor > 0 ? throttledFor : CHECK_PENDING_REQUESTS_INTERVAL;
    else if (throttledFor > 0) delay = throttledFor;
    else return;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, delay);
  };
  return true;
}
