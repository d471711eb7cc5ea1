/**
 * The fault suite: each scenario breaks a real server (or the bridge) while pmacct records flow,
 * then checks that produced = indexed + dead-lettered with no duplicates, and prints the table.
 * `deno task chaos` runs it alone; `deno task chaos --long` runs the long versions.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { alive, integrationTest, KAFKA, readiness, stack, waitFor, waitForLog, waitReady } from "../support/stack.ts";
import { SearchTarget } from "../support/search_target.ts";
import { startFaultProxy } from "./fault_proxy.ts";
import { INDEXED, indexedAtLeast, LONG, metricOf, recover, Scenario, tableTest } from "./harness.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const chaos = integrationTest;

chaos("1. SIGKILL of the bridge at random points mid-stream, several times in a row", async () => {
  const kills = LONG ? 20 : 5;
  const scenario = new Scenario(`1. SIGKILL ×${kills} mid-stream`, "kill");
  try {
    await scenario.replay(LONG ? 20 : 5);
    // Small sequential batches stretch the stream so that every kill lands in its middle.
    const env = { ELASTIC_MAX_SAMPLES_PER_SEND: "100", ELASTIC_BULK_CONCURRENCY: "1", KAFKA_SESSION_TIMEOUT: "6" };
    for (let kill = 1; kill <= kills; kill++) {
      const bridge = await scenario.startBridge(env);
      await waitReady(bridge);
      await indexedAtLeast(bridge, 300 + Math.floor(Math.random() * 1500));
      await bridge.stop("SIGKILL");
      const { missing } = await scenario.account();
      assert.ok(missing > 0, `kill ${kill} came after the stream was done: not mid-stream`);
    }
    const since = Date.now();
    const last = await scenario.startBridge({ KAFKA_SESSION_TIMEOUT: "6" });
    await recover(scenario, since);
    assert.equal(await alive(last), true);
  } finally {
    await scenario.cleanUp();
  }
});

chaos("2. Elasticsearch stopped under load, then started again", async () => {
  const outageMs = (LONG ? 180 : 60) * 1000;
  const scenario = new Scenario(`2. Elasticsearch down ${outageMs / 1000} s under load`, "esdown");
  try {
    await scenario.replay();
    const env = { ELASTIC_MAX_SAMPLES_PER_SEND: "500", ELASTIC_MAX_BUFFERED_SAMPLES: "2000", SHUTDOWN_TIMEOUT: "5" };
    const bridge = await scenario.startBridge(env);
    await waitReady(bridge);
    scenario.startLoad();
    await indexedAtLeast(bridge, 1);
    await stack("down", "elasticsearch");
    const downAt = Date.now();
    // While the fault lasts: fetching paused, memory bounded, retries counted, not ready.
    await waitFor("the bridge to pause fetching", async () => (await metricOf(bridge, "pmacct_bridge_paused")) === 1);
    assert.ok((await metricOf(bridge, "pmacct_bridge_buffered_records")) <= 2000, "the buffer grew past its bound");
    assert.ok((await metricOf(bridge, "pmacct_bridge_documents_retried_total")) > 0, "no retries counted");
    await waitFor("/readyz to report Elasticsearch down", async () => {
      const { status, checks } = await readiness(bridge);
      return status === 503 && checks.elasticsearch === false;
    });
    assert.equal(await metricOf(bridge, "pmacct_bridge_elasticsearch_up"), 0);
    assert.equal(await alive(bridge), true, "the bridge died during the outage");
    // SIGTERM while nothing can be indexed: exits within its bound, committing nothing unindexed.
    const stopping = Date.now();
    const { code } = await bridge.stop("SIGTERM");
    const stopSeconds = (Date.now() - stopping) / 1000;
    assert.equal(code, 1, "a shutdown that could not flush must say so");
    assert.ok(stopSeconds < 15, `SHUTDOWN_TIMEOUT=5 but the bridge took ${stopSeconds} s to exit`);
    const successor = await scenario.startBridge(env);
    await sleep(Math.max(0, downAt + outageMs - Date.now()));
    await stack("up", "elasticsearch");
    const since = Date.now();
    await scenario.stopLoad();
    await recover(scenario, since);
    assert.equal(await metricOf(successor, "pmacct_bridge_paused"), 0);
    assert.equal((await readiness(successor)).status, 200);
  } finally {
    await scenario.cleanUp();
    await stack("up", "elasticsearch");
  }
});

chaos("3. The Kafka broker restarted under load", async () => {
  const scenario = new Scenario("3. Kafka broker restarted under load", "kafkarestart");
  try {
    await scenario.replay(LONG ? 12 : 4);
    const bridge = await scenario.startBridge({ ELASTIC_MAX_SAMPLES_PER_SEND: "100", ELASTIC_BULK_CONCURRENCY: "1" });
    await waitReady(bridge);
    await indexedAtLeast(bridge, 2000);
    await stack("down", "kafka");
    await waitFor("/readyz to report Kafka gone", async () => (await readiness(bridge)).checks.kafka === false)
      .catch(() => {}); // kafkajs may notice only once it reconnects; the records are what counts
    await stack("up", "kafka");
    const since = Date.now();
    await scenario.replay();
    await recover(scenario, since);
    assert.equal(await alive(bridge), true, "the bridge died with the broker");
  } finally {
    await scenario.cleanUp();
    await stack("up", "kafka");
  }
});

chaos("4. Two bridges in one group; one is SIGKILLed, later a third joins", async () => {
  const scenario = new Scenario("4. 2 bridges, 1 SIGKILLed, a 3rd joins", "group");
  try {
    await scenario.replay(LONG ? 9 : 3);
    const env = { ELASTIC_MAX_SAMPLES_PER_SEND: "100", ELASTIC_BULK_CONCURRENCY: "1", KAFKA_SESSION_TIMEOUT: "10" };
    const first = await scenario.startBridge(env);
    const second = await scenario.startBridge(env);
    await Promise.all([waitReady(first), waitReady(second)]);
    scenario.startLoad();
    await Promise.all([indexedAtLeast(first, 200), indexedAtLeast(second, 200)]);
    await first.stop("SIGKILL");
    const killedAt = Date.now();
    await sleep(LONG ? 20_000 : 5_000);
    const third = await scenario.startBridge(env);
    await waitReady(third);
    await scenario.stopLoad();
    await recover(scenario, killedAt, []);
    assert.ok((await metricOf(third, INDEXED)) > 0 || (await metricOf(second, INDEXED)) > 0);
  } finally {
    await scenario.cleanUp();
  }
});

chaos("5. A 429 storm: Elasticsearch answering too many requests for a while", async () => {
  const stormMs = (LONG ? 120 : 20) * 1000;
  const scenario = new Scenario(`5. 429 storm for ${stormMs / 1000} s`, "storm");
  const proxy = startFaultProxy();
  try {
    await scenario.replay(2);
    const bridge = await scenario.startBridge({ ELASTIC_HOSTS: proxy.url, ELASTIC_MAX_SAMPLES_PER_SEND: "200" });
    await waitReady(bridge);
    proxy.storm = true;
    scenario.startLoad();
    await sleep(stormMs);
    const during = await bridge.metric('pmacct_bridge_documents_retried_total{status="429"}');
    assert.ok(proxy.rejected > 0 && during > 0, `no 429 seen (proxy ${proxy.rejected}, bridge ${during})`);
    assert.equal(await alive(bridge), true, "the bridge died of a 429");
    proxy.storm = false;
    const since = Date.now();
    await scenario.stopLoad();
    const row = await recover(scenario, since);
    assert.equal(row.deadLettered, 0, "a 429 is load, not bad data");
  } finally {
    await scenario.cleanUp();
    await proxy.close();
  }
});

chaos("6. Poison input among good records goes to the dead-letter topic with its reason", async () => {
  const scenario = new Scenario("6. poison input (5 kinds)", "poison");
  try {
    await scenario.replay();
    const huge = `{"note":"${"x".repeat(10 * 1024 * 1024)}"}`;
    const poison: Array<{ value: string | null; reason: RegExp }> = [
      { value: '{"bytes": 1, "packets": ', reason: /^invalid_json$/ },
      {
        value: '{"ip_src":"not-an-address","bytes":10,"packets":1,"timestamp_start":"2026-11-25 10:00:00"}',
        reason: /parsing_exception$/,
      },
      { value: "", reason: /^empty_message$/ },
      { value: null, reason: /^empty_message$/ },
      { value: huge, reason: /^record_too_large$/ },
    ];
    const producer = new Kafka({ clientId: "chaos-poison", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    const sent = await producer.send({
      topic: scenario.topic,
      acks: -1,
      messages: poison.map(({ value }) => ({ partition: 0, value })),
    });
    await producer.disconnect();
    await scenario.replay();
    const firstOffset = Number(sent[0].baseOffset);

    const since = Date.now();
    const bridge = await scenario.startBridge();
    const row = await recover(scenario, since);
    assert.equal(row.deadLettered, poison.length);
    const { letters } = await scenario.account();
    for (const [i, { value, reason }] of poison.entries()) {
      const key = `${scenario.topic}:0:${firstOffset + i}:0`;
      const letter = letters.find((candidate) => candidate.key === key);
      assert.ok(letter, `no dead letter for ${key}`);
      assert.match(letter.headers["dlq.reason"], reason, key);
      assert.equal(letter.headers["dlq.source.topic"], scenario.topic);
      assert.equal(letter.headers["dlq.source.partition"], "0");
      assert.equal(letter.headers["dlq.source.offset"], String(firstOffset + i));
      assert.equal((letter.payload ?? "").length, (value ?? "").length, `${key} does not carry the original bytes`);
    }
    for (const reason of ["invalid_json", "empty_message", "record_too_large"]) {
      assert.ok(await bridge.metric(`pmacct_bridge_dead_letters_total{reason="${reason}"}`) >= 1, reason);
    }
    assert.equal(await alive(bridge), true);
  } finally {
    await scenario.cleanUp();
  }
});

chaos("7a. A wrong password: loud, not ready, no crash loop, resumes once the account is fixed", async () => {
  const scenario = new Scenario("7a. wrong password, then fixed", "auth");
  const user = scenario.topic.slice(0, 40);
  const password = "chaos-password-7";
  await stack("user", "del", user).catch(() => {});
  try {
    await scenario.replay();
    const bridge = await scenario.startBridge({ ELASTIC_USERNAME: user, ELASTIC_PASSWORD: password });
    await waitForLog(bridge, "refused the credentials");
    await waitFor("/readyz to report the credentials refused", async () => {
      const { status, checks } = await readiness(bridge);
      return status === 503 && checks.elasticsearch_credentials === false;
    });
    assert.equal(await metricOf(bridge, "pmacct_bridge_elasticsearch_auth_failed"), 1);
    await sleep(5000);
    assert.equal(await alive(bridge), true, "the bridge exited on a wrong password");
    assert.equal((await scenario.account()).indexed, 0);

    await stack("user", "add", user, password);
    const since = Date.now();
    await waitReady(bridge, 60_000);
    const first = await scenario.settle(since);
    assert.equal(first.missing, 0);

    // The password is revoked while running: retried like an outage, never dead-lettered.
    await stack("user", "del", user);
    // The file realm reloads every 5 s and caches users until then: wait for a real 401.
    await waitFor(
      "Elasticsearch to refuse the deleted user",
      async () => {
        const response = await fetch("http://127.0.0.1:9200/_security/_authenticate", {
          headers: { authorization: `Basic ${btoa(`${user}:${password}`)}` },
        });
        await response.body?.cancel();
        return response.status === 401;
      },
      60_000,
      500,
    );
    await scenario.replay();
    await waitFor(
      "the bridge to report the credentials refused",
      async () => (await metricOf(bridge, "pmacct_bridge_elasticsearch_auth_failed")) === 1,
      60_000,
    );
    await stack("user", "add", user, password);
    const row = await recover(scenario, Date.now());
    assert.equal(row.deadLettered, 0, "a refused password is not bad data");
  } finally {
    await scenario.cleanUp();
    await stack("user", "del", user).catch(() => {});
  }
});

chaos("7b. Elasticsearch unreachable at start: not ready, no crash loop, indexing once it is up", async () => {
  const scenario = new Scenario("7b. Elasticsearch unreachable at start", "esstart");
  try {
    await scenario.replay();
    await stack("down", "elasticsearch");
    const bridge = await scenario.startBridge();
    await waitForLog(bridge, "cannot reach Elasticsearch");
    const { status, checks } = await readiness(bridge);
    assert.equal(status, 503);
    assert.equal(checks.elasticsearch, false);
    await sleep(5000);
    assert.equal(await alive(bridge), true, "the bridge exited while Elasticsearch was down");
    await stack("up", "elasticsearch");
    const since = Date.now();
    await recover(scenario, since);
    assert.equal((await readiness(bridge)).status, 200);
  } finally {
    await scenario.cleanUp();
    await stack("up", "elasticsearch");
  }
});

chaos("8. One of three Elasticsearch nodes SIGKILLed under load: indexing goes on through the others", async () => {
  const nodes = ["127.0.0.1:9211", "127.0.0.1:9212", "127.0.0.1:9213"];
  await stack("up", "escluster");
  const scenario = new Scenario(
    "8. 3-node cluster, 1 node SIGKILLed under load",
    "cluster",
    { target: new SearchTarget(`http://${nodes[0]}`) },
  );
  try {
    await scenario.replay();
    const bridge = await scenario.startBridge({
      ELASTIC_HOSTS: nodes.join(","),
      ELASTIC_INDEX_SHARDS: "3",
      ELASTIC_INDEX_REPLICAS: "1",
      ELASTIC_MAX_SAMPLES_PER_SEND: "500",
    });
    await waitReady(bridge);
    scenario.startLoad();
    await indexedAtLeast(bridge, 2000);
    // One replica protects a shard only once it is in sync: a node lost before that (a second
    // after the index was created) takes the only copy with it, and Elasticsearch holds writes
    // to that shard until it is back. The fault is a node lost from a healthy cluster.
    const green = await scenario.target.request(
      "GET",
      `/_cluster/health/${scenario.topic}-*?wait_for_status=green&timeout=60s`,
    );
    assert.equal(green.status, "green", "the cluster was green before the kill");
    await stack("kill", "escluster-2");
    const since = Date.now();
    const atKill = await metricOf(bridge, INDEXED);
    // The load goes on while the cluster is one node short, and so does indexing.
    await sleep(LONG ? 60_000 : 15_000);
    assert.ok(await metricOf(bridge, INDEXED) > atKill, "nothing was indexed while the node was down");
    await scenario.stopLoad();
    await recover(scenario, since);
    assert.equal(await alive(bridge), true);
    const health = await scenario.target.request("GET", "/_cluster/health");
    assert.equal(health.number_of_nodes, 2, "the killed node stayed down");
  } finally {
    await scenario.cleanUp();
    await stack("down", "escluster");
  }
});

tableTest("chaos-table.md");
