/**
 * A poison flood while the dead-letter topic refuses every letter (its `max.message.bytes` is
 * smaller than any letter), on the real Kafka and Elasticsearch: the bridge reads no more than
 * its bound, its RSS stays flat while the flood waits in Kafka, nothing is committed past the
 * first unwritten letter, `/readyz` says the topic refuses letters as too large, and once the
 * topic takes them every letter is written, every record indexed and the group at the end.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import {
  allIds,
  committedOffset,
  integrationTest,
  KAFKA,
  readiness,
  recordOfNow,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const BOUND = 1000;
const POISON_MESSAGES = 2000;
const LINES_PER_MESSAGE = 10;
/** 20,000 invalid lines of 4 KB: 80 MB of poison, 20 times the bound. */
const POISON_LINE_BYTES = 4096;

/** Ten invalid lines of random text (so that nothing on the way compresses them away). */
function poisonMessage(): string {
  return Array.from({ length: LINES_PER_MESSAGE }, () => {
    const random = crypto.getRandomValues(new Uint8Array((POISON_LINE_BYTES * 3) / 4));
    return `{"poison": "${Buffer.from(random).toString("base64")}`;
  }).join("\n");
}

/** The bridge's resident memory, in bytes, from /proc. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function setMaxMessageBytes(admin: Admin, topic: string, bytes: number): Promise<void> {
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{
      type: ConfigResourceTypes.TOPIC,
      name: topic,
      configEntries: [{ name: "max.message.bytes", value: String(bytes) }],
    }],
  });
}

integrationTest(
  "a poison flood into a refusing dead-letter topic: bounded, nothing committed past it, named, then drained",
  async () => {
    const name = uniqueName("dlqbound");
    const topic = name;
    const deadLetterTopic = `${name}-dlq`;
    const kafka = new Kafka({ clientId: "dlq-bound-test", brokers: [KAFKA], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer();
    await Promise.all([admin.connect(), producer.connect()]);
    const bridge = await (async () => {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic, numPartitions: 1 },
          // Smaller than any letter: Kafka refuses each one with MESSAGE_TOO_LARGE.
          { topic: deadLetterTopic, numPartitions: 1, configEntries: [{ name: "max.message.bytes", value: "64" }] },
        ],
      });
      await producer.send({ topic, messages: Array.from({ length: 100 }, (_, n) => ({ value: recordOfNow(n) })) });
      return await startBridge({
        KAFKA_TOPIC: topic,
        KAFKA_CONSUMER_GROUP_ID: name,
        ELASTIC_INDEX_PREFIX: name,
        ELASTIC_MAX_TIME_TO_SEND: "1",
        ELASTIC_MAX_BUFFERED_SAMPLES: String(BOUND),
        KAFKA_AUTO_OFFSET_RESET: "earliest",
      });
    })();
    let sampling = true;
    try {
      await waitReady(bridge);
      await waitFor("the first 100 records committed", async () => (await committedOffset(admin, name, topic)) === 100);
      const before = await rss(bridge.child.pid);
      let peak = before;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rss(bridge.child.pid).catch(() => 0));
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();

      const poison = poisonMessage();
      for (let sent = 0; sent < POISON_MESSAGES; sent += 20) {
        await producer.send({ topic, messages: Array.from({ length: 20 }, () => ({ value: poison })) });
      }
      await producer.send({
        topic,
        messages: Array.from({ length: 100 }, (_, n) => ({ value: recordOfNow(100 + n) })),
      });

      const problem = await waitFor("/readyz to name the refusing dead-letter topic", async () => {
        const { status, checks, problems } = await readiness(bridge);
        return status === 503 && checks.dead_letter_topic === false && problems.dead_letter_topic;
      });
      assert.match(problem, new RegExp(`dead-letter topic ${deadLetterTopic} refuses a letter as too large`));
      assert.match(problem, /max\.message\.bytes/);
      // Time passes by the bridge's own retries (250 ms, 500 ms, 1 s, 2 s, ... per letter).
      await waitFor(
        "the refused letters to be retried for a while",
        async () => (await bridge.metric("pmacct_bridge_dead_letter_write_failures_total")) >= 16,
      );
      assert.equal(await bridge.metric("pmacct_bridge_paused"), 1, "reading is paused at the bound");
      const taken = await bridge.metric("pmacct_bridge_decode_errors_total");
      assert.ok(taken <= BOUND + LINES_PER_MESSAGE, `${taken} poison lines read; the bound is ${BOUND}`);
      assert.ok(await bridge.metric("pmacct_bridge_buffered_records") <= BOUND + LINES_PER_MESSAGE);
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
      assert.equal(await committedOffset(admin, name, topic), 100, "nothing committed past the first unwritten letter");
      const grown = peak - before;
      assert.ok(grown < 48 * 1024 * 1024, `RSS grew ${Math.round(grown / 2 ** 20)} MB during an 80 MB flood`);

      await setMaxMessageBytes(admin, deadLetterTopic, 1_048_588);
      const end = POISON_MESSAGES + 200;
      await waitFor(
        `the group's offset at the end, ${end} (log: ${bridge.logPath})`,
        async () => (await committedOffset(admin, name, topic)) === end,
        300_000,
        1000,
      );
      const [dlqEnd] = await admin.fetchTopicOffsets(deadLetterTopic);
      assert.equal(Number(dlqEnd.high), POISON_MESSAGES * LINES_PER_MESSAGE, "every poison line is a dead letter");
      assert.equal(
        await bridge.metric("pmacct_bridge_dead_letters_total"),
        POISON_MESSAGES * LINES_PER_MESSAGE,
      );
      await waitFor("200 documents", async () => (await allIds(name)).length === 200 || undefined);
      assert.equal(new Set(await allIds(name)).size, 200);
      const { checks } = await readiness(bridge);
      assert.equal(checks.dead_letter_topic, true, "the problem is over once letters are written");
      sampling = false;
      await sampler;
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      sampling = false;
      await bridge.stop("SIGKILL");
      await admin.deleteTopics({ topics: [topic, deadLetterTopic] }).catch(() => {});
      await Promise.all([admin.disconnect(), producer.disconnect()]);
    }
  },
);
