/**
 * pmacct's BMP and streaming-telemetry daemons, live: Debian's `pmbmpd` hears a BMP session from
 * a speaker (a router's initiation, a peer up, a route, a peer down, the end), Debian's
 * `pmtelemetryd` hears two devices' JSON over UDP, each writes its message log to the real
 * Kafka, and the bridge files every record by its own time, the router's stamp where it gave one,
 * with none refused.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import {
  type IndexedDocument,
  integrationTest,
  MAIN_ELASTIC,
  readTopic,
  settingsOf,
  startBridge,
  waitFor,
  waitReady,
  withScratchTopic,
} from "../support/stack.ts";
import { speakBmp } from "../support/bmp_speaker.ts";
import { startPmbmpd, startPmtelemetryd } from "../support/pmacct_daemons.ts";

/** The day of an instant, as the daily index names it. */
const dayOf = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 10);

/**
 * A topic of one partition that `feed` fills (a daemon writing to it; it returns what the daemon
 * logged), then the bridge over it from its first offset until every message is indexed, none
 * dead-lettered; `check` gets the documents, and the bridge must stop cleanly after.
 */
function daemonTest(
  label: string,
  feed: (topic: string) => Promise<string>,
  check: (topic: string, documents: IndexedDocument[]) => void,
): Promise<void> {
  return withScratchTopic(label, async ({ topic, admin }) => {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    const logged = await feed(topic);
    const total = (await readTopic(topic)).length;
    const bridge = await startBridge({ ...settingsOf(topic), KAFKA_AUTO_OFFSET_RESET: "earliest" });
    try {
      await waitReady(bridge);
      await waitFor(
        `${total} documents indexed (log: ${bridge.logPath})`,
        async () => (await bridge.metric("pmacct_bridge_documents_indexed_total")) >= total || undefined,
        60_000,
      );
      assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, logged.slice(-2000));
      check(topic, await MAIN_ELASTIC.documents(topic, true));
      assert.equal((await bridge.stop("SIGTERM")).code, 0);
    } finally {
      await bridge.stop("SIGKILL");
    }
  });
}

integrationTest(
  "pmbmpd's BMP message log is filed by the router's stamps; messages without one by their arrival",
  () =>
    daemonTest("bmp", async (topic) => {
      const pmbmpd = await startPmbmpd(topic);
      try {
        await speakBmp(pmbmpd.port, {
          sysName: "r1",
          peer: { address: "192.0.2.7", as: 65536, bgpId: "192.0.2.7" },
          local: { address: "192.0.2.1", as: 64496, bgpId: "192.0.2.1" },
          stampMicros: 1685107998178859n,
          routes: [{
            prefix: "198.51.100.0/24",
            asPath: [65536, 65543],
            nextHop: "192.0.2.7",
            communities: ["64496:299", "64496:300"],
          }],
        });
        // log_init, init, peer_up, route_monitor, peer_down, term, log_close.
        await waitFor(`pmbmpd's seven messages in ${topic}`, async () => (await readTopic(topic)).length >= 7, 30_000);
      } finally {
        await pmbmpd.stop();
      }
      assert.equal((await readTopic(topic)).length, 7);
      return await pmbmpd.stop();
    }, (topic, documents) => {
      assert.equal(documents.length, 7);
      const of = (type: string) => documents.find(({ source }) => source!.bmp_msg_type === type)!;
      for (const type of ["peer_up", "route_monitor", "peer_down"]) {
        assert.equal(of(type).index, `${topic}-2023-05-26`, type);
        assert.equal(of(type).source!["@timestamp"], "2023-05-26T13:33:18.178Z", type);
      }
      const route = of("route_monitor").source!;
      assert.deepEqual(
        [route.ip_prefix, route.as_path, route.comms, route.peer_ip],
        ["198.51.100.0/24", "65536 65543", "64496:299 64496:300", "192.0.2.7"],
      );
      // The initiation and the termination carry no time of the router's: pmbmpd writes zeros,
      // which mean unknown; their arrival at pmbmpd files them.
      for (const type of ["init", "term"]) {
        const { index, source } = of(type);
        assert.equal(source!.timestamp, null, type);
        assert.equal(source!["@timestamp"], `${String(source!.timestamp_arrival).replace(" ", "T").slice(0, 23)}Z`);
        assert.equal(index, `${topic}-${String(source!.timestamp_arrival).slice(0, 10)}`);
      }
      assert.equal(documents.filter(({ source }) => String(source!.event_type).startsWith("log_")).length, 2);
    }),
);

integrationTest(
  "pmtelemetryd's records from devices whose data differ in shape all land in one day's index",
  () => {
    // The same path is an object for one device and text for the other: one object mapping
    // would refuse the second.
    const devices = [
      { node_id_str: "r1", encoding_path: "interfaces", data: { "in-octets": { value: 7, unit: "octets" } } },
      { node_id_str: "r2", encoding_path: "interfaces", data: { "in-octets": "eight" } },
    ];
    const sent = Date.now();
    return daemonTest("telemetry", async (topic) => {
      const pmtelemetryd = await startPmtelemetryd(topic);
      try {
        for (const device of devices) {
          const socket = createSocket("udp4");
          await new Promise<void>((resolve, reject) =>
            socket.send(
              JSON.stringify(device),
              pmtelemetryd.port,
              "127.0.0.1",
              (error) => error ? reject(error) : resolve(),
            )
          );
          socket.close();
        }
        await waitFor(
          `pmtelemetryd's two records in ${topic}`,
          async () =>
            (await readTopic(topic)).filter(({ payload }) => payload?.includes('"telemetry_data"')).length >= 2,
          30_000,
        );
      } finally {
        await pmtelemetryd.stop();
      }
      return await pmtelemetryd.stop();
    }, (topic, all) => {
      const documents = all.filter(({ source }) => source!.telemetry_data);
      assert.deepEqual(
        documents.map(({ source }) => (source!.telemetry_data as { node_id_str: string }).node_id_str).sort(),
        ["r1", "r2"],
      );
      for (const { index, source } of documents) {
        // pmtelemetryd stamps each record with its arrival.
        const stamped = Date.parse(`${String(source!.timestamp).replace(" ", "T")}Z`);
        assert.ok(Math.abs(stamped - sent) < 60_000, `${source!.timestamp} is when it was sent`);
        assert.equal(index, `${topic}-${dayOf(stamped)}`);
      }
    });
  },
);
