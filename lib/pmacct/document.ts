/**
 * Turns a decoded pmacct record into an Elasticsearch document: its daily index, a
 * deterministic `_id` and the JSON source with `@timestamp` set (by default) to the flow's own
 * time. pmacct's many encodings are normalised on the way so that one index template fits them
 * all: every time becomes UTC text, zero times and absent addresses become `null`, a `label`
 * printed as a map moves to `label_map`, and `telemetry_data` printed as text to
 * `telemetry_data_text`.
 *
 * @example
 * ```ts
 * const doc = encodeDocument(
 *   { stamp_inserted: "1795547400", bytes: 740 },
 *   { topic: "pmacct", partition: 0, offset: "42", position: 0, timestampMs: 0 },
 *   { indexPrefix: "sflow", timezone: "UTC", timestampSource: "flow" },
 * );
 * doc.index; // "sflow-2026-11-24"
 * doc.id; // "pmacct:0:42:0:mieemv40" (with `sourceCluster: "C"`: "C:pmacct:0:42:0:mieemv40")
 * JSON.parse(String(doc.source)).stamp_inserted; // "2026-11-24 19:10:00"
 * ```
 */
import {
  flowTime,
  type FlowTimeWindow,
  KAFKA_TIMESTAMP,
  misdated,
  type MisdatedReason,
  referenceTime,
  repeatedHourHint,
  timeFieldsOf,
} from "./flow_time.ts";
import { createHash } from "node:crypto";
import { dailyIndexName } from "../elastic/index_name.ts";
import { type SplicedJson, spliceJsonObject, type ValueReplacement } from "./json_splice.ts";
import { memoise } from "../runtime/memoise.ts";
import { readPmacctTime } from "./pmacct_time.ts";
import { isRawInteger, valueText } from "./exact_integers.ts";
import { ecsDocument } from "./ecs.ts";
import { recordCommunityId } from "./flow_tuple.ts";

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
  /**
   * The record's own Kafka time is not known (a dead letter written before letters carried it):
   * this digest of its bytes ({@linkcode untimedTag}) stands in for that time in its id, the one id
   * every letter of the record agrees on, and one that no other record at its coordinates (a topic
   * made again) has.
   */
  untimed?: string;
}

/**
 * Which time names a document's day and `@timestamp`: `flow`, the flow's own time (see
 * `FLOW_TIME_FIELDS`); `kafka`, when pmacct published the message; `ingest`, when the bridge read
 * it, like the original tool (a replay that crosses midnight then files a record under another day).
 */
export type TimestampSource = "flow" | "kafka" | "ingest";

export interface EncodeOptions {
  indexPrefix: string;
  timezone: string;
  timestampSource: TimestampSource;
  /**
   * With `timestampSource: "flow"`: how far from the Kafka time a flow's own time may be and still
   * name its day (no window when absent).
   */
  flowTimeWindow?: FlowTimeWindow;
  /** The Kafka cluster's id, which makes `_id`s unique beyond one cluster (see {@linkcode documentId}). */
  sourceCluster?: string;
  /** The clock for `timestampSource: "ingest"`, and for a message without a Kafka time. */
  now?: () => number;
  /** `ecs`: the document is the record in ECS fields ({@linkcode ecsDocument}); pmacct's own names by default. */
  fieldNames?: FieldNames;
  /** Whether the document carries the flow's Community ID (`community_id`, or ECS's `network.community_id`). */
  communityId?: boolean;
}

/** The field names documents are written in (`ELASTIC_FIELD_NAMES`). */
export type FieldNames = "pmacct" | "ecs";

/** Where the Community ID goes in a document of pmacct's own names. */
export const COMMUNITY_ID_FIELD = "community_id";

/** A flow whose own time was refused (see {@linkcode FlowTimeWindow}): filed under its Kafka time. */
export interface Misdated {
  reason: MisdatedReason;
  /** The pmacct field the refused time came from. */
  field: string;
  /** The refused time. */
  flowMs: number;
}

export interface EncodedDocument {
  index: string;
  /** The instant that named the index (and is `@timestamp`). */
  epochMs: number;
  id: string;
  /**
   * The document's JSON: the record serialised, or pmacct's own text with the normalised values
   * spliced in, kept as its parts until the `_bulk` body is written (`String(source)`).
   */
  source: string | SplicedJson;
  /** Set when the flow's own time was refused and the Kafka time named its day instead. */
  misdated?: Misdated;
}

