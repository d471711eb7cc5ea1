/**
 * Where a record lands, on the paths where it used to land on top of another or in a day of its
 * own making: two Kafka clusters with one topic name into one prefix (ids carry the cluster id),
 * two bridges whose prefixes overlap (`P` and `P-eu`), and exporter clocks that cannot be right
 * (their flows go to the Kafka time's day, and no other daily index appears).
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { dayOfIndex } from "../../lib/elastic/index_name.ts";
import { FLOW_TIME_FIELDS } from "../../lib/pmacct/flow_time.ts";
import { addToDay, type DayTotals } from "../support/flow_oracle.ts";
import { fixtureRecordFiles, REPO_ROOT } from "../support/fixtures.ts";
import { expectedTotals, totalCount } from "../support/live_traffic.ts";
import {
  type BridgeProcess,
  elastic,
  ensureTopic,
  indexedDocuments,
  integrationTest,
  KAFKA,
  KAFKA4,
  kafkaClusterId,
  logLines,
  MAIN_ELASTIC,
  makeTrafficPcap,
  recordPartOfId,
  replaySyntheticTraffic,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const AGGREGATE = "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start, timestamp_end";

/** The documents of `prefix`'s own daily indices (not of a longer prefix that starts with it), per day. */
async function ownTotals(prefix: string, keep = (_id: string) => true): Promise<DayTotals> {
  const totals: DayTotals = {};
  for (const document of await indexedDocuments(prefix, true)) {
    if (dayOfIndex(prefix, document.index) !== undefined && keep(document.id)) {
      addToDay(totals, document.index, document.source!);
    }
  }
  return totals;
}

async function waitIndexed(bridge: BridgeProcess, total: number): Promise<void> {
  await waitFor(
    `${total} documents indexed (log: ${bridge.logPath})`,
    async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= total || undefined,
    180_000,
  );
}

