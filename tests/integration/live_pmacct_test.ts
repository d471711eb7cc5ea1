/**
 * Live pmacct → real Kafka → bridge → real Elasticsearch: per daily index, the documents, bytes
 * and packets in Elasticsearch equal what pmacct produced into Kafka.
 */
import assert from "node:assert/strict";
import {
  elastic,
  expectedSums,
  FIXTURE_CAPTURES,
  indexedSums,
  readTopic,
  replaySyntheticTraffic,
  runPmacct,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

Deno.test("live pmacctd and nfacctd output lands in daily indices with pmacct's counts and sums", async () => {
  const topic = uniqueName("live");
  const prefix = topic;
  await replaySyntheticTraffic(
    topic,
    "src_host, dst_host, src_port, dst_port, proto, tos, src_mac, dst_mac, vlan, timestamp_start, timestamp_end",
  );
  for (const capture of FIXTURE_CAPTURES) {
    await runPmacct({
      daemon: "nfacctd",
      pcap: capture,
      topic,
      aggregate:
        "peer_src_ip, src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface, timestamp_start, timestamp_end",
      extra: ["timestamps_since_epoch: true", "timestamps_utc: true"],
    });
  }
  const messages = await readTopic(topic);
  const expected = expectedSums(messages, prefix);
  const total = Object.values(expected).reduce((sum, day) => sum + day.count, 0);
  assert.ok(total >= 5000 + 78, `pmacct produced only ${total} records`);
  assert.ok(
    Object.keys(expected).some((index) => index.startsWith(`${prefix}-2023-`)),
    "fixture captures carry 2023 flows",
  );

  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_MAX_TIME_TO_SEND: "1",
  });
  try {
    await waitReady(bridge);
    await waitFor(
      "every record indexed",
      async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= total || undefined,
    );
    assert.deepEqual(await indexedSums(prefix), expected);
    assert.equal(await bridge.metric("samples_count_total"), total);
    assert.equal(await bridge.metric("pmacct_bridge_documents_rejected_total"), 0);
    await waitFor(
      "every offset committed",
      async () => (await bridge.metric("pmacct_bridge_kafka_committed_offset")) === messages.length || undefined,
      30_000,
    );

    const mappings = await elastic.indices.getMapping({ index: `${prefix}-*` });
    for (const [index, { mappings: mapping }] of Object.entries(mappings)) {
      const properties = mapping.properties!;
      assert.equal(properties.ip_src?.type, "ip", index);
      assert.equal(properties.bytes?.type, "long", index);
      assert.equal(properties["@timestamp"]?.type, "date", index);
    }
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
  }
});
