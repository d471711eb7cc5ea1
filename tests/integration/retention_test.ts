/**
 * `ELASTIC_RETENTION` on real servers (the main Elasticsearch, then OpenSearch): two copies of the
 * bridge start at once, each applies retention, and together they delete exactly the prefix's
 * old-dated indices, once; today's and yesterday's, another prefix's and names that do not parse
 * as a date all stay.
 */
import assert from "node:assert/strict";
import { SearchTarget } from "../support/search_target.ts";
import {
  type BridgeProcess,
  ensureTopic,
  integrationTest,
  logLines,
  MAIN_ELASTIC,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

async function assertRetention(target: SearchTarget) {
  // One reading of the clock, so that no two days are the same one across midnight.
  const now = Date.now();
  const day = (daysAgo: number) => new Date(now - daysAgo * 86_400_000).toISOString().slice(0, 10);
  const prefix = uniqueName("retention");
  const expired = [`${prefix}-2020-01-01`, `${prefix}-${day(40)}`];
  const kept = [
    `${prefix}-${day(0)}`,
    `${prefix}-${day(1)}`,
    `${prefix}-${day(25)}`,
    `${prefix}-eu-2020-01-01`,
    `${prefix}-2020-02-30`,
    `${prefix}-archive`,
  ];
  for (const index of [...expired, ...kept]) await target.request("PUT", `/${index}`);
  await ensureTopic(prefix);
  const env = {
    KAFKA_TOPIC: prefix,
    KAFKA_CONSUMER_GROUP_ID: prefix,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_HOSTS: new URL(target.url).host,
    ELASTIC_RETENTION: "30d",
  };
  const bridges: BridgeProcess[] = await Promise.all([startBridge(env), startBridge(env)]);
  try {
    await Promise.all(bridges.map((bridge) => waitReady(bridge)));
    const deleted = async () => {
      let total = 0;
      for (const bridge of bridges) total += await bridge.metric("pmacct_bridge_retention_deleted_indices_total");
      return total;
    };
    await waitFor("both expired indices deleted", async () => (await deleted()) === expired.length, 30_000);
    const remaining = (await target.request("GET", `/_cat/indices/${prefix}*?format=json&h=index`))
      .map((row: { index: string }) => row.index).sort();
    assert.deepEqual(remaining, [...kept].sort());
    const logged = (await Promise.all(bridges.map((bridge) => logLines(bridge, "index deleted by retention")))).flat();
    assert.equal(logged.length, expired.length, logged.join("\n"));
    for (const index of expired) assert.ok(logged.some((line) => line.includes(`index=${index}`)), index);
    for (const bridge of bridges) {
      assert.equal(await bridge.metric("pmacct_bridge_retention_failures_total"), 0);
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    }
  } finally {
    for (const bridge of bridges) await bridge.stop("SIGKILL");
    await target.request("DELETE", `/${kept.join(",")}`).catch(() => {});
  }
}

integrationTest(
  "retention on Elasticsearch deletes old-dated daily indices of the prefix, and nothing else",
  async () => {
    await assertRetention(MAIN_ELASTIC);
  },
);

integrationTest("retention works the same on OpenSearch", async () => {
  await stack("up", "opensearch");
  try {
    await assertRetention(new SearchTarget("http://127.0.0.1:9203"));
  } finally {
    await stack("down", "opensearch");
  }
});
