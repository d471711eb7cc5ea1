/**
 * Turns a decoded pmacct record into an Elasticsearch document: its daily index, a
 * deterministic `_id` and the JSON source with `@timestamp` set to the flow's own time.
 *
 * @example
 * ```ts
 * const doc = encodeDocument(
 *   { stamp_inserted: "2026-11-24 19:10:00", bytes: 740 },
 *   { topic: "pmacct", partition: 0, offset: "42", position: 0, timestampMs: 0 },
 *   { indexPrefix: "sflow", timezone: "UTC" },
 * );
 * doc.index; // "sflow-2026-11-24"
 * doc.id; // "pmacct:0:42:0"
 * ```
 */
import { FLOW_TIME_FIELDS, flowTime } from "./flow_time.ts";
import { dailyIndexName } from "./index_name.ts";
import { parsePmacctTime } from "./pmacct_time.ts";

/** Where a record came from: enough to name it uniquely and to fall back on its Kafka time. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  /** Kafka offset as kafkajs gives it (a decimal string). */
  offset: string;
  /** Index of the record inside a multi-value message (0 for single records). */
  position: number;
  /** Kafka message timestamp in epoch milliseconds. */
  timestampMs: number;
}

export interface EncodeOptions {
  indexPrefix: string;
  timezone: string;
}

export interface EncodedDocument {
  index: string;
  id: string;
  /** The document serialised once, ready for a `_bulk` body. */
  source: string;
}

/**
 * pmacct fields that carry an IP address and are written as `""` when absent; an empty string
 * would be rejected by an `ip` mapping, so it becomes `null` (no value).
 */
const ADDRESS_FIELDS = [
  "ip_src",
  "ip_dst",
  "net_src",
  "net_dst",
  "peer_ip_src",
  "peer_ip_dst",
  "post_nat_ip_src",
  "post_nat_ip_dst",
  "bgp_nexthop",
  "src_host",
  "dst_host",
  "tunnel_ip_src",
  "tunnel_ip_dst",
];

/**
 * The `_id` of a record: topic, partition, offset and position in the message. A replay of the
 * same Kafka record overwrites the document instead of adding a second one.
 */
export function documentId(origin: Pick<RecordOrigin, "topic" | "partition" | "offset" | "position">): string {
  return `${origin.topic}:${origin.partition}:${origin.offset}:${origin.position}`;
}

/** Encodes a record (which it modifies in place: it was decoded for this document alone). */
export function encodeDocument(
  record: Record<string, unknown>,
  origin: RecordOrigin,
  options: EncodeOptions,
): EncodedDocument {
  for (const field of FLOW_TIME_FIELDS) {
    if (field in record && parsePmacctTime(record[field], options.timezone) === null) record[field] = null;
  }
  for (const field of ADDRESS_FIELDS) {
    if (record[field] === "") record[field] = null;
  }
  const time = flowTime(record, options.timezone, origin.timestampMs);
  record["@timestamp"] = new Date(time.epochMs).toISOString();
  return {
    index: dailyIndexName(options.indexPrefix, time.epochMs),
    id: documentId(origin),
    source: JSON.stringify(record),
  };
}
