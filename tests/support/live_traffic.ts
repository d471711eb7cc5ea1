/**
 * Live pmacct records for the compatibility and security tests: Debian's pmacctd replays the
 * synthetic capture into a topic, one more message carries fields the template does not name
 * (so the dynamic templates are exercised), and the oracle says what each daily index must hold.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { addToDay, type DayTotals, expectedFlowMs } from "./flow_oracle.ts";
import { type CounterFields, PMACCT_COUNTERS, type SearchTarget } from "./search_target.ts";
import { type BridgeProcess, KAFKA, MAIN_ELASTIC, readTopic, replaySyntheticTraffic, waitFor } from "./stack.ts";

/** The aggregate the live traffic is replayed with: per 5-tuple and ToS. */
export const AGGREGATE = "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start, timestamp_end";

/** A record with a text and a flag field no template names: both must map to `keyword`. */
export const UNKNOWN_FIELDS_RECORD = {
  event_type: "purge",
  ip_src: "192.0.2.1",
  ip_dst: "198.51.100.2",
  timestamp_start: "2026-11-20 10:00:00",
  timestamp_end: "2026-11-20 10:00:05",
  bytes: 1234,
  packets: 3,
  unknown_text: "seen on a newer pmacct",
  unknown_flag: true,
};

/** Produces the traffic into `topic` on `broker`; returns what `prefix`'s daily indices must hold. */
export async function produceLiveTraffic(topic: string, prefix: string, broker = KAFKA): Promise<DayTotals> {
  await replaySyntheticTraffic(topic, AGGREGATE, undefined, broker);
  const producer = new Kafka({ clientId: "test-extra", brokers: [broker], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value: JSON.stringify(UNKNOWN_FIELDS_RECORD) }] });
  } finally {
    await producer.disconnect();
  }
  return await expectedTotals(topic, prefix, broker);
}

/** The oracle's per-day totals of everything in `topic`. */
export async function expectedTotals(topic: string, prefix: string, broker = KAFKA): Promise<DayTotals> {
  const totals: DayTotals = {};
  for (const message of await readTopic(topic, broker)) {
    for (const line of (message.payload ?? "").split("\n").filter((text) => text.trim() !== "")) {
      const record = JSON.parse(line);
      const day = new Date(expectedFlowMs(record, "Z", message.timestamp)).toISOString().slice(0, 10);
      addToDay(totals, `${prefix}-${day}`, record);
    }
  }
  return totals;
}

/** Sum of the day totals' counts. */
export function totalCount(totals: DayTotals): number {
  return Object.values(totals).reduce((sum, day) => sum + day.count, 0);
}

/**
 * Waits until `target` holds as many documents of `prefix` as `expected` says, then compares
 * every day's count and sums, and checks that the bridge dead-lettered nothing and observed each
 * indexed record's age once.
 */
export async function assertIndexedTotals(
  bridge: BridgeProcess,
  prefix: string,
  expected: DayTotals,
  target: SearchTarget = MAIN_ELASTIC,
  counters: CounterFields = PMACCT_COUNTERS,
): Promise<void> {
  const total = totalCount(expected);
  await waitFor(
    `${total} documents in ${target.url} (log: ${bridge.logPath})`,
    async () => totalCount(await target.sums(prefix, counters)) >= total || undefined,
    120_000,
    500,
  );
  assert.deepEqual(await target.sums(prefix, counters), expected, "per-day documents, bytes and packets");
  assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, "dead letters");
  // Elasticsearch can show a document before the bridge has read the answer that acknowledges it.
  await waitFor(`${total} acknowledgements, each observed once as a flow age (log: ${bridge.logPath})`, async () => {
    const ages = await bridge.metric("pmacct_bridge_indexed_flow_age_seconds_count");
    const indexed = await bridge.metric("pmacct_bridge_documents_indexed_total");
    return (indexed >= total && ages === indexed) || undefined;
  }, 30_000);
}
