/**
 * Replacing the original Python tool in place, on the real stack: the bridge reads the operator's
 * unchanged `.env`, joins the original's group and resumes from its committed offsets, shares the
 * group with it during a rolling replacement, and says in words why it waits when a member of
 * another client offers none of its assignment protocols. Every record ends in Elasticsearch
 * exactly once, the original's own documents included.
 */
import assert from "node:assert/strict";
import {
  createTopic,
  describeGroup,
  operatorDirectory,
  produceTagged,
  startKafkaPythonMember,
  startOriginal,
} from "../support/original_tool.ts";
import {
  alive,
  groupLag,
  indexedDocuments,
  integrationTest,
  logLines,
  readiness,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

let nextPythonPort = 18_600 + Math.floor(Math.random() * 300);

/** The original's process settings beyond the `.env`: its own metrics port, one record per bulk request. */
const originalProcessEnv = () => ({
  PROMETHEUS_CLIENT_PORT: String(nextPythonPort++),
  ELASTIC_MAX_SAMPLES_PER_SEND: "1",
});

/** The `.env` of an operator of the original tool. */
const dotEnv = (topic: string, extra: Record<string, string> = {}) => ({
  KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9092",
  KAFKA_TOPIC: topic,
  ELASTIC_HOSTS: "127.0.0.1:9200",
  ELASTIC_INDEX_PREFIX: topic,
  ...extra,
});

/** Each tag in the prefix's documents, with how often it is there. */
async function tagCounts(prefix: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const { source } of await indexedDocuments(prefix, true)) {
    const tag = String((source as { tag?: unknown }).tag);
    counts.set(tag, (counts.get(tag) ?? 0) + 1);
  }
  return counts;
}

async function waitForDocuments(prefix: string, expected: number, what: string): Promise<Map<string, number>> {
  return await waitFor(
    what,
    async () => {
      const counts = await tagCounts(prefix);
      const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
      return total >= expected ? counts : undefined;
    },
    180_000,
    1000,
  );
}

function assertExactlyOnce(counts: Map<string, number>, tags: string[]): void {
  const twice = [...counts].filter(([, count]) => count > 1).map(([tag]) => tag);
  assert.deepEqual(twice, [], "documents indexed twice");
  assert.deepEqual([...counts.keys()].sort(), [...tags].sort());
}

