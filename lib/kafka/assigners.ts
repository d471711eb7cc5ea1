/**
 * The standard Kafka consumer-protocol partition assigners, `range` and `roundrobin`, with the
 * names and algorithms of Java's and librdkafka's `RangeAssignor` and `RoundRobinAssignor`.
 * kafkajs' own assigner is named `RoundRobinAssigner`, a protocol no other client offers, so a
 * group holding kafka-python, librdkafka or Java members (the original Python tool during a
 * rolling replacement) would refuse the bridge. These share a group with all of them.
 *
 * @example
 * ```ts
 * assignRoundRobin(new Map([["a", ["t"]], ["b", ["t"]]]), new Map([["t", 3]]));
 * // Map { "a" => Map { "t" => [0, 2] }, "b" => Map { "t" => [1] } }
 * ```
 */
import { AssignerProtocol, type Cluster, type PartitionAssigner } from "kafkajs";
import { Buffer } from "node:buffer";
import type { AssignmentStrategy } from "../config/kafka.ts";

/** Per member, per topic: the partitions it gets. */
export type Assignment = Map<string, Map<string, number[]>>;

/** Each member's subscribed topics, and each topic's partition count. */
type Algorithm = (subscriptions: Map<string, string[]>, partitionCounts: Map<string, number>) => Assignment;

/** Code-unit order, as Java's `String.compareTo` sorts member ids and topics. */
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function emptyAssignment(subscriptions: Map<string, string[]>): Assignment {
  return new Map([...subscriptions.keys()].map((member) => [member, new Map<string, number[]>()]));
}

function give(assignment: Assignment, member: string, topic: string, partition: number): void {
  const topics = assignment.get(member)!;
  const partitions = topics.get(topic) ?? [];
  partitions.push(partition);
  topics.set(topic, partitions);
}

/**
 * Java's `RangeAssignor`: per topic, the members subscribed to it in member-id order each get a
 * contiguous range of partitions; the first `partitions % members` get one more.
 */
export const assignRange: Algorithm = (subscriptions, partitionCounts) => {
  const assignment = emptyAssignment(subscriptions);
  const topics = [...new Set([...subscriptions.values()].flat())].sort(byCodeUnits);
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0;
    const members = [...subscriptions].filter(([, subscribed]) => subscribed.includes(topic))
      .map(([member]) => member).sort(byCodeUnits);
    const each = Math.floor(count / members.length);
    const extra = count % members.length;
    members.forEach((member, i) => {
      const start = each * i + Math.min(i, extra);
      const length = each + (i < extra ? 1 : 0);
      for (let partition = start; partition < start + length; partition++) give(assignment, member, topic, partition);
    });
  }
  return assignment;
};

/**
 * Java's `RoundRobinAssignor`: every topic-partition in topic then partition order goes to the
 * next member (in member-id order, circularly) that is subscribed to its topic.
 */
export const assignRoundRobin: Algorithm = (subscriptions, partitionCounts) => {
  const assignment = emptyAssignment(subscriptions);
  const members = [...subscriptions.keys()].sort(byCodeUnits);
  const topics = [...new Set([...subscriptions.values()].flat())].sort(byCodeUnits);
  let next = 0;
  for (const topic of topics) {
    for (let partition = 0; partition < (partitionCounts.get(topic) ?? 0); partition++) {
      while (!subscriptions.get(members[next % members.length])!.includes(topic)) next++;
      give(assignment, members[next % members.length], topic, partition);
      next++;
    }
  }
  return assignment;
};

const ALGORITHMS: Record<AssignmentStrategy, Algorithm> = { range: assignRange, roundrobin: assignRoundRobin };

/** The topic's partition count in the cluster's metadata; 0 for a topic it has none for. */
function partitionCountOf(cluster: Pick<Cluster, "findTopicPartitionMetadata">, topic: string): number {
  try {
    return cluster.findTopicPartitionMetadata(topic)?.length ?? 0;
  } catch {
    return 0;
  }
}

/**
 * A kafkajs assigner speaking the standard consumer protocol (subscription and assignment
 * version 0, which every client reads) under `strategy`'s standard name. As the group's leader it
 * assigns every topic any member subscribes to, as Java's and kafka-python's leaders do (kafkajs
 * hands the leader only its own topics): during a rolling replacement the original tool may read
 * a topic the bridge does not, and that topic must not go unread for a generation.
 */
export function partitionAssigner(strategy: AssignmentStrategy): PartitionAssigner {
  return ({ cluster }) => ({
    name: strategy,
    version: 0,
    async assign({ members, topics: own }) {
      const subscriptions = new Map(members.map(({ memberId, memberMetadata }) => {
        return [memberId, AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics ?? []];
      }));
      const topics = [...new Set([...own, ...[...subscriptions.values()].flat()])];
      const others = topics.filter((topic) => !own.includes(topic));
      // Metadata for the other members' topics; a topic that has none (deleted) gets no partitions.
      if (others.length > 0) await cluster.addMultipleTargetTopics(others).catch(() => {});
      const partitionCounts = new Map(topics.map((topic) => [topic, partitionCountOf(cluster, topic)]));
      const assignment = ALGORITHMS[strategy](subscriptions, partitionCounts);
      return [...assignment].map(([memberId, byTopic]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: Object.fromEntries(byTopic),
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: strategy,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}
