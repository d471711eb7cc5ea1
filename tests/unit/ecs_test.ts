import assert from "node:assert/strict";
import { COMMUNITY_ID_FIELD, encodeDocument, LABEL_MAP_FIELD } from "../../lib/pmacct/document.ts";
import { ECS_FIELDS, ECS_VERSION } from "../../lib/pmacct/ecs.ts";
import { flowTupleOf } from "../../lib/pmacct/flow_tuple.ts";
import { parsePmacctTime } from "../../lib/pmacct/pmacct_time.ts";
import { referenceIds } from "../support/community_id_reference.ts";
import { fixtureRecordFiles, FIXTURES } from "../support/fixtures.ts";

const origin = { topic: "pmacct.flows", partition: 0, offset: "7", position: 0, timestampMs: Date.UTC(2030, 0, 1) };
const ecs = { indexPrefix: "sflow", timezone: "UTC", timestampSource: "flow", fieldNames: "ecs" } as const;

/** The value at a dotted path of a document. */
function valueAt(document: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], document);
}

/** The first line of a fixture file that `matches`. */
function fixtureLine(path: string, matches: RegExp): string {
  const line = Deno.readTextFileSync(`${FIXTURES}/${path}`).split("\n").find((text) => matches.test(text));
  assert.ok(line, `${path} has a line matching ${matches}`);
  return line;
}

const IPV4_TCP = fixtureLine("pmacct-test-automation/101-NFv9-CISCO-cust_primitives/output-flow-00.json", /"tcp"/);
const IPV6_UDP = fixtureLine("debian-pmacct-1.7.7/nfacctd-softflowd-v9-utc.json", /"ip_src": "2001:db8::1".*"udp"/);

function ecsOf(line: string, options: Partial<typeof ecs> & { communityId?: boolean } = {}) {
  return JSON.parse(String(encodeDocument(JSON.parse(line), origin, { ...ecs, ...options }, line).source));
}

Deno.test("ECS: an IPv4 TCP flow of Cisco's NetFlow v9 (pmacct's own test data)", async () => {
  const document = ecsOf(IPV4_TCP);
  const [communityId] = await referenceIds([flowTupleOf(JSON.parse(IPV4_TCP))!]);
  assert.deepEqual(document.source, { ip: "138.187.58.13", port: 10000, bytes: 60, packets: 1 });
  assert.deepEqual(document.destination, { ip: "138.187.57.33", port: 58779 });
  assert.deepEqual(document.network, {
    transport: "tcp",
    iana_number: "6",
    type: "ipv4",
    bytes: 60,
    packets: 1,
    community_id: communityId,
  });
  assert.deepEqual(document.observer, {
    ip: "192.168.100.1",
    ingress: { interface: { id: "143" } },
    egress: { interface: { id: "142" } },
  });
  assert.deepEqual(document.event, {
    kind: "event",
    category: ["network"],
    type: ["connection"],
    start: "2023-02-28T09:46:39.000000Z",
    end: "2023-02-28T09:46:39.000000Z",
    duration: 0,
  });
  assert.deepEqual(document.ecs, { version: ECS_VERSION });
  assert.equal(document["@timestamp"], "2023-02-28T09:46:39.000Z");
  assert.deepEqual(document.pmacct.tcp_flags, ["ACK"]);
  assert.deepEqual(document.pmacct.custom_primitives.vrf_id_ingress, "1610612736");
  assert.equal(document.pmacct.post_nat_ip_src, null, "an absent address stays absent");
  assert.equal(document.pmacct.stamp_inserted, "2023-09-28 15:06:00");
});

