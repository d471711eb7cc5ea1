/**
 * Records of 100 KB (wide multi-value messages, long labels or custom primitives): held in memory
 * by their bytes as well as their count (`ELASTIC_MAX_BUFFERED_BYTES`), so 2,000 of them (200 MB)
 * keep the bridge's peak RSS near the bound plus its floor instead of growing the heap to its
 * limit (before: 4 GB and a crash loop), and every one is indexed. The records are pmacct's shape
 * with a 100 KB `label`, produced with kafkajs: pmacct writes labels that long only from a
 * pre-tag map built for it.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import {
  indexedSums,
  integrationTest,
  KAFKA,
  settingsOf,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";
import { totalCount } from "../support/live_traffic.ts";

const RECORDS = 2000;
const LABEL_BYTES = 100_000;
/** The bar: the bound (32 MB by default) plus the bridge's floor (about 110 MB), with room. */
const PEAK_RSS_MB = 400;

/** The process's peak resident set (Linux `VmHWM`), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

integrationTest("2,000 records of 100 KB: all indexed, the peak RSS held near the bytes bound", async () => {
  const topic = uniqueName("large");
  const kafka = new Kafka({ clientId: "test-large", brokers: [KAFKA], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, configEntries: [{ name: "max.message.bytes", value: "16777216" }] }],
    });
    const stamp = new Date().toISOString().slice(0, 19).replace("T", " ");
    let bytes = 0;
    for (let from = 0; from < RECORDS; from += 50) {
      const messages = Array.from({ length: 50 }, (_, i) => {
        bytes += from + i;
        return {
          value: JSON.stringify({ bytes: from + i, packets: 1, stamp_inserted: stamp, label: "x".repeat(LABEL_BYTES) }),
        };
      });
      await producer.send({ topic, acks: -1, messages });
    }
    const bridge = await startBridge(settingsOf(topic));
    try {
      await waitReady(bridge);
      await waitFor(
        `${RECORDS} documents`,
        async () => totalCount(await indexedSums(topic)) === RECORDS || undefined,
        180_000,
        1000,
      );
      const sums = Object.values(await indexedSums(topic));
      assert.equal(sums.reduce((sum, day) => sum + day.bytes, 0), bytes, "every record, by its bytes");
      const peak = await peakRssMb(bridge.child.pid);
      assert.ok(peak <= PEAK_RSS_MB, `peak RSS ${peak.toFixed(0)} MB > ${PEAK_RSS_MB} MB`);
      console.log(`peak RSS ${peak.toFixed(0)} MB for ${RECORDS} records of ${LABEL_BYTES / 1000} KB`);
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
    } finally {
      await bridge.stop("SIGKILL");
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
});
