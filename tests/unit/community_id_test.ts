import assert from "node:assert/strict";
import { communityId, type FlowTuple } from "../../lib/pmacct/community_id.ts";
import { addressBytes } from "../../lib/pmacct/ip_address.ts";
import { createHash } from "node:crypto";
import { referenceIds } from "../support/community_id_reference.ts";
import { SHA1_SHORT_MAX, sha1ShortBase64 } from "../../lib/pmacct/sha1_short.ts";

const FLOWS: FlowTuple[] = [
  { source: "128.232.110.120", destination: "66.35.250.204", protocol: 6, sourcePort: 34855, destinationPort: 80 },
  { source: "66.35.250.204", destination: "128.232.110.120", protocol: 6, sourcePort: 80, destinationPort: 34855 },
  { source: "192.168.1.52", destination: "8.8.8.8", protocol: 17, sourcePort: 54585, destinationPort: 53 },
  { source: "10.0.0.1", destination: "10.0.0.1", protocol: 17, sourcePort: 9000, destinationPort: 53 },
  // ICMP: type and code in the port fields; echo request and reply hash alike, unreachable is one-way.
  { source: "192.168.0.89", destination: "192.168.0.1", protocol: 1, sourcePort: 8, destinationPort: 0 },
  { source: "192.168.0.1", destination: "192.168.0.89", protocol: 1, sourcePort: 0, destinationPort: 0 },
  { source: "192.168.0.1", destination: "192.168.0.89", protocol: 1, sourcePort: 3, destinationPort: 1 },
  { source: "192.168.0.89", destination: "192.168.0.1", protocol: 1, sourcePort: 11, destinationPort: 0 },
  // IPv6: UDP both ways, ICMPv6 echo and neighbour solicitation, an embedded IPv4 tail.
  { source: "2001:db8::1", destination: "2001:db8:0:0:1::2", protocol: 17, sourcePort: 53, destinationPort: 61000 },
  { source: "2001:db8:0:0:1::2", destination: "2001:db8::1", protocol: 17, sourcePort: 61000, destinationPort: 53 },
  {
    source: "fe80::200:86ff:fe05:80da",
    destination: "fe80::260:97ff:fe07:69ea",
    protocol: 58,
    sourcePort: 135,
    destinationPort: 0,
  },
  {
    source: "3ffe:507:0:1:200:86ff:fe05:80da",
    destination: "3ffe:501:4819::42",
    protocol: 58,
    sourcePort: 128,
    destinationPort: 0,
  },
  // MLD: a listener query and its report hash alike.
  { source: "fe80::1", destination: "ff02::1", protocol: 58, sourcePort: 130, destinationPort: 0 },
  { source: "ff02::1", destination: "fe80::1", protocol: 58, sourcePort: 131, destinationPort: 0 },
  { source: "::ffff:10.1.2.3", destination: "::1", protocol: 6, sourcePort: 443, destinationPort: 50000 },
  // SCTP has ports; GRE and OSPF have none.
  { source: "10.1.1.1", destination: "10.2.2.2", protocol: 132, sourcePort: 2905, destinationPort: 2905 },
  { source: "10.9.9.9", destination: "10.1.1.1", protocol: 47 },
  { source: "10.9.9.9", destination: "224.0.0.5", protocol: 89 },
];

Deno.test("Community IDs equal the spec's reference implementation: TCP, UDP, ICMP, ICMPv6, SCTP, no ports", async () => {
  const expected = await referenceIds(FLOWS);
  assert.deepEqual(FLOWS.map((flow) => communityId(flow)), expected);
  assert.equal(expected[0], expected[1], "both directions of a TCP flow");
  assert.equal(expected[4], expected[5], "an echo request and its reply");
  assert.equal(expected[12], expected[13], "an MLD query and its report");
});

Deno.test("no Community ID without two addresses of one family, or without ports where the protocol has them", () => {
  assert.equal(
    communityId({ source: "10.0.0.1", destination: "2001:db8::1", protocol: 6, sourcePort: 1, destinationPort: 2 }),
    undefined,
  );
  assert.equal(
    communityId({ source: "", destination: "10.0.0.2", protocol: 17, sourcePort: 1, destinationPort: 2 }),
    undefined,
  );
  assert.equal(communityId({ source: "10.0.0.1", destination: "10.0.0.2", protocol: 6 }), undefined);
  assert.equal(
    communityId({ source: "10.0.0.1", destination: "10.0.0.2", protocol: 6, sourcePort: 70000, destinationPort: 2 }),
    undefined,
  );
});

Deno.test("addresses as pmacct prints them become their bytes; anything else is no address", () => {
  assert.deepEqual(addressBytes("10.0.0.1"), new Uint8Array([10, 0, 0, 1]));
  assert.deepEqual(addressBytes("::1"), new Uint8Array([...new Array(15).fill(0), 1]));
  assert.deepEqual(addressBytes("::ffff:1.2.3.4")?.slice(10), new Uint8Array([255, 255, 1, 2, 3, 4]));
  assert.deepEqual(addressBytes("2001:db8::")?.slice(0, 4), new Uint8Array([0x20, 0x01, 0x0d, 0xb8]));
  for (
    const bad of [
      "",
      "10.0.0",
      "10.0.0.256",
      "1::2::3",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "::g",
      "1:2:3:4:5:6:7::8",
    ]
  ) {
    assert.equal(addressBytes(bad), undefined, bad);
  }
});

Deno.test("the one-block SHA-1 equals node:crypto's on every length it takes, and refuses longer", () => {
  let seed = 7;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 256;
  for (let length = 0; length <= SHA1_SHORT_MAX; length++) {
    for (let round = 0; round < 20; round++) {
      const input = Uint8Array.from({ length: length + 3 }, next);
      const expected = createHash("sha1").update(input.subarray(0, length)).digest("base64");
      assert.equal(sha1ShortBase64(input, length), expected, `length ${length}`);
    }
  }
  assert.throws(() => sha1ShortBase64(new Uint8Array(56), 56), RangeError);
});