Deno.test("ECS: an IPv6 UDP flow of softflowd through Debian's nfacctd", async () => {
  const document = ecsOf(IPV6_UDP);
  const [communityId] = await referenceIds([flowTupleOf(JSON.parse(IPV6_UDP))!]);
  assert.deepEqual(document.source, { ip: "2001:db8::1", port: 17379, bytes: 864, packets: 1 });
  assert.deepEqual(document.destination, { ip: "2001:db8:1::31", port: 123 });
  assert.deepEqual([document.pmacct.as_src, document.pmacct.as_dst], [0, 0], "AS 0 is pmacct's 'no BGP data'");
  assert.equal(document.network.type, "ipv6");
  assert.equal(document.network.transport, "udp");
  assert.equal(document.network.iana_number, "17");
  assert.equal(document.network.community_id, communityId);
  assert.equal(document.event.start, "2026-11-24T19:10:17.000000Z");
  assert.equal(document.pmacct.timestamp_arrival, "2026-11-24 19:20:34.203084");
});

Deno.test("ECS: every primitive of every fixture lands in its ECS field or under pmacct.*", () => {
  for (const { path, lines } of fixtureRecordFiles()) {
    for (const line of lines) {
      const record = JSON.parse(line);
      const document = ecsOf(line);
      for (const name of Object.keys(record)) {
        const underPmacct = name in (document.pmacct ?? {});
        if (ECS_FIELDS[name] === undefined) {
          const moved = name === "label" && typeof record.label === "object" ? LABEL_MAP_FIELD : name;
          assert.ok(moved in document.pmacct, `${path}: ${name}`);
        } else {
          const inEcs = ECS_FIELDS[name].some((field) => valueAt(document, field) !== undefined);
          // Absent: an empty address, or a zero ("unknown") time.
          const absent = record[name] === "" || record[name] === null || parsePmacctTime(record[name], "UTC") === null;
          assert.ok(absent || inEcs !== underPmacct, `${path}: ${name} in ECS ${inEcs}, under pmacct ${underPmacct}`);
        }
      }
      assert.equal(document.network?.bytes, record.bytes, path);
    }
  }
});

Deno.test("ECS: ports only where the protocol has them, AS 0 and odd names under pmacct.*", () => {
  const icmp = fixtureLine("debian-pmacct-1.7.7/nfacctd-softflowd-v9-utc.json", /"ip_proto": "icmp"/);
  const document = ecsOf(icmp);
  assert.equal(document.source.port, undefined);
  assert.equal(document.destination.port, undefined);
  assert.deepEqual([document.pmacct.port_src, document.pmacct.port_dst], [0, 0]);
  assert.equal(document.network.transport, "icmp");
  const odd = '{"ip_src": "10.0.0.1", "constructor": 1, "__proto__": {"x": 2}, "toString": "t", "bytes": 1}';
  const oddDocument = ecsOf(odd);
  assert.deepEqual(
    [oddDocument.pmacct.constructor, oddDocument.pmacct.toString, JSON.stringify(oddDocument.pmacct.__proto__)],
    [1, "t", '{"x":2}'],
  );
});

Deno.test("pmacct names: the Community ID only when asked, as community_id, spliced or serialised alike", async () => {
  const record = JSON.parse(IPV4_TCP);
  const [expected] = await referenceIds([flowTupleOf(record)!]);
  const pmacct = { ...ecs, fieldNames: "pmacct" } as const;
  const without = JSON.parse(String(encodeDocument(JSON.parse(IPV4_TCP), origin, pmacct, IPV4_TCP).source));
  assert.equal(without[COMMUNITY_ID_FIELD], undefined);
  const options = { ...pmacct, communityId: true };
  const spliced = JSON.parse(String(encodeDocument(JSON.parse(IPV4_TCP), origin, options, IPV4_TCP).source));
  const whole = JSON.parse(String(encodeDocument(JSON.parse(IPV4_TCP), origin, options).source));
  assert.equal(spliced[COMMUNITY_ID_FIELD], expected);
  assert.deepEqual(spliced, whole);
  const ecsWithout = ecsOf(IPV4_TCP, { communityId: false });
  assert.equal(ecsWithout.network.community_id, undefined);
});
