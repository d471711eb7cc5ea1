/**
 * Community ID flow hashing (version 1 of the Corelight spec): the same flow seen by the bridge,
 * Zeek, Suricata or an EDR gets the same `1:<base64>` value, so that tools join on it. Pure.
 * Hand-written: the spec is a dozen lines; its SHA-1 is {@linkcode sha1ShortBase64}.
 *
 * @example
 * ```ts
 * communityId({ source: "128.232.110.120", destination: "66.35.250.204", protocol: 6, sourcePort: 34855, destinationPort: 80 });
 * // "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
 * ```
 */
import { addressBytes } from "./ip_address.ts";
import { memoise } from "../runtime/memoise.ts";
import { sha1ShortBase64 } from "./sha1_short.ts";

/** Flows repeat their addresses: each is parsed once while it is among the recent ones. */
const addressBytesOf = memoise(addressBytes, 20_000);
/** The hash input, reused: at most 2 + 16 + 16 + 2 + 4 bytes. */
const input = new Uint8Array(40);
const view = new DataView(input.buffer);

/** The 5-tuple of a flow, as pmacct gives it. */
export interface FlowTuple {
  source: string;
  destination: string;
  /** IANA protocol number. */
  protocol: number;
  /** For ICMP and ICMPv6: the message type. */
  sourcePort?: number;
  /** For ICMP and ICMPv6: the message code. */
  destinationPort?: number;
}

export const ICMP = 1;
export const ICMP6 = 58;
/** Protocols with ports: TCP, UDP and SCTP. */
export const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 132]);
/** Protocols whose tuple includes ports (ICMP's type and code stand in for them). */
const WITH_PORTS = new Set([ICMP, ICMP6, ...PORT_PROTOCOLS]);

/**
 * ICMP messages that have a reply: the request's type and the reply's type play source and
 * destination port, so that both directions hash the same. Other messages are one-way.
 */
const ICMP_COUNTERPARTS: Record<number, Map<number, number>> = {
  [ICMP]: new Map([[8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [10, 9], [9, 10], [17, 18], [18, 17]]),
  [ICMP6]: new Map([
    [128, 129],
    [129, 128],
    [130, 131],
    [131, 130],
    [133, 134],
    [134, 133],
    [135, 136],
    [136, 135],
    [139, 140],
    [140, 139],
    [144, 145],
    [145, 144],
  ]),
};

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * The flow's Community ID with seed 0, or `undefined` when its addresses are not both IPv4 or both
 * IPv6, or a protocol with ports lacks them.
 */
export function communityId(flow: FlowTuple, seed = 0): string | undefined {
  let source = addressBytesOf(flow.source);
  let destination = addressBytesOf(flow.destination);
  if (source === undefined || destination === undefined || source.length !== destination.length) return undefined;
  const withPorts = WITH_PORTS.has(flow.protocol);
  let sourcePort = flow.sourcePort ?? -1;
  let destinationPort = flow.destinationPort ?? -1;
  if (withPorts && (!isPort(sourcePort) || !isPort(destinationPort))) return undefined;
  let oneWay = false;
  const counterparts = ICMP_COUNTERPARTS[flow.protocol];
  if (counterparts !== undefined) {
    const reply = counterparts.get(sourcePort);
    if (reply === undefined) oneWay = true;
    else destinationPort = reply;
  }
  const order = compareBytes(source, destination);
  if (!oneWay && (order > 0 || (order === 0 && withPorts && sourcePort > destinationPort))) {
    [source, destination] = [destination, source];
    [sourcePort, destinationPort] = [destinationPort, sourcePort];
  }
  const length = 4 + 2 * source.length + (withPorts ? 4 : 0);
  view.setUint16(0, seed);
  input.set(source, 2);
  input.set(destination, 2 + source.length);
  let at = 2 + 2 * source.length;
  input[at++] = flow.protocol;
  input[at++] = 0;
  if (withPorts) {
    view.setUint16(at, sourcePort);
    view.setUint16(at + 2, destinationPort);
  }
  return `1:${sha1ShortBase64(input, length)}`;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 65535;
}
