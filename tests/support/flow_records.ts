/**
 * pmacct records made by the tests themselves, shaped as its kafka plugin writes them (UTC times),
 * for tests that need records of chosen days, or more of them than a capture gives, in Kafka.
 */
import { type Admin, Kafka, logLevel } from "kafkajs";
import { KAFKA } from "./stack.ts";

/** A flow of one moment, `at` (now by default); `sequence` varies its source port and counters. */
export function flowRecord(sequence: number, at = new Date()): string {
  const stamp = at.toISOString().slice(0, 19).replace("T", " ");
  return JSON.stringify({
    event_type: "purge",
    ip_src: "192.0.2.7",
    ip_dst: "198.51.100.9",
    port_src: 40_000 + sequence,
    port_dst: 443,
    ip_proto: "tcp",
    timestamp_start: stamp,
    timestamp_end: stamp,
    packets: 1 + sequence,
    bytes: 100 * (1 + sequence),
  });
}

/** Midday, UTC, `days` days before today: a day other than today, whatever the hour of the run. */
export function daysAgo(days: number): Date {
  const day = new Date(Date.now() - days * 86_400_000);
  day.setUTCHours(12, 0, 0, 0);
  return day;
}

/** A Kafka client of the tests (quiet), its admin and producer connected, for `use`. */
export async function withKafka<T>(use: (admin: Admin, produce: Produce) => Promise<T>, broker = KAFKA): Promise<T> {
  const kafka = new Kafka({ clientId: "flow-records", brokers: [broker], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    return await use(admin, async (topic, values) => {
      // A send is one request per partition: a thousand records of this size are far below any limit.
      for (let from = 0; from < values.length; from += 1000) {
        await producer.send({ topic, messages: values.slice(from, from + 1000).map((value) => ({ value })) });
      }
    });
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
}

/** Produces records into a topic, in order. */
export type Produce = (topic: string, values: string[]) => Promise<void>;

/** Makes `topic` with one partition, so that its records are read, and batched, in the order sent. */
export async function createTopic(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
}
