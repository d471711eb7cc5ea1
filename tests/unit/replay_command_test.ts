import assert from "node:assert/strict";
import { parseCommand, UsageError } from "../../lib/cli/command.ts";
import type { Kafka } from "kafkajs";
import { planReplay, replayConfig, replayedSourceTopics, replayRange } from "../../lib/cli/replay.ts";
import { ConfigError, parseConfig } from "../../lib/config/mod.ts";

const env = { KAFKA_BOOTSTRAP_SERVERS: "k:9092", KAFKA_TOPIC: "nfacct,sfacct", KAFKA_CONSUMER_GROUP_ID: "flows" };

Deno.test("--replay-dead-letters takes --reason and --source-topic, each with a value", () => {
  assert.deepEqual(parseCommand(["--replay-dead-letters"]), { replayDeadLetters: true });
  assert.deepEqual(parseCommand(["--", "--replay-dead-letters", "--source-topic", "sfacct", "--reason", "x"]), {
    replayDeadLetters: true,
    reason: "x",
    sourceTopic: "sfacct",
  });
  assert.throws(
    () => parseCommand(["--replay-dead-letters", "--reason"]),
    /"--reason" is invalid: expected a dlq\.reason/,
  );
  assert.throws(() => parseCommand(["--replay-dead-letters", "--source-topic", "--reason", "x"]), UsageError);
  assert.throws(() => parseCommand(["--replay-dead-letters", "--partial"]), /unknown argument "--partial"/);
  assert.throws(
    () => parseCommand(["--replay-dead-letters", "--reason", "a.topic.b"]),
    /"--reason a\.topic\.b" is invalid/,
    "a reason is a word: no filter's group name is another's",
  );
  assert.throws(
    () => parseCommand(["--replay-dead-letters", "--reason", "x", "--reason", "y"]),
    /"--reason" is invalid: expected --reason once/,
  );
});

Deno.test("a replay reads the dead-letter topics in a lasting group of its own, one per filter", () => {
  const config = parseConfig(env, "UTC");
  const all = replayConfig(config, { replayDeadLetters: true });
  assert.deepEqual(all.kafka.topics, ["nfacct-dlq", "sfacct-dlq"]);
  assert.equal(all.kafka.groupId, "flows.replay-dead-letters");
  assert.equal(all.kafka.fromBeginning, true);
  assert.deepEqual(
    [...all.kafka.deadLetterTopics],
    [...config.kafka.deadLetterTopics],
    "letters failing again go back",
  );
  assert.deepEqual(
    replayedSourceTopics(all, { replayDeadLetters: true }),
    ["nfacct", "sfacct"],
    "from its own settings",
  );
  const one = replayConfig(config, {
    replayDeadLetters: true,
    reason: "illegal_argument_exception",
    sourceTopic: "sfacct",
  });
  assert.deepEqual(one.kafka.topics, ["sfacct-dlq"]);
  assert.equal(one.kafka.groupId, "flows.replay-dead-letters.reason.illegal_argument_exception.topic.sfacct");
  const shared = replayConfig(parseConfig({ ...env, KAFKA_DLQ_TOPIC: "letters" }, "UTC"), { replayDeadLetters: true });
  assert.deepEqual(shared.kafka.topics, ["letters"], "one dead-letter topic for both, read once");
});

Deno.test("a replay without dead-letter topics, or of a topic not read, is refused", () => {
  const off = parseConfig({ ...env, KAFKA_DLQ_TOPIC: "off" }, "UTC");
  assert.throws(
    () => replayConfig(off, { replayDeadLetters: true }),
    (error: unknown) => error instanceof ConfigError && error.variable === "KAFKA_DLQ_TOPIC",
  );
  assert.throws(
    () => replayConfig(parseConfig(env, "UTC"), { replayDeadLetters: true, sourceTopic: "pmacct" }),
    /"--source-topic pmacct" is invalid: expected a topic of KAFKA_TOPIC \(nfacct, sfacct\)/,
  );
});

Deno.test("a partition's range runs from the group's commit; a commit Kafka deleted past, or past the end, is said", () => {
  const at = (commit: number) => replayRange("t-dlq", 1, { low: 150, high: 200, commit });
  assert.deepEqual(at(-1), { range: { topic: "t-dlq", partition: 1, start: 150, end: 200 } }, "a first run");
  assert.deepEqual(at(170), { range: { topic: "t-dlq", partition: 1, start: 170, end: 200 } });
  assert.deepEqual(at(200), { range: { topic: "t-dlq", partition: 1, start: 200, end: 200 } }, "nothing new");
  assert.deepEqual(at(100), {
    range: { topic: "t-dlq", partition: 1, start: 150, end: 200 },
    deleted: "t-dlq:1 letters at offsets 100-149",
  });
  assert.deepEqual(at(250), {
    range: { topic: "t-dlq", partition: 1, start: 150, end: 200 },
    stale: "t-dlq:1 committed at 250, past its end 200: replaying from its first letter",
  });
});

Deno.test("a replay's group is moved to each range's start where it has no commit, so no reset start passes letters deleted meanwhile", async () => {
  const config = replayConfig(parseConfig(env, "UTC"), { replayDeadLetters: true });
  const seeded: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> = [];
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve(["nfacct-dlq", "sfacct-dlq"]),
    describeGroups: () => Promise.resolve({ groups: [{ members: [] }] }),
    // sfacct-dlq:0 was replayed to 7 by an earlier run; the rest have no commit.
    fetchOffsets: () =>
      Promise.resolve([
        { topic: "nfacct-dlq", partitions: [{ partition: 0, offset: "-1" }] },
        { topic: "sfacct-dlq", partitions: [{ partition: 0, offset: "7" }, { partition: 1, offset: "-1" }] },
      ]),
    fetchTopicOffsets: (topic: string) =>
      Promise.resolve(
        topic === "nfacct-dlq"
          ? [{ partition: 0, low: "3", high: "10" }]
          : [{ partition: 0, low: "0", high: "9" }, { partition: 1, low: "2", high: "2" }],
      ),
    setOffsets: (seed: (typeof seeded)[number]) => {
      seeded.push(seed);
      return Promise.resolve();
    },
  };
  const plan = await planReplay({ admin: () => admin } as unknown as Kafka, config);
  assert.notEqual(typeof plan, "string");
  assert.deepEqual(
    (plan as Exclude<typeof plan, string>).ranges.map(({ topic, partition, start, end }) =>
      `${topic}:${partition}:${start}-${end}`
    ),
    ["nfacct-dlq:0:3-10", "sfacct-dlq:0:7-9", "sfacct-dlq:1:2-2"],
  );
  assert.deepEqual(seeded, [
    { groupId: config.kafka.groupId, topic: "nfacct-dlq", partitions: [{ partition: 0, offset: "3" }] },
    { groupId: config.kafka.groupId, topic: "sfacct-dlq", partitions: [{ partition: 1, offset: "2" }] },
  ]);
});
