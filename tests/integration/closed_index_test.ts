/**
 * Late flows for a day whose index an operator closed, with `ELASTIC_MAX_RETRIES=3`: they are held
 * (retried for ever, never dead-lettered, never spending the budget), `/readyz` names the closed
 * index and how to reopen it, `pmacct_bridge_elasticsearch_blocked` counts it, today's records keep
 * flowing meanwhile, and once the index is reopened every record is indexed and the block resolved.
 */
import assert from "node:assert/strict";
import { createTopic, daysAgo, flowRecord, withKafka } from "../support/flow_records.ts";
import {
  alive,
  indexedSums,
  integrationTest,
  MAIN_ELASTIC,
  readiness,
  settingsOf,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

const BEFORE_CLOSING = 50;
const LATE = 100;
/** How long the index stays closed: past the budget's three retries many times over. */
const CLOSED_MS = 20_000;

integrationTest("late flows for a closed daily index are held and named, and indexed once it is reopened", async () => {
  const name = uniqueName("closed");
  const lateDay = daysAgo(3);
  const lateIndex = `${name}-${lateDay.toISOString().slice(0, 10)}`;
  const bridge = await startBridge({ ...settingsOf(name), ELASTIC_MAX_RETRIES: "3" });
  let closed = false;
  try {
    await withKafka(async (admin, produce) => {
      await createTopic(admin, name);
      await waitReady(bridge);
      let sequence = 0;
      const late = (count: number) => Array.from({ length: count }, () => flowRecord(sequence++, lateDay));
      await produce(name, late(BEFORE_CLOSING));
      await waitFor(
        `${lateIndex} to hold its first records (log: ${bridge.logPath})`,
        async () => (await indexedSums(name))[lateIndex]?.count === BEFORE_CLOSING || undefined,
      );

      await MAIN_ELASTIC.request("POST", `/${lateIndex}/_close`);
      closed = true;
      const closedAt = Date.now();
      await produce(name, late(LATE));
      const named = await waitFor(
        `/readyz naming the closed index (log: ${bridge.logPath})`,
        async () => {
          const { status, problems } = await readiness(bridge);
          return status === 503 && problems.elasticsearch_block?.includes(lateIndex) && problems.elasticsearch_block;
        },
        60_000,
        500,
      );
      assert.match(named, new RegExp(`index ${lateIndex} is closed`));
      assert.ok(named.includes(`POST /${lateIndex}/_open`), `the problem says how to reopen it: ${named}`);

      // Today's records flow past the held ones for as long as the index stays closed.
      let today = 0;
      while (Date.now() - closedAt < CLOSED_MS) {
        await produce(name, Array.from({ length: 10 }, () => flowRecord(sequence++)));
        today += 10;
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, "nothing dead-lettered");
        assert.ok(await bridge.metric("pmacct_bridge_elasticsearch_blocked") >= 1);
        assert.equal(await bridge.metric("pmacct_bridge_elasticsearch_up"), 1);
        assert.equal((await readiness(bridge)).status, 503);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      await waitFor(
        `today's ${today} records indexed while ${lateIndex} is closed (log: ${bridge.logPath})`,
        async () => {
          const sums = await indexedSums(name);
          const others = Object.entries(sums).filter(([index]) => index !== lateIndex);
          return others.reduce((sum, [, day]) => sum + day.count, 0) === today || undefined;
        },
        30_000,
      );

      await MAIN_ELASTIC.request("POST", `/${lateIndex}/_open`);
      closed = false;
      await waitFor(
        `every record indexed once ${lateIndex} is open again (log: ${bridge.logPath})`,
        async () => {
          const sums = await indexedSums(name);
          const all = Object.values(sums).reduce((sum, day) => sum + day.count, 0);
          return (sums[lateIndex]?.count === BEFORE_CLOSING + LATE && all === sequence) || undefined;
        },
      );
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, "nothing dead-lettered");
      assert.equal(await bridge.metric("pmacct_bridge_documents_rejected_total"), 0);
      await waitReady(bridge);
      assert.equal(await bridge.metric("pmacct_bridge_elasticsearch_blocked"), 0);
      assert.match(await waitForLog(bridge, "resolved"), /check=elasticsearch_block/);
      assert.ok(await alive(bridge));
    });
  } finally {
    if (closed) await MAIN_ELASTIC.request("POST", `/${lateIndex}/_open`).catch(() => {});
    await bridge.stop();
    await MAIN_ELASTIC.request("DELETE", `/${name}-*`).catch(() => {});
  }
});