/**
 * pmacct fields that carry an IP address and are written as `""` when absent; an empty string
 * would be rejected by an `ip` mapping, so it becomes `null` (no value).
 */
export const ADDRESS_FIELDS: readonly string[] = [
  "ip_src",
  "ip_dst",
  "net_src",
  "net_dst",
  "peer_ip",
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
 * Where a `label` printed as a map (`pre_tag_label_encode_as_map`) goes. `label` is a string in
 * pmacct's default encoding, and one field cannot be both a string and an object in an index.
 */
export const LABEL_MAP_FIELD = "label_map";

/**
 * Where pmtelemetryd's `telemetry_data` goes when it is not an object: text (`serialization`
 * `json_string`, or a GPB payload in base64), or any other value. The same field holds an object
 * for JSON devices, and one field cannot be both in an index.
 */
export const TELEMETRY_TEXT_FIELD = "telemetry_data_text";

/** A field moved to another when its value has the shape its usual one's mapping cannot take. */
interface FieldMove {
  from: string;
  to: string;
}

const isMap = (value: unknown) =>
  value !== null && typeof value === "object" && !Array.isArray(value) && !isRawInteger(value);

/** A field move with the shape of value that is moved, and what the value becomes. */
interface ShapeMove extends FieldMove {
  moves(value: unknown): boolean;
  moved(value: unknown): unknown;
}

/**
 * The moves a record may need. Telemetry that is no object goes as text, whatever it is (an
 * array of objects would be refused by a text field). A record that already has the field a value
 * would move to keeps both as they are: the move never overwrites.
 */
const FIELD_MOVES: readonly ShapeMove[] = [
  { from: "label", to: LABEL_MAP_FIELD, moves: isMap, moved: (value) => value },
  {
    from: "telemetry_data",
    to: TELEMETRY_TEXT_FIELD,
    moves: (value) => value !== null && !isMap(value),
    moved: (value) => typeof value === "string" ? value : valueText(value),
  },
];

/** A Kafka time as an id writes it: base 36, eight characters for this century's milliseconds. */
const kafkaTimeText = memoise((epochMs: number) => epochMs.toString(36), 10_000);

/**
 * What stands in an id for the Kafka time of a record whose time is not known: a digest of the
 * record's bytes, marked with `~` (no base-36 time has it). Two letters of one record have the same
 * bytes; two records at the same coordinates almost never do (96 bits).
 */
export function untimedTag(bytes: Uint8Array): string {
  return `~${createHash("sha256").update(bytes).digest("base64url").slice(0, 16)}`;
}

/**
 * The `_id` of a record: its Kafka cluster's id, topic, partition, offset, position in the
 * message, and the Kafka time of its message. A replay of the same Kafka record overwrites the
 * document instead of adding a second one; the same topic, partition and offset on another
 * cluster (two sites into one prefix) is another record, with another id; and so is another
 * record at the same offset of the same topic, which a topic deleted and made again, or a log cut
 * by an unclean leader election, puts there: it never overwrites the record indexed before.
 * Without a cluster id the id starts at the topic.
 */
export function documentId(
  origin: Pick<RecordOrigin, "topic" | "partition" | "offset" | "position" | "timestampMs" | "untimed">,
  cluster?: string,
): string {
  const coordinates = `${origin.topic}:${origin.partition}:${origin.offset}:${origin.position}`;
  const record = `${coordinates}:${origin.untimed ?? kafkaTimeText(origin.timestampMs)}`;
  return cluster === undefined ? record : `${cluster}:${record}`;
}

/**
 * What normalising changes in a record: the values it replaces, and the fields it moves (a
 * `label` map to {@linkcode LABEL_MAP_FIELD}, text telemetry to {@linkcode TELEMETRY_TEXT_FIELD}).
 */
interface Normalisation {
  replacements: ValueReplacement[];
  moves: ShapeMove[];
}

/**
 * Finds how pmacct's encodings in `record` become the one shape the index template expects; a
 * repeated local hour is read as its filing is, by the Kafka time `hintMs` (see `repeatedHourHint`).
 */
function normalisation(record: Record<string, unknown>, timezone: string, hintMs: number | undefined): Normalisation {
  const replacements: ValueReplacement[] = [];
  for (const field of timeFieldsOf(record)) {
    if (!(field in record)) continue;
    const current = record[field];
    const time = readPmacctTime(current, timezone, hintMs);
    if (time === null) replacements.push({ field, current, value: null });
    else if (time !== undefined && time.utc !== current) replacements.push({ field, current, value: time.utc });
  }
  for (const field of ADDRESS_FIELDS) {
    if (record[field] === "") replacements.push({ field, current: "", value: null });
  }
  const moves = FIELD_MOVES.filter(({ from, to, moves }) => from in record && !(to in record) && moves(record[from]));
  return { replacements, moves };
}

/** Applies a {@linkcode normalisation} to the record itself, for serialising it whole. */
function normaliseInPlace(record: Record<string, unknown>, { replacements, moves }: Normalisation): void {
  for (const { field, value } of replacements) record[field] = value;
  for (const { from, to, moved } of moves) {
    record[to] = moved(record[from]);
    delete record[from];
  }
}

const NO_WINDOW: FlowTimeWindow = {};

/** The instant that names the record's day and `@timestamp`, and why the flow's own was refused. */
function timestampOf(
  record: Record<string, unknown>,
  origin: RecordOrigin,
  options: EncodeOptions,
): { epochMs: number; misdated?: Misdated } {
  const now = options.now ?? Date.now;
  switch (options.timestampSource) {
    case "flow": {
      const flow = flowTime(record, options.timezone, origin.timestampMs, origin.untimed);
      // No pmacct time: the Kafka time, or the clock where the message has none (a message format
      // before Kafka 0.10), which no window can refuse.
      const reference = referenceTime(origin.timestampMs, now);
      if (flow.field === KAFKA_TIMESTAMP) return { epochMs: reference };
      const reason = misdated(flow.epochMs, reference, options.flowTimeWindow ?? NO_WINDOW);
      if (reason === undefined) return { epochMs: flow.epochMs };
      return { epochMs: reference, misdated: { reason, field: flow.field, flowMs: flow.epochMs } };
    }
    case "kafka":
      return { epochMs: referenceTime(origin.timestampMs, now) };
    case "ingest":
      return { epochMs: now() };
  }
}

/** `@timestamp` as text and as the JSON member the bridge appends, for one instant. */
interface TimestampTexts {
  text: string;
  member: string;
}

/** Memoised, as flows share their seconds (and many their milliseconds). */
const timestampTextsOf = memoise((epochMs: number): TimestampTexts => {
  const text = new Date(epochMs).toISOString();
  return { text, member: `"@timestamp":"${text}"` };
}, 50_000);

/**
 * Encodes a record. Given the JSON `text` it was parsed from (and its ASCII `bytes`), the source
 * is that text with the normalised values spliced in, written when the body is. Without it, or
 * where splicing cannot be sure, the record is normalised in place (it was decoded for this
 * document alone) and serialised.
 */
export function encodeDocument(
  record: Record<string, unknown>,
  origin: RecordOrigin,
  options: EncodeOptions,
  text?: string,
  bytes?: Uint8Array,
): EncodedDocument {
  // Read before normalising: the times are then parsed once (normalising hits the same memoised
  // parses) instead of a second time from the rewritten UTC text.
  const { epochMs, misdated } = timestampOf(record, origin, options);
  const timestamp = timestampTextsOf(epochMs);
  const changes = normalisation(record, options.timezone, repeatedHourHint(origin.timestampMs, origin.untimed));
  let source: string | SplicedJson | undefined;
  if (options.fieldNames === "ecs") {
    normaliseInPlace(record, changes);
    source = JSON.stringify(ecsDocument(record, timestamp.text, options.communityId ?? true));
  } else {
    const flowId = options.communityId ? recordCommunityId(record) : undefined;
    const spliceable = text !== undefined && changes.moves.length === 0 && !("@timestamp" in record) &&
      !(flowId !== undefined && COMMUNITY_ID_FIELD in record);
    if (spliceable) {
      const members = flowId === undefined
        ? timestamp.member
        : `${timestamp.member},"${COMMUNITY_ID_FIELD}":"${flowId}"`;
      source = spliceJsonObject(text, changes.replacements, members, bytes);
    }
    if (source === undefined) {
      normaliseInPlace(record, changes);
      record["@timestamp"] = timestamp.text;
      if (flowId !== undefined) record[COMMUNITY_ID_FIELD] = flowId;
      source = JSON.stringify(record);
    }
  }
  const index = dailyIndexName(options.indexPrefix, epochMs);
  const id = documentId(origin, options.sourceCluster);
  return misdated === undefined ? { index, epochMs, id, source } : { index, epochMs, id, source, misdated };
}
