import assert from "node:assert/strict";
import { CompressionTypes, type ProducerRecord } from "kafkajs";
import { Buffer } from "node:buffer";
import { type DeadLetter, deadLetterHeaders, readLetterHeaders } from "../../lib/delivery/dead_letters.ts";
import { Health } from "../../lib/runtime/health.ts";
import { KAFKA_CHECKS } from "../../lib/kafka/client.ts";
import { describeDeadLetterFailure, KafkaDeadLetterSink } from "../../lib/kafka/dead_letters.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { Aborted } from "../../lib/runtime/retry.ts";

const letter = (offset: number): DeadLetter => ({
  reason: "invalid_json",
  detail: "Unexpected token",
  topic: "pmacct",
  partition: 0,
  offset: String(offset),
  position: 0,
  timestampMs: 1764064800123,
  value: new TextEncoder().encode("{not json"),
});

/** A broker's refusal as kafkajs 2.2.4 throws it (seen from the stack's brokers). */
const refusal = (type: string) => Object.assign(new Error(type), { name: "KafkaJSProtocolError", type });

/** A fake kafkajs producer whose sends wait until the test settles them. */
function fakeProducer() {
  const sends: Array<{ record: ProducerRecord; settle: (error?: Error) => void }> = [];
  const producer = {
    send: (record: ProducerRecord) =>
      new Promise<never[]>((resolve, reject) =>
        sends.push({ record, settle: (error) => error ? reject(error) : resolve([]) })
      ),
  };
  return { producer, sends };
}

function sink(concurrency = 2, routes = new Map([["pmacct", "pmacct-dlq"]])) {
  const { producer, sends } = fakeProducer();
  const metrics = createMetrics();
  const log = new Logger("error", () => {});
  const health = new Health(log, { ...KAFKA_CHECKS });
  const deadLetters = new KafkaDeadLetterSink(
    producer,
    routes,
    log,
    metrics,
    health,
    concurrency,
  );
  return { deadLetters, sends, metrics, health };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle();
  }
}

Deno.test("dead letters are written at most `concurrency` at once, in order, gzip-compressed", async () => {
  const { deadLetters, sends } = sink(2);
  const signal = new AbortController().signal;
  const written = [0, 1, 2, 3, 4].map((offset) => deadLetters.send(letter(offset), signal));
  await settle();
  assert.equal(sends.length, 2, "two writes in flight, three waiting");
  sends[0].settle();
  await settle();
  assert.equal(sends.length, 3, "a finished write hands its slot on");
  for (let i = 1; i < 5; i++) {
    sends[i].settle();
    await settle();
  }
  await Promise.all(written);
  assert.deepEqual(sends.map(({ record }) => record.messages[0].key), [0, 1, 2, 3, 4].map((n) => `pmacct:0:${n}:0`));
  assert.ok(sends.every(({ record }) => record.compression === CompressionTypes.GZIP && record.topic === "pmacct-dlq"));
});

Deno.test("a letter waiting for a slot is given up on shutdown", async () => {
  const { deadLetters, sends } = sink(1);
  const controller = new AbortController();
  const first = deadLetters.send(letter(0), controller.signal);
  const second = deadLetters.send(letter(1), controller.signal);
  await settle();
  controller.abort();
  await assert.rejects(second, Aborted);
  sends[0].settle();
  await first;
  assert.equal(sends.length, 1, "the waiting letter was never written");
});

Deno.test("a refused letter is counted, named on /readyz in words, and retried until it is written", async () => {
  const { deadLetters, sends, metrics, health } = sink(2);
  const written = deadLetters.send(letter(0), new AbortController().signal);
  await until("the first write", () => sends.length === 1);
  sends[0].settle(refusal("MESSAGE_TOO_LARGE"));
  await until("the retry", () => sends.length === 2);
  const failures = await metrics.registry.getSingleMetric("pmacct_bridge_dead_letter_write_failures_total")!.get();
  // Every reason is there from the start, at 0 until Kafka refuses a letter for it.
  assert.deepEqual(failures.values.map(({ labels, value }) => [labels.reason, value]), [
    ["message_too_large", 1],
    ["not_authorized", 0],
    ["topic_missing", 0],
    ["kafka_error", 0],
  ]);
  const { ready, problems } = health.report();
  assert.equal(ready, false);
  assert.match(problems.dead_letter_topic, /pmacct-dlq refuses a letter as too large: raise its max\.message\.bytes/);
  sends[1].settle();
  await written;
  assert.equal(health.ok("dead_letter_topic"), true, "written: the problem is over");
});

