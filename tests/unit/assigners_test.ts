/**
 * The `range` and `roundrobin` assigners against the examples of Java's `RangeAssignor` and
 * `RoundRobinAssignor` documentation, the balance that chose the default, the wire format other
 * clients read, and the setting that picks them.
 */
import assert from "node:assert/strict";
import { AssignerProtocol } from "kafkajs";
import { Buffer } from "node:buffer";
import { ConfigError, parseConfig } from "../../lib/config/mod.ts";
import { type Assignment, assignRange, assignRoundRobin, partitionAssigner } from "../../lib/kafka/assigners.ts";

const asObject = (assignment: Assignment) =>
  Object.fromEntries([...assignment].map(([member, topics]) => [member, Object.fromEntries(topics)]));

const everyone = (members: string[], topics: string[]) => new Map(members.map((member) => [member, topics]));

Deno.test("range: Java's RangeAssignor example (two members, two topics of three partitions)", () => {
  const assignment = assignRange(everyone(["C1", "C0"], ["t1", "t0"]), new Map([["t0", 3], ["t1", 3]]));
  assert.deepEqual(asObject(assignment), { C0: { t0: [0, 1], t1: [0, 1] }, C1: { t0: [2], t1: [2] } });
});

Deno.test("roundrobin: Java's RoundRobinAssignor examples, same and differing subscriptions", () => {
  const same = assignRoundRobin(everyone(["C1", "C0"], ["t1", "t0"]), new Map([["t0", 3], ["t1", 3]]));
  assert.deepEqual(asObject(same), { C0: { t0: [0, 2], t1: [1] }, C1: { t0: [1], t1: [0, 2] } });
  const differing = assignRoundRobin(
    new Map([["C0", ["t0"]], ["C1", ["t0", "t1"]], ["C2", ["t0", "t1", "t2"]]]),
    new Map([["t0", 1], ["t1", 2], ["t2", 3]]),
  );
  assert.deepEqual(asObject(differing), { C0: { t0: [0] }, C1: { t1: [0] }, C2: { t1: [1], t2: [0, 1, 2] } });
});

/** Partitions per member, for members m0.. subscribed to every topic. */
function loads(algorithm: typeof assignRange, partitions: number[], members: number): number[] {
  const topics = partitions.map((_, i) => `t${i}`);
  const assignment = algorithm(
    everyone(Array.from({ length: members }, (_, i) => `m${i}`), topics),
    new Map(topics.map((topic, i) => [topic, partitions[i]])),
  );
  return [...assignment.values()].map((byTopic) => [...byTopic.values()].reduce((sum, list) => sum + list.length, 0));
}

Deno.test("the default's measurement: roundrobin balances several topics, range piles them on the first members", () => {
  // One topic: the same spread either way.
  assert.deepEqual(loads(assignRange, [8], 3), [3, 3, 2]);
  assert.deepEqual(loads(assignRoundRobin, [8], 3), [3, 3, 2]);
  // The README's several topics, one partition each, two bridges: range leaves one idle.
  assert.deepEqual(loads(assignRange, [1, 1], 2), [2, 0]);
  assert.deepEqual(loads(assignRoundRobin, [1, 1], 2), [1, 1]);
  assert.deepEqual(loads(assignRange, [3, 3, 3], 2), [6, 3]);
  assert.deepEqual(loads(assignRoundRobin, [3, 3, 3], 2), [5, 4]);
  assert.deepEqual(loads(assignRange, [2, 2, 2, 2], 3), [4, 4, 0]);
  assert.deepEqual(loads(assignRoundRobin, [2, 2, 2, 2], 3), [3, 3, 2]);
  assert.deepEqual(loads(assignRange, [6, 6], 4), [4, 4, 2, 2]);
  assert.deepEqual(loads(assignRoundRobin, [6, 6], 4), [3, 3, 3, 3]);
});

Deno.test("the kafkajs assigner speaks the standard protocol: its name, version-0 subscription and assignment", async () => {
  const known = new Set(["t"]);
  const cluster = {
    addMultipleTargetTopics: (topics: string[]) => {
      for (const topic of topics) known.add(topic);
      return Promise.resolve();
    },
    findTopicPartitionMetadata: (topic: string) => {
      if (!known.has(topic)) throw new Error(`no metadata for ${topic}`);
      return topic === "t" ? [{}, {}, {}] : [{}];
    },
  };
  const assigner = partitionAssigner("range")({ cluster, groupId: "g", logger: {} } as never);
  const protocol = assigner.protocol({ topics: ["t"] });
  assert.equal(protocol.name, "range");
  // What kafka-python and Java write: version 0, the topics, empty user data.
  assert.deepEqual(
    [...protocol.metadata],
    [0, 0, 0, 0, 0, 1, 0, 1, ..."t".split("").map((c) => c.charCodeAt(0)), 0, 0, 0, 0],
  );
  const member = (topics: string[]) =>
    AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) });
  // A member of another client subscribed to a topic the leader does not read gets it too, as a
  // Java or kafka-python leader would give it: no topic goes unread during a rolling replacement.
  const result = await assigner.assign({
    members: [{ memberId: "b", memberMetadata: member(["t"]) }, { memberId: "a", memberMetadata: member(["t", "x"]) }],
    topics: ["t"],
  });
  const decoded = Object.fromEntries(
    result.map(({ memberId, memberAssignment }) => [
      memberId,
      AssignerProtocol.MemberAssignment.decode(memberAssignment)!.assignment,
    ]),
  );
  assert.deepEqual(decoded, { a: { t: [0, 1], x: [0] }, b: { t: [2] } });
});

const env = (strategy?: string) => ({
  KAFKA_BOOTSTRAP_SERVERS: "k1:9092",
  KAFKA_TOPIC: "pmacct",
  ...(strategy === undefined ? {} : { KAFKA_PARTITION_ASSIGNMENT_STRATEGY: strategy }),
});

Deno.test("KAFKA_PARTITION_ASSIGNMENT_STRATEGY: librdkafka's names in preference order, validated", () => {
  assert.deepEqual(parseConfig(env(), "UTC").kafka.partitionAssignmentStrategy, ["roundrobin", "range"]);
  assert.deepEqual(parseConfig(env("range"), "UTC").kafka.partitionAssignmentStrategy, ["range"]);
  assert.deepEqual(parseConfig(env(" Range, roundrobin "), "UTC").kafka.partitionAssignmentStrategy, [
    "range",
    "roundrobin",
  ]);
  for (const bad of ["cooperative-sticky", "range,range", ",", "RoundRobinAssigner"]) {
    assert.throws(
      () => parseConfig(env(bad), "UTC"),
      (error) => error instanceof ConfigError && error.variable === "KAFKA_PARTITION_ASSIGNMENT_STRATEGY",
      bad,
    );
  }
});
