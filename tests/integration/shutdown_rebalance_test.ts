/**
 * Shutdown tells the truth on the real Kafka and Elasticsearch: a copy told to stop while
 * Elasticsearch holds its requests, whose partitions a second copy's join takes during the drain,
 * exits 1 and says what it left to the partitions' next owner (it used to exit 0, "everything
 * buffered was indexed and committed"), and the second copy indexes every record once.
 */
import assert from "node:assert/strict";
import { startFaultProxy } from "../chaos/fault_proxy.ts";
import {
  allIds,
  committedOffset,
  integrationTest,
  logLines,
  recordOfNow,
  settingsOf,
  startBridge,
  waitFor,
  waitForLog,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";

const RECORDS = 2000;

integrationTest(
  "a rebalance during the shutdown drain: exit 1, naming what the next owner reads again",
  () =>
    withScratchTopic("drainrebalance", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: RECORDS }, (_, n) => ({ value: recordOfNow(n), partition: n % 2 })),
      });
      // Elasticsearch behind a proxy that holds every `_bulk` until the test lets it go.
      const proxy = startFaultProxy();
      proxy.bulkDelayMs = 600_000;
      const settings = { ...settingsOf(topic), KAFKA_AUTO_OFFSET_RESET: "earliest", SHUTDOWN_TIMEOUT: "300" };
      const first = await startBridge({ ...settings, ELASTIC_HOSTS: proxy.url });
      let second: Awaited<ReturnType<typeof startBridge>> | undefined;
      try {
        await waitReady(first);
        await waitFor("the first copy's requests held by Elasticsearch", () =>
          Promise.resolve(proxy.held > 0 || undefined));
        const stopped = first.stop("SIGTERM");
        await waitForLog(first, "shutting down: flushing buffered records");
        second = await startBridge(settings);
        await waitReady(second);
        await waitFor(
          `the second copy indexing its share (log: ${second.logPath})`,
          async () =>
            (await second!.metric("pmacct_bridge_documents_indexed_total")) > 0 || undefined,
          120_000,
        );
        proxy.bulkDelayMs = 0;
        const { code } = await stopped;
        assert.equal(code, 1, `the first copy's exit (log: ${first.logPath})`);
        const said = await logLines(first, "shutdown incomplete");
        assert.equal(said.length, 1, `(log: ${first.logPath})`);
        assert.match(
          said[0],
          /a rebalance during the drain gave \d+ offsets taken but not committed to their next owner/,
        );
        assert.deepEqual(await logLines(first, "shutdown complete"), []);
        await waitFor(
          `every record indexed and both partitions committed to the end (log: ${second.logPath})`,
          async () => {
            const commits = await Promise.all(
              [0, 1].map((partition) => committedOffset(admin, topic, topic, partition)),
            );
            return commits.every((offset) => offset === RECORDS / 2) && (await allIds(topic)).length === RECORDS ||
              undefined;
          },
          120_000,
          1000,
        );
        const ids = await allIds(topic);
        assert.equal(new Set(ids).size, RECORDS, "each record once");
        assert.equal((await second.stop("SIGTERM")).code, 0);
      } finally {
        proxy.bulkDelayMs = 0;
        await first.stop("SIGKILL");
        await second?.stop("SIGKILL");
        await proxy.close();
      }
    }),
);
