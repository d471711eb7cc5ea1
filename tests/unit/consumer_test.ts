/**
 * The consumer's life against a fake kafkajs consumer: rebuilt after every stop kafkajs does not
 * recover from, the cause named in words on `/readyz`, and shutdown safe in every state.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { parseConfig } from "../../lib/config/mod.ts";
import { Health } from "../../lib/runtime/health.ts";
import { KAFKA_CHECKS } from "../../lib/kafka/client.ts";
import { type GroupAdmin, KafkaSource } from "../../lib/kafka/consumer.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { shutdown } from "../../lib/runtime/shutdown.ts";
import { FakeConsumer, fakePipeline } from "../support/fake_consumer.ts";

const config = parseConfig({
  KAFKA_BOOTSTRAP_SERVERS: "k1:9092",
  KAFKA_TOPIC: "pmacct",
  KAFKA_CONSUMER_GROUP_ID: "flows",
  KAFKA_PARTITION_ASSIGNMENT_STRATEGY: "roundrobin",
}, "UTC").kafka;

// kafkajs spreads its errors into its exports, which Deno does not see as named exports.
const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;

const admin: GroupAdmin = {
  partitionOffsets: () => Promise.resolve({ ends: [], committed: [] }),
  describeGroup: () => Promise.resolve({ protocol: "range", clients: ["kafka-python-2.0.2"] }),
};

const inconsistentProtocols = () =>
  new KafkaJSProtocolError({
    message: "The group member's supported protocols are incompatible with those of existing members",
    type: "INCONSISTENT_GROUP_PROTOCOL",
    code: 23,
    retriable: false,
  } as unknown as Error);

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/** `connect`: what each fake consumer's connect does (resolves at once by default). */
function harness(connect?: () => Promise<void>, pipeline = fakePipeline()) {
  const consumers: FakeConsumer[] = [];
  const lines: string[] = [];
  const log = new Logger("debug", (line) => lines.push(line));
  const health = new Health(log, { ...KAFKA_CHECKS });
  const source = new KafkaSource({
    config,
    newConsumer: () => {
      const consumer = new FakeConsumer();
      if (connect) consumer.connecting = connect;
      consumers.push(consumer);
      return consumer.asGroupConsumer;
    },
    admin,
    pipeline,
    log,
    metrics: createMetrics(),
    health,
    backoff: { initialMs: 10, maxMs: 20 },
  });
  const latest = () => consumers[consumers.length - 1];
  return { consumers, latest, lines, health, pipeline, source };
}

Deno.test("a consumer kafkajs stopped for good (restart: false) is replaced, and the new one joins", async () => {
  const { consumers, latest, health, pipeline, source } = harness();
  source.start();
  await until("the first consumer to run", () => latest()?.running);
  latest().join("pmacct");
  assert.equal(health.ok("kafka"), true);
  latest().crash(new KafkaJSNonRetriableError("boom"), false);
  assert.equal(health.ok("kafka"), false);
  await until("a second consumer", () => consumers.length === 2 && latest().running);
  await assert.rejects(source.commitOffsets([{ topic: "pmacct", partition: 0, offset: "1" }]), /not a member/);
  latest().join("pmacct");
  assert.equal(health.ok("kafka"), true);
  assert.equal(pipeline.generations, 2);
  await source.commitOffsets([{ topic: "pmacct", partition: 0, offset: "1" }]);
  assert.equal(latest().commits.length, 1);
  assert.equal(consumers[0].commits.length, 0, "the stopped consumer was used to commit");
  await source.stop();
});

Deno.test("a retriable crash is left to kafkajs' own restart: no second consumer", async () => {
  const { consumers, latest, health, lines, source } = harness();
  source.start();
  await until("the consumer to run", () => latest()?.running);
  latest().join("pmacct");
  latest().crash(
    new KafkaJSProtocolError({ message: "no", type: "REQUEST_TIMED_OUT", retriable: true } as never),
    true,
  );
  assert.equal(health.ok("kafka"), false);
  assert.match(health.report().problems.kafka, /Kafka answered REQUEST_TIMED_OUT/);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(consumers.length, 1);
  assert.ok(lines.some((line) => line.includes("kafkajs restarts it")));
  await source.stop();
});

Deno.test("a group whose members share none of its protocols is named in words, and retried until it joins", async () => {
  const { consumers, latest, health, lines, source } = harness();
  source.start();
  for (let round = 1; round <= 3; round++) {
    await until(`consumer ${round} to run`, () => consumers.length === round && latest().running);
    latest().crash(inconsistentProtocols(), false);
  }
  await until("a fourth consumer", () => consumers.length === 4 && latest().running);
  const problem = health.report().problems.kafka;
  assert.equal(
    problem,
    "group flows has members of another Kafka client (kafka-python-2.0.2) whose assignment protocol (range) this bridge does not offer (KAFKA_PARTITION_ASSIGNMENT_STRATEGY=roundrobin); waiting for them to leave",
  );
  assert.ok(
    !lines.some((line) => line.includes("cannot reach Kafka")),
    "a broker that answered was called unreachable",
  );
  assert.equal(lines.filter((line) => line.includes("ERROR") && line.includes("waiting for them to leave")).length, 1);
  latest().join("pmacct");
  assert.equal(health.report().ready, true);
  assert.ok(lines.some((line) => line.includes("resolved")));
  await source.stop();
});

