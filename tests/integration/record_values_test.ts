/**
 * Values as pmacct wrote them, on the stack: a 64-bit counter beyond 2^53 keeps every digit in
 * pmacct names and in ECS, also where the record is serialised again (a label map); one beyond
 * Elasticsearch's `long` is dead-lettered, not stored rounded; and a local time in the hour that
 * repeats when Zurich's clocks go back is the instant its Kafka time shows (the earlier one when
 * that shows nothing). pmacct's BMP, BGP and telemetry records land under their own times, in
 * every shape pmacct versions and devices give their fields, none refused by another's mapping.
 */
import assert from "node:assert/strict";
import {
  ELASTIC,
  integrationTest,
  MAIN_ELASTIC,
  settingsOf,
  startBridge,
  waitFor,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";

const REPEATED = "2026-10-25 02:30:00";

/** A flow of the repeated hour with a label map and the given counter text, published at `kafkaTime`. */
function flowLine(bytes: string, sequence: number): string {
  return `{"timestamp_start": "${REPEATED}", "label": {"site": "zrh"}, "ip_src": "10.0.0.${sequence}", ` +
    `"ip_dst": "10.0.1.1", "port_src": 40000, "port_dst": 443, "ip_proto": "tcp", "packets": 1, "bytes": ${bytes}}`;
}

/** The documents' sources as Elasticsearch sends them, text unparsed (a parse would round the digits). */
async function sourceTexts(prefix: string): Promise<string[]> {
  await MAIN_ELASTIC.refresh(prefix);
  const response = await fetch(`${ELASTIC}/${prefix}-*/_search?size=100`);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  // Each hit's source up to the next hit's: the hits' other members carry no counters or times.
  return text.split('"_source":').slice(1);
}

integrationTest(
  "exact counters and the repeated hour, in pmacct names and in ECS",
  () =>
    withScratchTopic("values", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      const published = [
        { kafkaTime: "2026-10-25T00:40:00Z", bytes: "9007199254740993", expected: "2026-10-25T00:30:00.000Z" },
        { kafkaTime: "2026-10-25T01:40:00Z", bytes: "9223372036854775807", expected: "2026-10-25T01:30:00.000Z" },
        { kafkaTime: new Date().toISOString(), bytes: "9007199254740995", expected: "2026-10-25T00:30:00.000Z" },
      ];
      await producer.send({
        topic,
        acks: -1,
        messages: [
          ...published.map(({ kafkaTime, bytes }, i) => ({
            value: flowLine(bytes, i),
            timestamp: String(Date.parse(kafkaTime)),
          })),
          // Beyond a long: refused by the template's mapping, dead-lettered with Elasticsearch's reason.
          { value: flowLine("18446744073709551615", 9), timestamp: String(Date.parse("2026-10-25T00:40:00Z")) },
        ],
      });
      const bridges = await Promise.all(["pmacct", "ecs"].map((fieldNames) =>
        startBridge({
          ...settingsOf(topic),
          KAFKA_CONSUMER_GROUP_ID: `${topic}-${fieldNames}`,
          ELASTIC_INDEX_PREFIX: `${topic}-${fieldNames}`,
          ELASTIC_FIELD_NAMES: fieldNames,
          PMACCT_TIMEZONE: "Europe/Zurich",
        })
      ));
      try {
        for (const bridge of bridges) {
          await waitReady(bridge);
          await waitFor(
            `three documents and one dead letter (log: ${bridge.logPath})`,
            async () =>
              (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= 3 &&
                (await bridge.metric("pmacct_bridge_dead_letters_total")) >= 1 || undefined,
            120_000,
          );
          assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), 3);
          assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 1);
        }
        for (const fieldNames of ["pmacct", "ecs"]) {
          const sources = await sourceTexts(`${topic}-${fieldNames}`);
          assert.equal(sources.length, 3, sources.join("\n"));
          for (const { bytes, expected } of published) {
            const source = sources.find((text) => text.includes(`"bytes":${bytes}`));
            assert.ok(source, `${fieldNames}: ${bytes} kept every digit, in ${sources.join("\n")}`);
            assert.ok(source.includes(`"@timestamp":"${expected}"`), `${fieldNames}: ${source}`);
          }
        }
        for (const bridge of bridges) assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        for (const bridge of bridges) await bridge.stop("SIGKILL");
      }
    }),
);

