/**
 * A template file with settings, and an ingest pipeline, on the stack's main Elasticsearch: the
 * bridge waits for the pipeline it is told to use (not ready, the problem named), then every
 * record goes through it (the node's ingest statistics count them) into daily indices that carry
 * the file's codec, sort and refresh interval, without OpenSearch's ISM policy, with the
 * environment's shards and replicas over the file's.
 */
import assert from "node:assert/strict";
import { assertIndexedTotals, produceLiveTraffic } from "../support/live_traffic.ts";
import { REPO_ROOT } from "../support/fixtures.ts";
import { Kafka, logLevel } from "kafkajs";
import {
  integrationTest,
  KAFKA,
  MAIN_ELASTIC,
  readiness,
  recordOfNow,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

/** How many documents `pipeline` has processed, over every node. */
async function pipelineCount(pipeline: string): Promise<number> {
  const stats = await MAIN_ELASTIC.request("GET", "/_nodes/stats/ingest");
  let count = 0;
  for (
    const node of Object.values(
      stats.nodes as Record<string, { ingest: { pipelines: Record<string, { count: number }> } }>,
    )
  ) {
    count += node.ingest.pipelines[pipeline]?.count ?? 0;
  }
  return count;
}

/**
 * A pipeline with the one processor the stack's integ-test build has (`set_security_user`, which
 * writes who indexed the document): enough to see that documents went through it.
 */
async function createPipeline(pipeline: string): Promise<void> {
  await MAIN_ELASTIC.request("PUT", `/_ingest/pipeline/${pipeline}`, {
    description: "stands for GeoIP or ASN enrichment",
    processors: [{ set_security_user: { field: "enriched_by", properties: ["username"] } }],
  });
}

integrationTest("template settings land on each daily index; ELASTIC_PIPELINE is waited for, then used", async () => {
  const topic = uniqueName("settings");
  const pipeline = `${topic}-enrich`;
  const dir = await Deno.makeTempDir();
  const template = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}new-index-template.json`));
  template.settings = {
    index: {
      codec: "best_compression",
      sort: { field: ["@timestamp"], order: ["desc"] },
      number_of_shards: 3,
      // OpenSearch's; Elasticsearch is not sent it. (Elasticsearch's ILM needs a module the
      // stack's integ-test build lacks: it refuses `index.lifecycle.name`, so it is not tried here.)
      "plugins.index_state_management.policy_id": "flows-30d",
    },
    refresh_interval: "2s",
  };
  const templatePath = `${dir}/template.json`;
  await Deno.writeTextFile(templatePath, JSON.stringify(template));
  const expected = await produceLiveTraffic(topic, topic);
  const bridge = await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: topic,
    ELASTIC_INDEX_PREFIX: topic,
    ELASTIC_MAX_TIME_TO_SEND: "1",
    ELASTIC_INDEX_TEMPLATE: templatePath,
    ELASTIC_INDEX_SHARDS: "1",
    ELASTIC_PIPELINE: pipeline,
  });
  try {
    const problem = `ingest pipeline ${pipeline} (ELASTIC_PIPELINE) does not exist; waiting for it`;
    await waitFor("/readyz to name the missing pipeline", async () => {
      const { status, checks, problems } = await readiness(bridge);
      return status === 503 && checks.ingest_pipeline === false && problems.ingest_pipeline === problem;
    });
    assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), 0, "nothing indexed meanwhile");
    await createPipeline(pipeline);
    await waitReady(bridge);
    const connected = await waitForLog(bridge, "INFO  connected");
    assert.match(connected, /index\.plugins\.index_state_management\.policy_id left out/);
    assert.match(connected, /index\.number_of_shards is 1 from ELASTIC_INDEX_SHARDS, not the file's 3/);
    await assertIndexedTotals(bridge, topic, expected);
    assert.equal(await pipelineCount(pipeline), await bridge.metric("pmacct_bridge_documents_indexed_total"));
    const [sample] = await MAIN_ELASTIC.documents(topic, true);
    assert.ok((sample.source as { enriched_by?: { username?: string } }).enriched_by?.username, "the pipeline ran");

    // The pipeline deleted under the running bridge: its records wait (Elasticsearch answers 400
    // for them), none is dead-lettered, and they go in once it is back.
    await MAIN_ELASTIC.request("DELETE", `/_ingest/pipeline/${pipeline}`);
    const before = await bridge.metric("pmacct_bridge_documents_indexed_total");
    const producer = new Kafka({ clientId: "test-settings", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ value: recordOfNow(42) }] });
    await producer.disconnect();
    await waitForLog(bridge, `pipeline with id [${pipeline}] does not exist`);
    const deleted =
      `pipeline with id [${pipeline}] does not exist (ELASTIC_PIPELINE): its records wait until it exists`;
    await waitFor("/readyz to name the deleted pipeline", async () => {
      const { status, checks, problems } = await readiness(bridge);
      return status === 503 && checks.ingest_pipeline === false && problems.ingest_pipeline === deleted;
    });
    assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
    assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), before);
    await createPipeline(pipeline);
    await waitFor(
      "the waiting record indexed",
      async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) === before + 1,
    );
    await waitReady(bridge);
    assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);

    const settings = await MAIN_ELASTIC.request("GET", `/${topic}-*/_settings?flat_settings=true`);
    assert.ok(Object.keys(settings).length >= 1);
    for (
      const [index, { settings: actual }] of Object.entries(
        settings as Record<string, { settings: Record<string, unknown> }>,
      )
    ) {
      assert.equal(actual["index.codec"], "best_compression", index);
      assert.deepEqual(actual["index.sort.field"], ["@timestamp"], index);
      assert.deepEqual(actual["index.sort.order"], ["desc"], index);
      assert.equal(actual["index.refresh_interval"], "2s", index);
      assert.equal(actual["index.number_of_shards"], "1", index);
      assert.equal(actual["index.number_of_replicas"], "0", index);
    }
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
    await MAIN_ELASTIC.request("DELETE", `/_ingest/pipeline/${pipeline}`).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
