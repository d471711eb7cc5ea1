/**
 * Which search server the bridge talks to, and whether it supports it. Pure: the adapter
 * (`connect.ts`) asks the server, this decides.
 *
 * @example
 * ```ts
 * const server = { distribution: "elasticsearch", version: "7.17.25" } as const;
 * supportProblem(server); // undefined: supported
 * describeServer(server); // "Elasticsearch 7.17.25"
 * ```
 */

export type Distribution = "elasticsearch" | "opensearch";

export interface ServerInfo {
  distribution: Distribution;
  /** As the server reports it, e.g. `8.14.1`. */
  version: string;
}

/** `8.14.1` → `[8, 14]`; unparsable parts are 0. */
export function majorMinor(version: string): [number, number] {
  const [major, minor] = version.split(".").map((part) => parseInt(part, 10));
  return [Number.isFinite(major) ? major : 0, Number.isFinite(minor) ? minor : 0];
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = majorMinor(version);
  return a > major || (a === major && b >= minor);
}

export function describeServer(server: ServerInfo): string {
  return `${server.distribution === "opensearch" ? "OpenSearch" : "Elasticsearch"} ${server.version}`;
}

/** What the bridge supports, for messages. */
export const SUPPORTED_SERVERS = "Elasticsearch 7.17, 8.x or 9.x, or OpenSearch 2.7 to 3.x";

/**
 * Why the bridge cannot work with `server`, or `undefined` when it can. Elasticsearch before
 * 7.17 does not accept the version-8 compatible headers of the client; OpenSearch before 2.7
 * has no `flat_object` for `flattened` fields; major versions after those tested are refused
 * rather than guessed at.
 */
export function supportProblem(server: ServerInfo): string | undefined {
  const [major] = majorMinor(server.version);
  const supported = server.distribution === "elasticsearch"
    ? atLeast(server.version, 7, 17) && major <= 9
    : atLeast(server.version, 2, 7) && major <= 3;
  return supported ? undefined : `${describeServer(server)} is not supported: the bridge needs ${SUPPORTED_SERVERS}`;
}

/** Numeric field types, each searchable by doc values where numbers are. */
const NUMERIC_TYPES = [
  "long",
  "integer",
  "short",
  "byte",
  "double",
  "float",
  "half_float",
  "scaled_float",
  "unsigned_long",
];

/** Field types some server can search by doc values alone; others have no doc values to search. */
export const DOC_VALUE_TYPES: ReadonlySet<string> = new Set([
  ...NUMERIC_TYPES,
  "date",
  "date_nanos",
  "boolean",
  "ip",
  "keyword",
]);

/** Template features that differ between the supported servers. */
export interface TemplateFeatures {
  /** The field type for a JSON object of arbitrary keys: `flattened`, or OpenSearch's `flat_object`. */
  flattenedType: "flattened" | "flat_object";
  /** Whether a dynamic template's `match_mapping_type` may list several types (Elasticsearch 8.13+). */
  mappingTypeLists: boolean;
  /**
   * The field types a query can search by doc values alone (`index: false`): Elasticsearch 8.1+
   * for numbers, dates, booleans, addresses and keywords; OpenSearch 2.14+ for all of those but
   * keywords, and 2.19+ for keywords too. (Elasticsearch 7.17 refuses a `term` query on such a
   * field, and answers a date `range` with no hits, silently.)
   */
  docValueSearch: ReadonlySet<string>;
  /** Whose lifecycle settings the server takes: ILM (`elasticsearch`) or ISM (`opensearch`). */
  lifecycle: Distribution;
}

export function templateFeatures(server: ServerInfo): TemplateFeatures {
  const elastic = server.distribution === "elasticsearch";
  const docValueSearch = elastic
    ? (atLeast(server.version, 8, 1) ? [...NUMERIC_TYPES, "date", "date_nanos", "boolean", "ip", "keyword"] : [])
    : [
      ...(atLeast(server.version, 2, 14) ? [...NUMERIC_TYPES, "date", "date_nanos", "boolean", "ip"] : []),
      ...(atLeast(server.version, 2, 19) ? ["keyword"] : []),
    ];
  return {
    flattenedType: elastic ? "flattened" : "flat_object",
    mappingTypeLists: elastic && atLeast(server.version, 8, 13),
    docValueSearch: new Set(docValueSearch),
    lifecycle: server.distribution,
  };
}