integrationTest(
  "BMP, BGP and telemetry records of every shape land under their own times, none refused",
  () =>
    withScratchTopic("daemons", async ({ topic, admin, producer }) => {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      const kafkaTime = Date.parse("2026-12-01T10:00:00Z");
      const records = [
        // pmbmpd: a peer up stamped by the router, and an initiation without a time of its own.
        { seq: 2, timestamp: "1685107998.178859", event_type: "log", bmp_msg_type: "peer_up", peer_ip: "192.0.2.7" },
        { seq: 0, timestamp: "0.000000", event_type: "log", bmp_msg_type: "init", bmp_init_info_sysname: "r1" },
        // pmbgpd: pmacct 1.7's strings and newer releases' arrays; origin as a letter and as a number.
        {
          event_type: "log",
          seq: 7,
          timestamp: "1685107999",
          log_type: "update",
          as_path: "65536 65543",
          comms: "64496:299",
          origin: "i",
        },
        {
          event_type: "log",
          seq: 8,
          timestamp: "1685107999",
          log_type: "update",
          as_path: ["65536", "65543"],
          comms: [],
          origin: 0,
        },
        // pmtelemetryd: one device's data an object, another's a JSON string, on one day.
        {
          event_type: "log",
          timestamp: "1728034880.223000",
          telemetry_node: "192.0.2.1",
          telemetry_data: { "if:in-octets": "7" },
        },
        {
          event_type: "log",
          timestamp: "1728034881.223000",
          telemetry_node: "192.0.2.2",
          telemetry_data: '{"node_id_str":"r2"}',
        },
      ];
      await producer.send({
        topic,
        acks: -1,
        messages: records.map((record) => ({ value: JSON.stringify(record), timestamp: String(kafkaTime) })),
      });
      const bridge = await startBridge(settingsOf(topic));
      try {
        await waitReady(bridge);
        await waitFor(
          `${records.length} documents indexed (log: ${bridge.logPath})`,
          async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= records.length || undefined,
          120_000,
        );
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
        const documents = await MAIN_ELASTIC.documents(topic, true);
        const of = (match: (source: Record<string, unknown>) => boolean) => {
          const found = documents.filter(({ source }) => match(source!));
          assert.equal(found.length, 1, JSON.stringify(documents));
          return found[0];
        };
        const peerUp = of((source) => source.bmp_msg_type === "peer_up");
        assert.equal(peerUp.index, `${topic}-2023-05-26`);
        assert.equal(peerUp.source!["@timestamp"], "2023-05-26T13:33:18.178Z");
        const init = of((source) => source.bmp_msg_type === "init");
        assert.equal(init.index, `${topic}-2026-12-01`, "a zero time is unknown: the Kafka time files it");
        assert.equal(init.source!.timestamp, null);
        for (const seq of [7, 8]) assert.equal(of((source) => source.seq === seq).index, `${topic}-2023-05-26`);
        const object = of((source) => source.telemetry_node === "192.0.2.1");
        const text = of((source) => source.telemetry_node === "192.0.2.2");
        assert.equal(object.index, `${topic}-2024-10-04`);
        assert.equal(text.index, object.index, "both shapes in one day's index");
        assert.deepEqual(object.source!.telemetry_data, { "if:in-octets": "7" });
        assert.equal(text.source!.telemetry_data_text, '{"node_id_str":"r2"}');
        assert.equal((await bridge.stop("SIGTERM")).code, 0);
      } finally {
        await bridge.stop("SIGKILL");
      }
    }),
);
