/**
 * `LOG_FORMAT=json`: every line a bridge prints through a run with faults (an overloaded
 * Elasticsearch answering 429, a message that is not JSON, a shutdown) parses as one JSON object
 * with `@timestamp`, `log.level` and `message`. Nothing else reaches stdout or stderr.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { startFaultProxy } from "../chaos/fault_proxy.ts";
import { fixtureRecordFiles } from "../support/fixtures.ts";
import { ensureTopic, integrationTest, KAFKA, startBridge, uniqueName, waitFor, waitReady } from "../support/stack.ts";

integrationTest(
  "LOG_FORMAT=json: every line of a run with faults is a JSON object with @timestamp, log.level, message",
  async () => {
    const topic = uniqueName("jsonlog");
    const [{ lines }] = fixtureRecordFiles();
    const records = lines.slice(0, 200);
    await ensureTopic(topic);
    const producer = new Kafka({ clientId: "jsonlog", brokers: [KAFKA], logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    await producer.send({ topic, messages: [...records, "{not json"].map((value) => ({ value })) });
    await producer.disconnect();

    const proxy = startFaultProxy();
    proxy.storm = true;
    const bridge = await startBridge({
      KAFKA_TOPIC: topic,
      KAFKA_CONSUMER_GROUP_ID: topic,
      ELASTIC_INDEX_PREFIX: topic,
      ELASTIC_HOSTS: proxy.url,
      ELASTIC_MAX_SAMPLES_PER_SEND: "50",
      ELASTIC_MAX_TIME_TO_SEND: "1",
      LOG_FORMAT: "json",
      LOG_LEVEL: "debug",
    });
    try {
      await waitReady(bridge);
      await waitFor("429s from the overloaded node", () => Promise.resolve(proxy.rejected > 0), 60_000);
      proxy.storm = false;
      await waitFor(
        "every record indexed",
        async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= records.length,
        60_000,
      );
    } finally {
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
      await proxy.close();
    }

    const printed = (await Deno.readTextFile(bridge.logPath)).split("\n").filter((line) => line !== "");
    const levels = new Map<string, number>();
    for (const line of printed) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        assert.fail(`not a JSON line: ${line}`);
      }
      assert.equal(typeof entry, "object", line);
      assert.match(String(entry["@timestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, line);
      assert.ok(["debug", "info", "warn", "error"].includes(String(entry["log.level"])), line);
      assert.equal(typeof entry.message, "string", line);
      levels.set(String(entry["log.level"]), (levels.get(String(entry["log.level"])) ?? 0) + 1);
    }
    const messages = printed.map((line) => JSON.parse(line).message);
    assert.ok(messages.includes("message is not a pmacct JSON record"), "the poison message is logged");
    assert.ok(messages.includes("pmacct-kafka-elastic starting"));
    assert.ok((levels.get("warn") ?? 0) + (levels.get("error") ?? 0) >= 2, JSON.stringify([...levels]));
    assert.ok((levels.get("debug") ?? 0) > 0, "kafkajs' and the bridge's debug lines are JSON too");
  },
);