Deno.test("an exception of the bridge that stops the consumer is named as such, and the consumer is rebuilt", async () => {
  const { consumers, latest, health, source } = harness();
  source.start();
  await until("the consumer to run", () => latest()?.running);
  latest().join("pmacct");
  latest().crash(new RangeError("Invalid time value"), false);
  await until("a second consumer", () => consumers.length === 2);
  assert.match(health.report().problems.kafka, /error of the bridge \(RangeError: Invalid time value\); restarting it/);
  await source.stop();
});

/** A drain that sent everything and committed it, nothing left to a rebalance. */
const DRAINED = { sent: true, committed: true, leftToRebalance: 0 };
const idlePipeline = { held: 0, drain: () => Promise.resolve(DRAINED), unfinished: () => 0 };

Deno.test("SIGTERM before the first join (Kafka not answering yet): shutdown ends with 0, nothing rebuilt", async () => {
  let answer = () => {};
  const { consumers, latest, source } = harness(() => new Promise<void>((resolve) => answer = resolve));
  source.start();
  await until("the first consumer to connect", () => latest()?.calls.includes("connect"));
  const parts = { source, pipeline: idlePipeline, log: new Logger("error", () => {}) };
  assert.equal(await shutdown(parts, 1000), 0);
  answer();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(consumers.length, 1, "a consumer was built after shutdown");
  assert.ok(!latest().running, "the consumer ran after shutdown");
  assert.ok(latest().calls.includes("disconnect"));
});

Deno.test("SIGTERM while a stopped consumer waits to be rebuilt: shutdown ends with 0, nothing rebuilt", async () => {
  const { consumers, latest, source } = harness();
  source.start();
  await until("the consumer to run", () => latest()?.running);
  latest().crash(inconsistentProtocols(), false);
  const parts = { source, pipeline: idlePipeline, log: new Logger("error", () => {}) };
  assert.equal(await shutdown(parts, 1000), 0);
  const built = consumers.length;
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(consumers.length, built, "a consumer was built after shutdown");
  assert.ok(!latest().running);
});

Deno.test("SIGTERM while joined: fetching is paused, the consumer stays to commit, then disconnects", async () => {
  const { latest, source } = harness();
  source.start();
  await until("the consumer to run", () => latest()?.running);
  latest().join("pmacct");
  let commitDuringDrain = false;
  const parts = {
    source,
    pipeline: {
      held: 1,
      drain: async () => {
        await source.commitOffsets([{ topic: "pmacct", partition: 0, offset: "5" }]);
        commitDuringDrain = true;
        return DRAINED;
      },
      unfinished: () => 0,
    },
    log: new Logger("error", () => {}),
  };
  assert.equal(await shutdown(parts, 1000), 0);
  assert.ok(commitDuringDrain);
  assert.deepEqual(latest().calls.slice(-2), ["pause", "disconnect"]);
});

Deno.test("once shutdown began, a partition paused for a full buffer stays paused when room comes", async () => {
  let room = false;
  const roomListeners: Array<() => void> = [];
  const pipeline = {
    ...fakePipeline(),
    ingest: (_ticket: unknown, messages: readonly unknown[]) => room ? messages.length : 0,
    whenRoom: () => Promise.resolve(room),
    onRoom: (listener: () => void) => void roomListeners.push(listener),
    get hasRoom() {
      return room;
    },
  };
  const { latest, source } = harness(undefined, pipeline);
  source.start();
  await until("the consumer to run", () => latest()?.running);
  latest().join("pmacct");
  // The buffer is full: the batch is not taken, and its partition is paused.
  await latest().deliver("pmacct", 0, [7, 8]);
  assert.ok(latest().calls.includes("pause pmacct:0"));
  assert.ok(!latest().calls.some((call) => call.startsWith("resolve")));
  source.stopFetching();
  room = true;
  assert.equal(roomListeners.length, 1);
  for (const listener of roomListeners) listener();
  assert.ok(!latest().calls.some((call) => call.startsWith("resume")), "a paused partition resumed during shutdown");
  // A batch kafkajs still hands over is not taken either.
  await latest().deliver("pmacct", 1, [3]);
  assert.ok(!latest().calls.some((call) => call.startsWith("resolve")));
  await source.stop();
});