Deno.test("each kind of refusal is described as what it is", () => {
  // A retriable refusal reaches the producer's caller wrapped, with the broker's error as its cause.
  const retried = (type: string) =>
    Object.assign(new Error(type), { name: "KafkaJSNumberOfRetriesExceeded", cause: refusal(type) });
  const cases: Array<[Error, string, RegExp]> = [
    [refusal("MESSAGE_TOO_LARGE"), "message_too_large", /too large: raise its max\.message\.bytes/],
    [refusal("TOPIC_AUTHORIZATION_FAILED"), "not_authorized", /may not write to dead-letter topic d: grant/],
    [retried("UNKNOWN_TOPIC_OR_PARTITION"), "topic_missing", /dead-letter topic d does not exist: create it/],
    [new Error("Connection timeout"), "kafka_error", /cannot write to dead-letter topic d \(Connection timeout\)/],
  ];
  for (const [error, reason, problem] of cases) {
    const described = describeDeadLetterFailure(error, "d");
    assert.equal(described.reason, reason);
    assert.match(described.problem, problem);
    assert.match(described.problem, /commits wait meanwhile; retrying$/);
  }
});

Deno.test("a dead-letter topic that holds every slot of its own never holds another topic's letters", async () => {
  const { deadLetters, sends } = sink(1, new Map([["a", "a-dlq"], ["b", "b-dlq"]]));
  const abort = new AbortController();
  const pending = [
    deadLetters.send({ ...letter(0), topic: "a" }, abort.signal),
    deadLetters.send({ ...letter(1), topic: "a" }, abort.signal),
  ];
  const ofB = deadLetters.send({ ...letter(2), topic: "b" }, abort.signal);
  await until("a-dlq's first write and b-dlq's", () => sends.length === 2);
  assert.deepEqual(sends.map(({ record }) => record.topic), ["a-dlq", "b-dlq"], "a-dlq's second letter waits");
  sends[1].settle();
  await ofB;
  abort.abort();
  sends[0].settle(refusal("MESSAGE_TOO_LARGE"));
  await Promise.allSettled(pending);
});

Deno.test("a letter's headers read back to where its record was published, as kafkajs gives them", () => {
  const written = deadLetterHeaders({ ...letter(42), position: 3 });
  assert.equal(written["dlq.source.timestamp"], "1764064800123");
  const asKafkajs = Object.fromEntries(Object.entries(written).map(([name, value]) => [name, Buffer.from(value)]));
  assert.deepEqual(readLetterHeaders(asKafkajs), {
    reason: "invalid_json",
    topic: "pmacct",
    partition: 0,
    offset: "42",
    position: 3,
    timestampMs: 1764064800123,
  });
  assert.deepEqual(readLetterHeaders({ ...written, "dlq.reason": [Buffer.from("first"), "second"] }), {
    ...readLetterHeaders(written) as object,
    reason: "first",
  }, "a header given twice: its first value");
});

Deno.test("a letter of a message without a Kafka time carries -1, and one of an older version reads without a time", () => {
  const written = deadLetterHeaders({ ...letter(1), timestampMs: -1 });
  assert.equal(written["dlq.source.timestamp"], "-1", "its record's id ends with -1, which a replay gives again");
  delete written["dlq.source.timestamp"];
  assert.deepEqual(readLetterHeaders(written), {
    reason: "invalid_json",
    topic: "pmacct",
    partition: 0,
    offset: "1",
    position: 0,
  });
});

Deno.test("a message that is no letter of the bridge's is named as such, with what is missing", () => {
  assert.equal(
    readLetterHeaders(undefined),
    "no dead letter of the bridge's: dlq.reason, dlq.source.topic, dlq.source.partition, dlq.source.offset, " +
      "dlq.source.position missing or malformed",
  );
  const written = deadLetterHeaders(letter(5));
  assert.equal(
    readLetterHeaders({ ...written, "dlq.source.offset": "-3", "dlq.source.timestamp": "soon" }),
    "no dead letter of the bridge's: dlq.source.offset, dlq.source.timestamp missing or malformed",
  );
  assert.match(readLetterHeaders({ ...written, "dlq.source.partition": "01" }) as string, /dlq\.source\.partition/);
});
