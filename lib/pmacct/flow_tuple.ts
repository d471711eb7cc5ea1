/**
 * A pmacct record's protocol and 5-tuple, as ECS and Community ID need them. Pure.
 *
 * @example
 * ```ts
 * protocolOf("tcp"); // { number: 6, name: "tcp" }
 * protocolOf("58"); // { number: 58, name: "ipv6-icmp" } (pmacct's numbers, `protos_num: true`)
 * flowTupleOf({ ip_src: "10.0.0.1", ip_dst: "10.0.0.2", ip_proto: "icmp", port_src: 0, port_dst: 2048 });
 * // { source: "10.0.0.1", destination: "10.0.0.2", protocol: 1, sourcePort: 8, destinationPort: 0 }
 * ```
 */
import { communityId, type FlowTuple, ICMP, ICMP6 } from "./community_id.ts";

/**
 * pmacct's names of IP protocols (its `_protocols` table): `ip_proto` prints these, and the
 * number where a protocol has no name here or `protos_num` is set.
 */
const PMACCT_PROTOCOL_NAMES: ReadonlyArray<[string, number]> = [
  ["icmp", 1],
  ["igmp", 2],
  ["ggp", 3],
  ["ipencap", 4],
  ["tcp", 6],
  ["egp", 8],
  ["igp", 9],
  ["udp", 17],
  ["mux", 18],
  ["ipv6", 41],
  ["ipv6-route", 43],
  ["ipv6-frag", 44],
  ["rsvp", 46],
  ["gre", 47],
  ["esp", 50],
  ["ah", 51],
  ["mobile", 55],
  ["tlsp", 56],
  ["ipv6-icmp", 58],
  ["ipv6-nonxt", 59],
  ["ipv6-opts", 60],
  ["iso-ip", 80],
  ["vines", 83],
  ["eigrp", 88],
  ["ospf", 89],
  ["larp", 91],
  ["ax.25", 93],
  ["ipip", 94],
  ["encap", 98],
  ["pnni", 102],
  ["pim", 103],
  ["ipcomp", 108],
  ["ipx-in-ip", 111],
  ["vrrp", 112],
  ["l2tp", 115],
  ["isis", 124],
  ["sctp", 132],
  ["fc", 133],
];
const NUMBER_OF = new Map(PMACCT_PROTOCOL_NAMES);
const NAME_OF = new Map(PMACCT_PROTOCOL_NAMES.map(([name, number]) => [number, name]));

export interface Protocol {
  number: number;
  /** Lower case; the number as text where pmacct has no name for it. */
  name: string;
}

/** `ip_proto` as pmacct prints it (a name or a number), or `undefined` when it is neither. */
export function protocolOf(value: unknown): Protocol | undefined {
  if (typeof value === "number" || (typeof value === "string" && /^\d{1,3}$/.test(value))) {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 0 || number > 255) return undefined;
    return { number, name: NAME_OF.get(number) ?? String(number) };
  }
  if (typeof value !== "string") return undefined;
  const name = value.toLowerCase();
  const number = NUMBER_OF.get(name);
  return number === undefined ? undefined : { number, name };
}

/**
 * The record's 5-tuple, or `undefined` without both addresses and a protocol. For ICMP, pmacct
 * passes on the exporter's destination port, which NetFlow and IPFIX exporters fill with
 * `type × 256 + code`; that is read as the message's type and code. (pmacctd, which reads packets
 * itself, prints 0 there: its ICMP flows then read as type 0, an echo reply.)
 */
export function flowTupleOf(record: Record<string, unknown>): FlowTuple | undefined {
  const source = record.ip_src;
  const destination = record.ip_dst;
  const protocol = protocolOf(record.ip_proto);
  if (typeof source !== "string" || typeof destination !== "string" || protocol === undefined) return undefined;
  const sourcePort = typeof record.port_src === "number" ? record.port_src : undefined;
  const destinationPort = typeof record.port_dst === "number" ? record.port_dst : undefined;
  if ((protocol.number === ICMP || protocol.number === ICMP6) && destinationPort !== undefined) {
    return {
      source,
      destination,
      protocol: protocol.number,
      sourcePort: destinationPort >> 8,
      destinationPort: destinationPort & 0xff,
    };
  }
  return { source, destination, protocol: protocol.number, sourcePort, destinationPort };
}

/** The record's Community ID ({@linkcode communityId} of its {@linkcode flowTupleOf}), if it has one. */
export function recordCommunityId(record: Record<string, unknown>): string | undefined {
  const tuple = flowTupleOf(record);
  return tuple && communityId(tuple);
}