integrationTest(
  "the original consumes part of a topic and stops; the bridge on the same .env resumes from its offsets",
  async () => {
    const topic = uniqueName("orig-seq");
    // No KAFKA_CONSUMER_GROUP_ID: both tools' default group, kafka2elastic.
    const group = "kafka2elastic";
    await createTopic(topic, 2);
    const before = [
      ...await produceTagged(topic, 0, "p0", 0, 300),
      ...await produceTagged(topic, 1, "p1", 0, 300),
    ];
    const dir = await operatorDirectory(dotEnv(topic));
    const original = startOriginal(dir, originalProcessEnv());
    try {
      await waitForDocuments(topic, before.length, `the original to index ${before.length} records`);
      await waitFor("the original's committed offsets", async () => (await groupLag(topic, group)) === 0, 60_000, 500);
    } finally {
      await original.stop();
    }
    const after = [
      ...await produceTagged(topic, 0, "p0", 300, 400),
      ...await produceTagged(topic, 1, "p1", 300, 500),
    ];
    const bridge = await startBridge({}, [], dir);
    try {
      const counts = await waitForDocuments(topic, before.length + after.length, "every record indexed");
      await waitFor("the bridge's commits", async () => (await groupLag(topic, group)) === 0, 60_000, 500);
      assertExactlyOnce(await tagCounts(topic), [...before, ...after]);
      assert.equal(counts.size, before.length + after.length);
      // Nothing the original acknowledged was read again.
      assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), after.length);
      assert.equal((await logLines(bridge, `group=${group}`)).length > 0, true, "the bridge used another group");
    } finally {
      assert.equal((await bridge.stop()).code, 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

integrationTest(
  "the original and the bridge share one group, then the original stops and the bridge takes over",
  async () => {
    const topic = uniqueName("orig-both");
    const group = `${topic}-group`;
    await createTopic(topic, 2);
    const dir = await operatorDirectory(dotEnv(topic, { KAFKA_CONSUMER_GROUP_ID: group }));
    const original = startOriginal(dir, originalProcessEnv());
    let bridge;
    try {
      await waitFor(
        "the original alone in its group",
        async () => {
          const { state, members } = await describeGroup(group, topic);
          return state === "Stable" && members.length === 1 && members[0].partitions.length === 2;
        },
        60_000,
        500,
      );
      bridge = await startBridge({}, [], dir);
      const shared = await waitFor(
        "both tools in one group, one partition each",
        async () => {
          const description = await describeGroup(group, topic);
          const ready = description.state === "Stable" && description.members.length === 2 &&
            description.members.every(({ partitions }) => partitions.length === 1);
          return ready ? description : undefined;
        },
        120_000,
        500,
      );
      assert.ok(["range", "roundrobin"].includes(shared.protocol), `protocol ${shared.protocol}`);
      const byClient = new Map(shared.members.map(({ clientId, partitions }) => [clientId, partitions[0]]));
      const originalPartition = [...byClient].find(([client]) => client.startsWith("kafka-python"))?.[1];
      const bridgePartition = byClient.get("pmacct-kafka-elastic");
      assert.ok(originalPartition !== undefined && bridgePartition !== undefined, JSON.stringify(shared));
      const together = [
        ...await produceTagged(topic, originalPartition, "orig", 0, 400),
        ...await produceTagged(topic, bridgePartition, "bridge", 0, 600),
      ];
      await waitForDocuments(topic, together.length, "both tools' records indexed");
      await waitFor("both tools' commits", async () => (await groupLag(topic, group)) === 0, 60_000, 500);
      assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), 600);

      await original.stop();
      await waitFor(
        "the bridge alone with both partitions",
        async () => {
          const { state, members } = await describeGroup(group, topic);
          return state === "Stable" && members.length === 1 && members[0].partitions.length === 2;
        },
        120_000,
        500,
      );
      const alone = [
        ...await produceTagged(topic, originalPartition, "orig", 400, 300),
        ...await produceTagged(topic, bridgePartition, "bridge", 600, 300),
      ];
      await waitForDocuments(topic, together.length + alone.length, "every record indexed");
      await waitFor("the bridge's commits", async () => (await groupLag(topic, group)) === 0, 60_000, 500);
      assertExactlyOnce(await tagCounts(topic), [...together, ...alone]);
      assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), 600 + alone.length);
    } finally {
      await original.stop();
      if (bridge) assert.equal((await bridge.stop()).code, 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

integrationTest(
  "a kafka-python member offering none of the bridge's protocols: named in words, retried, SIGTERM exits 0, consumed once it leaves",
  async () => {
    const topic = uniqueName("orig-proto");
    const group = `${topic}-group`;
    await createTopic(topic, 1);
    const tags = await produceTagged(topic, 0, "r", 0, 200);
    const member = startKafkaPythonMember(topic, group, "range");
    const env = {
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: group,
      ELASTIC_INDEX_PREFIX: topic,
      KAFKA_PARTITION_ASSIGNMENT_STRATEGY: "roundrobin",
    };
    const expected =
      /group \S+ has members of another Kafka client \(kafka-python-[\d.]+\) whose assignment protocol \(range\) this bridge does not offer \(KAFKA_PARTITION_ASSIGNMENT_STRATEGY=roundrobin\); waiting for them to leave/;
    try {
      await waitFor(
        "the kafka-python member in its group",
        async () => {
          const { state, protocol } = await describeGroup(group, topic);
          return state === "Stable" && protocol === "range";
        },
        60_000,
        500,
      );

      const first = await startBridge(env);
      try {
        await waitForLog(first, "waiting for them to leave", 90_000);
        await waitFor(
          "a second attempt",
          async () => (await logLines(first, "building a new one")).length >= 2,
          90_000,
          500,
        );
        const { status, problems } = await readiness(first);
        assert.equal(status, 503);
        assert.match(problems.kafka, expected);
        assert.match((await logLines(first, "waiting for them to leave"))[0], expected);
        assert.deepEqual(await logLines(first, "cannot reach Kafka"), []);
        assert.ok(await alive(first));
      } finally {
        assert.equal((await first.stop()).code, 0, `SIGTERM while waiting did not exit 0 (log: ${first.logPath})`);
      }

      const second = await startBridge(env);
      try {
        await waitForLog(second, "waiting for them to leave", 90_000);
        const left = await member.stop();
        assert.equal(left.code, 0, member.output());
        await waitReady(second, 120_000);
        assertExactlyOnce(await waitForDocuments(topic, tags.length, "every record indexed"), tags);
      } finally {
        assert.equal((await second.stop()).code, 0);
      }
    } finally {
      await member.stop();
    }
  },
);
