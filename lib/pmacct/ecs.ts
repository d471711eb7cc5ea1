/**
 * A normalised pmacct record as an Elastic Common Schema document (`ELASTIC_FIELD_NAMES=ecs`), so
 * that Kibana's network views and the Security app read the flows. Every primitive that ECS
 * defines goes to its ECS field; every other one goes under `pmacct.<name>`, so nothing is lost.
 * Pure.
 *
 * @example
 * ```ts
 * const document = ecsDocument(
 *   { ip_src: "10.0.0.1", ip_dst: "10.0.0.2", port_src: 5353, port_dst: 53, ip_proto: "udp", bytes: 80, tos: 0 },
 *   "2026-11-24T19:10:00.000Z",
 * );
 * document.source; // { ip: "10.0.0.1", port: 5353, bytes: 80 } (an ICMP flow's ports stay under pmacct)
 * document.network; // { transport: "udp", iana_number: "17", type: "ipv4", bytes: 80, community_id: "1:…" }
 * document.pmacct; // { tos: 0 }
 * ```
 */
import { PORT_PROTOCOLS } from "./community_id.ts";
import { protocolOf, recordCommunityId } from "./flow_tuple.ts";
import { readPmacctTime } from "./pmacct_time.ts";
import { valueText } from "./exact_integers.ts";

/** The ECS version the documents follow. */
export const ECS_VERSION = "8.11.0";

/** Where each pmacct primitive that ECS defines goes (several for counters, sent by the source). */
export const ECS_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ip_src: ["source.ip"],
  ip_dst: ["destination.ip"],
  port_src: ["source.port"],
  port_dst: ["destination.port"],
  mac_src: ["source.mac"],
  mac_dst: ["destination.mac"],
  as_src: ["source.as.number"],
  as_dst: ["destination.as.number"],
  bytes: ["network.bytes", "source.bytes"],
  packets: ["network.packets", "source.packets"],
  ip_proto: ["network.transport", "network.iana_number"],
  peer_ip_src: ["observer.ip"],
  iface_in: ["observer.ingress.interface.id"],
  iface_out: ["observer.egress.interface.id"],
  timestamp_start: ["event.start"],
  timestamp_end: ["event.end"],
};

/** The fields every document gets: ECS's categorisation of a network flow. */
const EVENT_CATEGORY = { kind: "event", category: ["network"], type: ["connection"] } as const;

type Json = Record<string, unknown>;

/** Sets `value` at the dotted `path` of `document`, making the objects on the way. */
function setPath(document: Json, path: string, value: unknown): void {
  const parts = path.split(".");
  let at = document;
  for (let i = 0; i < parts.length - 1; i++) at = (at[parts[i]] ??= {}) as Json;
  at[parts[parts.length - 1]] = value;
}

/** pmacct's UTC text (`yyyy-MM-dd HH:mm:ss[.ffffff]`) as ISO 8601, fraction kept. */
function isoTime(utc: string): string {
  return `${utc.replace(" ", "T")}Z`;
}

/** ECS writes MAC addresses in upper case with hyphens (RFC 7042); pmacct with colons. */
function ecsMac(value: string): string {
  return value.toUpperCase().replaceAll(":", "-");
}

/**
 * Whether pmacct's value has no ECS meaning and stays under `pmacct.*`: ports of a protocol
 * without ports (pmacct prints 0, or ICMP's type and code), and AS number 0 (no BGP data).
 */
function withoutEcsMeaning(name: string, value: unknown, protocol: number | undefined): boolean {
  if (name === "port_src" || name === "port_dst") return protocol === undefined || !PORT_PROTOCOLS.has(protocol);
  if (name === "as_src" || name === "as_dst") return value === 0;
  return false;
}

/**
 * How a primitive's value is written in ECS; `undefined` when it cannot be (then it stays under
 * `pmacct.*`). Those not named here are written as they are.
 */
const ECS_VALUE: Readonly<Record<string, (value: unknown) => unknown>> = {
  mac_src: (value) => typeof value === "string" ? ecsMac(value) : value,
  mac_dst: (value) => typeof value === "string" ? ecsMac(value) : value,
  iface_in: valueText,
  iface_out: valueText,
  timestamp_start: (value) => typeof value === "string" ? isoTime(value) : undefined,
  timestamp_end: (value) => typeof value === "string" ? isoTime(value) : undefined,
};

/**
 * The ECS document of a normalised record (times already UTC text, absent addresses `null`).
 * `communityIdOn`: whether `network.community_id` is computed.
 */
export function ecsDocument(record: Json, timestamp: string, communityIdOn = true): Json {
  const document: Json = { "@timestamp": timestamp, ecs: { version: ECS_VERSION }, event: { ...EVENT_CATEGORY } };
  // No prototype: a primitive named `__proto__` or `constructor` is kept like any other.
  const pmacct: Json = Object.create(null);
  const protocol = protocolOf(record.ip_proto);
  for (const [name, value] of Object.entries(record)) {
    if (!Object.hasOwn(ECS_FIELDS, name) || withoutEcsMeaning(name, value, protocol?.number)) {
      pmacct[name] = value;
      continue;
    }
    if (value === null || value === "") continue;
    if (name === "ip_proto") {
      if (protocol === undefined) pmacct[name] = value;
      else {
        setPath(document, "network.transport", protocol.name);
        setPath(document, "network.iana_number", String(protocol.number));
      }
      continue;
    }
    const written = Object.hasOwn(ECS_VALUE, name) ? ECS_VALUE[name](value) : value;
    if (written === undefined) pmacct[name] = value;
    else for (const path of ECS_FIELDS[name]) setPath(document, path, written);
  }
  const address = typeof record.ip_src === "string" ? record.ip_src : record.ip_dst;
  if (typeof address === "string") setPath(document, "network.type", address.includes(":") ? "ipv6" : "ipv4");
  const start = readPmacctTime(record.timestamp_start, "UTC");
  const end = readPmacctTime(record.timestamp_end, "UTC");
  if (start && end && end.epochMs >= start.epochMs) {
    setPath(document, "event.duration", (end.epochMs - start.epochMs) * 1_000_000);
  }
  if (communityIdOn) {
    const id = recordCommunityId(record);
    if (id !== undefined) setPath(document, "network.community_id", id);
  }
  if (Object.keys(pmacct).length > 0) document.pmacct = pmacct;
  return document;
}
