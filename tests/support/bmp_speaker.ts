/**
 * A BMP speaker (RFC 7854), as a router speaks to pmacct's `pmbmpd`: one session that says who
 * it is (Initiation), that one BGP peer came up (Peer Up, with both OPEN messages), the routes
 * that peer sent (Route Monitoring, one BGP UPDATE each), and that the peer went down, then ends
 * (Termination). Every peer message carries the time the router stamped it with. Test code only:
 * no BMP speaker is packaged in the registries this project installs from.
 */
import { Buffer } from "node:buffer";

const BMP_VERSION = 3;
const MESSAGE = { routeMonitoring: 0, peerDown: 2, peerUp: 3, initiation: 4, termination: 5 } as const;
const BGP = { open: 1, update: 2 } as const;

/** One IPv4 route the peer announces. */
export interface BmpRoute {
  /** `a.b.c.d/len` */
  prefix: string;
  asPath: number[];
  nextHop: string;
  /** Standard communities as `asn:value`. */
  communities?: string[];
}

export interface BmpSession {
  /** The router's name (Initiation's sysName). */
  sysName: string;
  peer: { address: string; as: number; bgpId: string };
  local: { address: string; as: number; bgpId: string };
  /** The router's time on every peer message, in microseconds since the epoch. */
  stampMicros: bigint;
  routes: BmpRoute[];
}

/** Connects to a BMP station (`pmbmpd`) at `port` and speaks `session` to it, then closes. */
export async function speakBmp(port: number, session: BmpSession): Promise<void> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const message of bmpMessages(session)) {
      for (let written = 0; written < message.length;) written += await connection.write(message.subarray(written));
    }
  } finally {
    connection.close();
  }
}

/** The session's BMP messages, in the order a router sends them. */
export function bmpMessages(session: BmpSession): Buffer[] {
  const peer = perPeerHeader(session);
  const open = (side: BmpSession["local"]) => bgpMessage(BGP.open, openBody(side));
  return [
    bmpMessage(
      MESSAGE.initiation,
      Buffer.concat([tlv(1, "pmacct-kafka-elastic test speaker"), tlv(2, session.sysName)]),
    ),
    bmpMessage(
      MESSAGE.peerUp,
      Buffer.concat([
        peer,
        ipv6Mapped(session.local.address),
        uint16(179),
        uint16(40_000),
        open(session.local),
        open(session.peer),
      ]),
    ),
    ...session.routes.map((route) => bmpMessage(MESSAGE.routeMonitoring, Buffer.concat([peer, update(route)]))),
    // Reason 4: the remote system closed the session, no notification.
    bmpMessage(MESSAGE.peerDown, Buffer.concat([peer, Buffer.from([4])])),
    bmpMessage(MESSAGE.termination, Buffer.concat([tlv(0, "test over"), reasonTlv(0)])),
  ];
}

function bmpMessage(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt8(BMP_VERSION, 0);
  header.writeUInt32BE(6 + body.length, 1);
  header.writeUInt8(type, 5);
  return Buffer.concat([header, body]);
}

/** A global-instance IPv4 peer, 4-byte AS numbers, pre-policy, stamped with the session's time. */
function perPeerHeader({ peer, stampMicros }: BmpSession): Buffer {
  const header = Buffer.alloc(42);
  ipv6Mapped(peer.address).copy(header, 10);
  header.writeUInt32BE(peer.as, 26);
  ipv4(peer.bgpId).copy(header, 30);
  header.writeUInt32BE(Number(stampMicros / 1_000_000n), 34);
  header.writeUInt32BE(Number(stampMicros % 1_000_000n), 38);
  return header;
}

function bgpMessage(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(19, 0xff);
  header.writeUInt16BE(19 + body.length, 16);
  header.writeUInt8(type, 18);
  return Buffer.concat([header, body]);
}

/** BGP-4 OPEN with the multiprotocol (IPv4 unicast) and 4-byte AS capabilities. */
function openBody(side: BmpSession["local"]): Buffer {
  const capabilities = Buffer.from([1, 4, 0, 1, 0, 1, 65, 4, 0, 0, 0, 0]);
  capabilities.writeUInt32BE(side.as, 8);
  const parameters = Buffer.concat([Buffer.from([2, capabilities.length]), capabilities]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt8(4, 0);
  fixed.writeUInt16BE(side.as > 0xffff ? 23456 : side.as, 1);
  fixed.writeUInt16BE(180, 3);
  ipv4(side.bgpId).copy(fixed, 5);
  fixed.writeUInt8(parameters.length, 9);
  return Buffer.concat([fixed, parameters]);
}

/** An UPDATE announcing one IPv4 prefix: ORIGIN IGP, AS_PATH, NEXT_HOP and COMMUNITIES. */
function update(route: BmpRoute): Buffer {
  const asPath = Buffer.alloc(2 + 4 * route.asPath.length);
  asPath.writeUInt8(2, 0);
  asPath.writeUInt8(route.asPath.length, 1);
  route.asPath.forEach((as, i) => asPath.writeUInt32BE(as, 2 + 4 * i));
  const communities = Buffer.concat((route.communities ?? []).map((community) => {
    const [as, value] = community.split(":").map(Number);
    return Buffer.concat([uint16(as), uint16(value)]);
  }));
  const attributes = Buffer.concat([
    attribute(0x40, 1, Buffer.from([0])),
    attribute(0x40, 2, asPath),
    attribute(0x40, 3, ipv4(route.nextHop)),
    ...(communities.length > 0 ? [attribute(0xc0, 8, communities)] : []),
  ]);
  const [address, length] = route.prefix.split("/");
  const bits = Number(length);
  const nlri = Buffer.concat([Buffer.from([bits]), ipv4(address).subarray(0, Math.ceil(bits / 8))]);
  return bgpMessage(BGP.update, Buffer.concat([uint16(0), uint16(attributes.length), attributes, nlri]));
}

function attribute(flags: number, type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

function tlv(type: number, text: string): Buffer {
  const value = Buffer.from(text);
  return Buffer.concat([uint16(type), uint16(value.length), value]);
}

function reasonTlv(reason: number): Buffer {
  return Buffer.concat([uint16(1), uint16(2), uint16(reason)]);
}

function ipv4(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

/** An IPv4 address in a 16-byte field, as BMP carries it: zeros, then the four bytes. */
function ipv6Mapped(address: string): Buffer {
  return Buffer.concat([Buffer.alloc(12), ipv4(address)]);
}

function uint16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(value);
  return bytes;
}
