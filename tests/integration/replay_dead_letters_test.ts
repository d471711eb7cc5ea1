/**
 * `--replay-dead-letters` on the stack: live pmacct records that Elasticsearch rejects for good
 * (`index.mapping.total_fields.limit` too low on their days' indices) go to the dead-letter topic;
 * once the limit is raised, a replay beside the running bridge indexes every one under the id it
 * would have had, a letter that fails again goes back with its new reason, and a second run
 * reads only that one, adding nothing.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { produceLiveTraffic, totalCount } from "../support/live_traffic.ts";
import {
  allIds,
  elastic,
  integrationTest,
  KAFKA,
  kafkaClusterId,
  MAIN_ELASTIC,
  readTopic,
  recordIdOf,
  runMain,
  settingsOf,
  startBridge,
  uniqueName,
  waitFor,
} from "../support/stack.ts";

/** The line of the replay's end, with its counts. */
function summaryOf(stderr: string): string {
  const line = stderr.split("\n").find((text) => text.includes("replay of dead letters done"));
  assert.ok(line, stderr);
  return line;
}

integrationTest(
  "dead letters of a too-low field limit are all indexed by a replay once it is raised; a second run adds nothing",
  async () => {
    const topic = uniqueName("replay");
    const expected = await produceLiveTraffic(topic, topic);
    const total = totalCount(expected);
    // A record no limit lets in: a text where its day's index maps a number.
    const badDay = "2026-11-19";
    assert.equal(expected[`${topic}-${badDay}`], undefined);
    const producer = new Kafka({ clientId: "test-replay", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [{
        value: JSON.stringify({ event_type: "purge", timestamp_start: `${badDay} 10:00:00`, bytes: "lots" }),
      }],
    });
    await producer.disconnect();
    // Made before the bridge installs its template: counters mapped, and room for no other field.
    for (const index of [...Object.keys(expected), `${topic}-${badDay}`]) {
      await elastic.indices.create({
        index,
        settings: { number_of_replicas: 0, "index.mapping.total_fields.limit": 2 },
        mappings: { properties: { bytes: { type: "long" }, packets: { type: "long" } } },
        wait_for_active_shards: 1,
      });
    }

    const bridge = await startBridge(settingsOf(topic));
    try {
      const letters = await waitFor(
        `${total + 1} dead letters (log: ${bridge.logPath})`,
        async () => {
          const held = await readTopic(`${topic}-dlq`);
          return held.length >= total + 1 ? held : undefined;
        },
      );
      assert.equal(letters.length, total + 1);
      for (const letter of letters) {
        assert.equal(letter.headers["dlq.source.topic"], topic);
        assert.match(letter.headers["dlq.detail"], /Limit of total fields \[2\]/);
        assert.match(letter.headers["dlq.source.timestamp"], /^\d{13}$/);
      }
      assert.equal(totalCount(await MAIN_ELASTIC.sums(topic)), 0, "nothing indexed");

      await elastic.indices.putSettings({
        index: `${topic}-*`,
        settings: { "index.mapping.total_fields.limit": 1000 },
      });
      const replay = await runMain(["--replay-dead-letters"], settingsOf(topic));
      assert.equal(replay.code, 0, replay.stderr);
      const summary = summaryOf(replay.stderr);
      assert.match(summary, /1 failed again/);
      assert.match(summary, new RegExp(`letters_read=${total + 1} indexed=${total} dead_lettered_again=1 skipped=0`));
      assert.match(replay.stderr, /replay of dead letters: 100\.0% of offsets/, "progress off a terminal");
      const starting = replay.stderr.split("\n").find((line) => line.includes("pmacct-kafka-elastic starting"));
      assert.match(starting ?? "", new RegExp(`KAFKA_TOPIC=${topic} `), "the settings as the operator set them");
      assert.match(
        starting ?? "",
        new RegExp(`reads_topics=${topic}-dlq in_group=${topic}\\.replay-dead-letters`),
        "and what the replay reads",
      );

      assert.deepEqual(await MAIN_ELASTIC.sums(topic), expected, "every record, each day's count, bytes and packets");
      // Each under the id a bridge gives it: the source topic's cluster, topic, partition, offset, position, Kafka time.
      const cluster = await kafkaClusterId();
      const ids = (await readTopic(topic)).flatMap((message) =>
        (message.payload ?? "").split("\n").filter((line) => line.trim() !== "" && !line.includes('"lots"'))
          .map((_, position) => recordIdOf(cluster, topic, message, position))
      );
      assert.deepEqual((await allIds(topic)).sort(), ids.sort());

      const before = new Set(letters.map(({ partition, offset }) => `${partition}:${offset}`));
      const again = (await readTopic(`${topic}-dlq`)).filter(({ partition, offset }) =>
        !before.has(`${partition}:${offset}`)
      );
      assert.equal(again.length, 1, "the record that fails again went back");
      assert.match(again[0].headers["dlq.detail"], /bytes/);
      assert.doesNotMatch(again[0].headers["dlq.detail"], /Limit of total fields/, "with its new reason");
      const first = letters.find((letter) => letter.payload?.includes('"lots"'))!;
      for (const header of ["dlq.source.topic", "dlq.source.partition", "dlq.source.offset", "dlq.source.timestamp"]) {
        assert.equal(again[0].headers[header], first.headers[header], `${header}: where the record was published`);
      }

      const second = await runMain(["--replay-dead-letters"], settingsOf(topic));
      assert.equal(second.code, 0, second.stderr);
      assert.match(
        summaryOf(second.stderr),
        /letters_read=1 indexed=0 dead_lettered_again=1 skipped=0/,
        "only the letter written since",
      );
      assert.deepEqual(await MAIN_ELASTIC.sums(topic), expected, "nothing added");
      assert.equal((await allIds(topic)).length, total);

      // The letter the second run wrote back, deleted by Kafka before a run replayed it: named, exit 1.
      const admin = new Kafka({ clientId: "test-replay", brokers: [KAFKA], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        await admin.fetchTopicMetadata({ topics: [`${topic}-dlq`] });
        const ends = await admin.fetchTopicOffsets(`${topic}-dlq`);
        await admin.deleteTopicRecords({
          topic: `${topic}-dlq`,
          partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
        });
      } finally {
        await admin.disconnect();
      }
      const third = await runMain(["--replay-dead-letters"], settingsOf(topic));
      assert.equal(third.code, 1, third.stderr);
      assert.match(
        third.stderr,
        new RegExp(
          `Kafka deleted dead letters before they were replayed: they are gone .*cut="${topic}-dlq:\\d letters at offsets \\d+-\\d+"`,
        ),
      );
      const fourth = await runMain(["--replay-dead-letters"], settingsOf(topic));
      assert.equal(fourth.code, 0, `the loss is said once: ${fourth.stderr}`);
      assert.match(summaryOf(fourth.stderr), /letters_read=0 /);

      // One source topic replayed: another of KAFKA_TOPIC that does not exist is not waited for.
      const oneTopic = await runMain(
        ["--replay-dead-letters", "--source-topic", topic],
        { ...settingsOf(topic), KAFKA_TOPIC: `${topic},${topic}-absent` },
        120_000,
      );
      assert.equal(oneTopic.code, 0, oneTopic.stderr);
      assert.match(oneTopic.stderr, /the replay's group has no committed offsets/, "a group of its own");
      assert.match(summaryOf(oneTopic.stderr), /letters_read=0 /);
    } finally {
      await bridge.stop("SIGKILL");
    }
  },
);