integrationTest("two Kafka clusters, one topic name, one prefix: neither overwrites the other", async () => {
  await stack("up", "kafka4");
  const name = uniqueName("twosites");
  const brokers = [KAFKA, KAFKA4];
  const dir = await Deno.makeTempDir();
  const expected: DayTotals[] = [];
  try {
    // The same capture through pmacct into both: records at the same offsets from 0 (a replay
    // pmacct cut short is replayed, so the two topics may differ past that).
    const pcap = await makeTrafficPcap(dir);
    for (const broker of brokers) {
      await ensureTopic(name, broker);
      await replaySyntheticTraffic(name, AGGREGATE, pcap, broker);
      expected.push(await expectedTotals(name, name, broker));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const clusters = await Promise.all(brokers.map((broker) => kafkaClusterId(broker)));
  assert.notEqual(clusters[0], clusters[1]);

  const bridges = await Promise.all(brokers.map((broker) =>
    startBridge({
      KAFKA_BOOTSTRAP_SERVERS: broker,
      KAFKA_TOPIC: name,
      KAFKA_CONSUMER_GROUP_ID: name,
      ELASTIC_INDEX_PREFIX: name,
      ELASTIC_MAX_TIME_TO_SEND: "1",
    })
  ));
  try {
    for (const [i, bridge] of bridges.entries()) await waitIndexed(bridge, totalCount(expected[i]));
    for (const [i, cluster] of clusters.entries()) {
      const ofCluster = await ownTotals(name, (id) => !recordPartOfId(id, cluster).startsWith("(not"));
      assert.deepEqual(ofCluster, expected[i], `cluster ${cluster}: per-day documents, bytes and packets`);
    }
    const all = await MAIN_ELASTIC.sums(name);
    assert.equal(
      totalCount(all),
      totalCount(expected[0]) + totalCount(expected[1]),
      "both clusters' documents are there",
    );
    for (const bridge of bridges) assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    for (const bridge of bridges) await bridge.stop("SIGKILL");
  }
});

integrationTest("prefixes P and P-eu at once: each indexes all of its own, with its own template", async () => {
  const short = uniqueName("overlap");
  const long = `${short}-eu`;
  const dir = await Deno.makeTempDir();
  // P-eu's template maps one more field, so each index shows whose template it got.
  const template = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}new-index-template.json`));
  template.mappings.properties.eu_site = { type: "keyword" };
  const euTemplate = `${dir}/eu-template.json`;
  await Deno.writeTextFile(euTemplate, JSON.stringify(template));
  const expected: Record<string, DayTotals> = {};
  const bridges: BridgeProcess[] = [];
  try {
    for (const prefix of [short, long]) {
      await ensureTopic(prefix);
      await replaySyntheticTraffic(prefix, AGGREGATE);
      expected[prefix] = await expectedTotals(prefix, prefix);
    }
    for (const prefix of [short, long]) {
      bridges.push(
        await startBridge({
          KAFKA_TOPIC: prefix,
          KAFKA_CONSUMER_GROUP_ID: prefix,
          ELASTIC_INDEX_PREFIX: prefix,
          ELASTIC_MAX_TIME_TO_SEND: "1",
          ...(prefix === long ? { ELASTIC_INDEX_TEMPLATE: euTemplate } : {}),
        }),
      );
    }
    for (const [i, prefix] of [short, long].entries()) {
      await waitReady(bridges[i]);
      await waitIndexed(bridges[i], totalCount(expected[prefix]));
      assert.deepEqual(await ownTotals(prefix), expected[prefix], `${prefix}: per-day documents, bytes and packets`);
    }
    const mappings = await elastic.indices.getMapping({ index: `${short}-*` });
    for (const [index, { mappings: { properties } }] of Object.entries(mappings)) {
      const euSite = properties?.eu_site !== undefined;
      assert.equal(euSite, index.startsWith(`${long}-`), `${index} got its own prefix's template`);
    }
    for (const prefix of [short, long]) {
      const simulated = await elastic.indices.simulateIndexTemplate({ name: `${prefix}-2026-12-01` });
      assert.deepEqual(simulated.overlapping ?? [], [], `${prefix}: no other template matches its indices`);
    }
    for (const bridge of bridges) assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    for (const bridge of bridges) await bridge.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

integrationTest(
  "exporter clocks at 2000-01-01 and 2040-06-01, and a time at a date's end: all in today's index",
  async () => {
    const prefix = uniqueName("clocks");
    await ensureTopic(prefix);
    // Real nfacctd records (Debian's pmacct), as an exporter with a wrong clock would send them.
    const { lines } = fixtureRecordFiles().find(({ path }) => path.endsWith("nfacctd-softflowd-v9-utc.json"))!;
    const wrong = [
      ["2000-01-01 00:00:00.000000", "192.0.2.1"],
      ["2040-06-01 00:00:00.000000", "192.0.2.2"],
      ["8639999999999.9", "192.0.2.3"],
      ["2000-01-01 00:00:00.000000", "192.0.2.1"],
    ];
    // Every time field of the record says the wrong time, as an exporter's clock would.
    const records = wrong.map(([time, exporter], i) => {
      const record = JSON.parse(lines[i]);
      for (const field of FLOW_TIME_FIELDS) if (field in record) record[field] = time;
      return { ...record, peer_ip_src: exporter };
    });
    const sentAt = Date.now();
    const producer = new Kafka({ clientId: "clocks", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    try {
      await producer.send({
        topic: prefix,
        messages: records.map((record) => ({ value: JSON.stringify(record), timestamp: String(sentAt) })),
      });
    } finally {
      await producer.disconnect();
    }
    const bridge = await startBridge({
      KAFKA_TOPIC: prefix,
      KAFKA_CONSUMER_GROUP_ID: prefix,
      ELASTIC_INDEX_PREFIX: prefix,
      ELASTIC_MAX_TIME_TO_SEND: "1",
      // The defaults (7d back, 1h ahead), not the tests' replay setting.
      FLOW_TIME_MAX_AGE: "",
    });
    try {
      await waitIndexed(bridge, records.length);
      const today = `${prefix}-${new Date(sentAt).toISOString().slice(0, 10)}`;
      const documents = await indexedDocuments(prefix, true);
      assert.deepEqual(documents.map((document) => document.index), records.map(() => today));
      const indices = await elastic.cat.indices({ index: `${prefix}-*`, h: "index", format: "json" });
      assert.deepEqual(indices.map((entry) => entry.index), [today], "no other daily index exists");
      for (const document of documents) {
        assert.equal(document.source!["@timestamp"], new Date(sentAt).toISOString(), document.id);
      }
      const refused = (reason: string) => bridge.metric(`pmacct_bridge_flow_time_refused_total{reason="${reason}"}`);
      // The time at a date's end is past year 9999: no time at all, so the Kafka time, not a refusal.
      assert.equal(await bridge.metric("pmacct_bridge_flow_time_refused_total"), 3);
      assert.equal(await refused("too_old"), 2);
      assert.equal(await refused("too_far_ahead"), 1);
      const logged = await logLines(bridge, "flow time refused");
      assert.equal(logged.length, 2, `once per exporter: ${logged.join("\n")}`);
      assert.match(logged.find((line) => line.includes("192.0.2.1"))!, /reason=too_old field=timestamp_start/);
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
    }
  },
);
