/**
 * What shutdown reports when a message's records can no longer finish, where a message whose
 * reading throws under a run's own origin stage goes, and what a rebalance during the drain
 * leaves while the drain's commit is in flight.
 */
import assert from "node:assert/strict";
import { KafkaDeadLetterSink } from "../../lib/kafka/dead_letters.ts";
import { Health } from "../../lib/runtime/health.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { shutdown } from "../../lib/runtime/shutdown.ts";
import { feed } from "../support/feed.ts";
import { bridgeOnFakes, recordAt, TOPIC } from "../support/bridge_on_fakes.ts";

const encoder = new TextEncoder();

Deno.test("a message whose dead letter the sink fails is retried, and shutdown never says committed what was not (exit 1)", async () => {
  const bridge = bridgeOnFakes({
    ends: new Map([[0, 3]]),
    // A sink failure that is not an abort: KafkaDeadLetterSink throws one for a letter whose topic
    // has no route (see the next test); Dispatch.deadLetter logs "dead letter not stored" and drops it.
    sendLetter: () => Promise.reject(new Error("no dead-letter topic for source topic pmacct")),
  });
  await bridge.joined(0);
  const value = (offset: number) => offset === 1 ? encoder.encode("{not json") : recordAt(offset);
  const handedOver = bridge.latest().fetch(TOPIC, 0, 3, { value })!.deliver();
  await bridge.indexEverything();
  await handedOver;
  const lines: string[] = [];
  const status = await shutdown(
    { source: bridge.source, pipeline: bridge.pipeline, log: new Logger("info", (line) => lines.push(line)) },
    500,
  );
  const unfinished = bridge.pipeline.unfinished();
  assert.equal(unfinished, 1, "(offset 1 never finished)");
  assert.equal(bridge.groupCommits.get(0), 1, "(the commit stops at offset 1)");
  assert.equal(status, 1, `exit ${status}; said: ${lines.at(-1)}`);
});

Deno.test("under a run's own origin stage (--replay-dead-letters) a message whose reading throws goes back to the dead-letter topic it was read from", async () => {
  const log = new Logger("error", () => {});
  const sent: string[] = [];
  const producer = {
    send: ({ topic }: { topic: string }) => {
      sent.push(topic);
      return Promise.resolve([]);
    },
  };
  // The replay's routes: source topic -> its dead-letter topic (replayConfig keeps them).
  const routes = new Map([["pmacct", "pmacct-dlq"]]);
  const metrics = createMetrics();
  const sink = new KafkaDeadLetterSink(
    producer as never,
    routes,
    log,
    metrics,
    new Health(log, { dead_letter_topic: true }),
  );
  const { pipeline } = bridgeOnFakes({ deadLetters: sink });
  // A fault of the bridge's while reading a letter's headers (an origin stage that throws).
  pipeline.plug({
    origin: {
      of: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'toString')");
      },
    },
  });
  assert.equal(feed(pipeline, "pmacct-dlq", 0, [{ offset: "0", timestamp: "1764064800000", value: recordAt(0) }]), 1);
  assert.equal((await pipeline.drain(500)).sent, true);
  assert.deepEqual(sent, ["pmacct-dlq"], "the letter goes back to the dead-letter topic it was read from");
  assert.equal(pipeline.unfinished(), 0, "nothing stranded");
});

Deno.test("a rebalance while the drain's commit is in flight does not count what that commit covers as left to the next owner", async () => {
  const bridge = bridgeOnFakes({ ends: new Map([[0, 4]]) });
  await bridge.joined(0);
  let land = () => {};
  bridge.latest().committing = () => new Promise<void>((resolve) => land = resolve);
  const handedOver = bridge.latest().fetch(TOPIC, 0, 4, { value: recordAt })!.deliver();
  await bridge.indexEverything();
  await handedOver;
  const lines: string[] = [];
  const stopping = shutdown(
    { source: bridge.source, pipeline: bridge.pipeline, log: new Logger("info", (line) => lines.push(line)) },
    2000,
  );
  await new Promise((resolve) => setTimeout(resolve, 30));
  // kafkajs: REBALANCING (the bridge commits what is acknowledged), then the join.
  bridge.latest().emit(bridge.latest().events.REBALANCING, {});
  bridge.latest().join(TOPIC);
  land();
  bridge.latest().committing = () => Promise.resolve();
  const status = await stopping;
  assert.equal(status, 1);
  assert.equal(bridge.groupCommits.get(0), 2, "(the commit of 2 landed: offsets 2-3 are left to read again)");
  assert.match(lines.at(-1)!, /gave 2 offsets taken but not committed/, lines.at(-1));
});
