/**
 * Elasticsearch (or OpenSearch) settings: the nodes, how to trust and log in to them, and how
 * the daily indices are written.
 */
import type { FieldNames } from "../pmacct/document.ts";
import {
  byteSize,
  choice,
  ConfigError,
  type Environment,
  flag,
  formatBytes,
  integer,
  list,
  optionalInteger,
  pair,
  text,
  type Variable,
} from "./parse.ts";

/** How the bridge trusts the cluster's certificate and proves who it is. */
export interface ElasticTls {
  /** `false`: any certificate is accepted (`ELASTIC_VERIFY_SSL=NO`). */
  verify: boolean;
  caFile?: string;
  /** SHA-256 of the CA certificate, upper-case hex pairs joined by colons. */
  caFingerprint?: string;
  certFile?: string;
  keyFile?: string;
}

export interface ElasticConfig {
  /** Base URLs, e.g. `http://es01:9200`. */
  nodes: string[];
  useSsl: boolean;
  tls: ElasticTls;
  username?: string;
  password?: string;
  apiKey?: string;
  indexPrefix: string;
  indexTemplateFile: string;
  /** The names documents are written in: pmacct's own, or ECS's. */
  fieldNames: FieldNames;
  /** Whether documents carry the flow's Community ID. */
  communityId: boolean;
  /** Ingest pipeline every `_bulk` request names (`ELASTIC_PIPELINE`); `undefined`: none. */
  pipeline?: string;
  /** `ELASTIC_INDEX_SHARDS`; `undefined` when unset (the template file's, else 1). */
  shards?: number;
  /** `ELASTIC_INDEX_REPLICAS`; `undefined` when unset (the template file's, else 0). */
  replicas?: number;
  /** Days of daily indices kept (`ELASTIC_RETENTION`); `undefined`: retention is off. */
  retentionDays?: number;
  maxSamplesPerSend: number;
  maxTimeToSendSeconds: number;
  maxBufferedSamples: number;
  /** Bytes of records and dead letters held (`ELASTIC_MAX_BUFFERED_BYTES`). */
  maxBufferedBytes: number;
  bulkConcurrency: number;
  requestTimeoutSeconds: number;
  /** Retries of a document before it is dead-lettered; `undefined`: for ever. */
  maxRetries?: number;
}

const FIELD_NAMES: readonly FieldNames[] = ["pmacct", "ecs"];

/** The template file of each field naming, built into the compiled binary. */
export const DEFAULT_TEMPLATE_FILES: Readonly<Record<FieldNames, string>> = {
  pmacct: "new-index-template.json",
  ecs: "ecs-index-template.json",
};

export const ELASTIC_VARIABLES: readonly Variable[] = [
  {
    name: "ELASTIC_HOSTS",
    default: "127.0.0.1:9200",
    meaning:
      "Nodes of one Elasticsearch or OpenSearch cluster, `host[:port]` (port 9200 by default) or URLs, comma-separated. Requests are spread over them and move on when one fails.",
  },
  {
    name: "ELASTIC_USE_SSL",
    default: "NO",
    meaning:
      "`YES` connects with HTTPS (implied by `ELASTIC_CA_FILE`, `ELASTIC_CA_FINGERPRINT` or a client certificate).",
  },
  {
    name: "ELASTIC_VERIFY_SSL",
    default: "YES",
    meaning: "`NO` accepts any server certificate (HTTPS only): for a test, never for production.",
  },
  {
    name: "ELASTIC_CA_FILE",
    default: "the system's CAs",
    meaning: "PEM file of the CA(s) that signed the cluster's HTTP certificate, e.g. Elasticsearch 8's `http_ca.crt`.",
  },
  {
    name: "ELASTIC_CA_FINGERPRINT",
    default: "(none)",
    meaning:
      "SHA-256 fingerprint of that CA, as Elasticsearch 8 prints it at first start (`AA:BB:...` or plain hex); instead of `ELASTIC_CA_FILE`.",
  },
  {
    name: "ELASTIC_CLIENT_CERT_FILE",
    default: "(none)",
    meaning: "PEM client certificate, for clusters that ask for one (PKI realm, `client_authentication`).",
  },
  {
    name: "ELASTIC_CLIENT_KEY_FILE",
    default: "(none)",
    meaning: "The client certificate's PEM private key (unencrypted).",
  },
  { name: "ELASTIC_USERNAME", default: "(none)", meaning: "Basic-auth user." },
  { name: "ELASTIC_PASSWORD", default: "(none)", meaning: "Basic-auth password (masked in logs)." },
  { name: "ELASTIC_API_KEY", default: "(none)", meaning: "API key, instead of user and password (masked in logs)." },
  {
    name: "ELASTIC_INDEX_PREFIX",
    default: "sflow",
    meaning: "Indices are named `<prefix>-yyyy-MM-dd` from each flow's own UTC date.",
  },
  {
    name: "ELASTIC_INDEX_TEMPLATE",
    default: "new-index-template.json",
    meaning:
      'File of `{"settings": {...}, "mappings": {...}}` for the daily indices, installed as their index template ([index template](docs/index-template.md)).',
  },
  {
    name: "ELASTIC_FIELD_NAMES",
    default: "pmacct",
    meaning:
      "`pmacct`: pmacct's own field names; `ecs`: [ECS fields](docs/ecs.md), with `ecs-index-template.json` as the default template.",
  },
  {
    name: "ELASTIC_COMMUNITY_ID",
    default: "off (on with ecs)",
    meaning: "`on`: each flow carries its Community ID, in `community_id` (`network.community_id` with `ecs`).",
  },
  {
    name: "ELASTIC_PIPELINE",
    default: "(none)",
    meaning:
      "Ingest pipeline named in every `_bulk` request (GeoIP, ASN enrichment); the bridge waits at start until it exists.",
  },
  {
    name: "ELASTIC_INDEX_SHARDS",
    default: "1",
    meaning: "`number_of_shards` of new daily indices; set, it wins over the template file's.",
  },
  {
    name: "ELASTIC_INDEX_REPLICAS",
    default: "0",
    meaning: "`number_of_replicas` of new daily indices; set, it wins over the template file's.",
  },
  {
    name: "ELASTIC_RETENTION",
    default: "off",
    meaning:
      "Days of daily indices to keep, e.g. `30d`: at start and every hour, indices `<prefix>-yyyy-MM-dd` dated more than that before today (UTC) are deleted. Other names are never touched.",
  },
  {
    name: "ELASTIC_MAX_SAMPLES_PER_SEND",
    default: "1000",
    meaning: "Records per `_bulk` request; a full batch is sent at once.",
  },
  {
    name: "ELASTIC_MAX_TIME_TO_SEND",
    default: "10",
    meaning:
      "Seconds a record may wait in the buffer before it is sent, even with no new message. The original's misspelt `ELASTC_MAX_TIME_TO_SEND` is accepted with a warning.",
  },
  {
    name: "ELASTIC_MAX_BUFFERED_SAMPLES",
    default: "10 × batch size",
    meaning: "Records held in memory; at this bound the bridge stops fetching until Elasticsearch catches up.",
  },
  {
    name: "ELASTIC_MAX_BUFFERED_BYTES",
    default: "32mb",
    meaning:
      "Bytes of records and dead letters held (`kb`, `mb`, `gb`); fetching stops at this bound too. A `_bulk` request carries a quarter of it (16mb at most); a larger record is a `record_too_large` dead letter.",
  },
  { name: "ELASTIC_BULK_CONCURRENCY", default: "2", meaning: "`_bulk` requests in flight at once." },
  {
    name: "ELASTIC_REQUEST_TIMEOUT",
    default: "30",
    meaning: "Seconds before a `_bulk` request is abandoned and retried.",
  },
  {
    name: "ELASTIC_MAX_RETRIES",
    default: "forever",
    meaning:
      "Retries of a document Elasticsearch does not accept (outage, 429, 5xx) before it is dead-lettered as `retry_budget_exhausted`; `forever` never gives up. 401/403 are always retried.",
  },
];

/** `es01`, `es02:9290`, `[::1]:9200` or `https://es03:9200` → base URL. */
export function elasticNodeUrl(host: string, useSsl: boolean): string {
  if (/^https?:\/\//i.test(host)) return host.replace(/\/+$/, "");
  const scheme = useSsl ? "https" : "http";
  const bracketed = /^\[[^\]]+\](:\d+)?$/.test(host);
  const hasPort = bracketed ? /\]:\d+$/.test(host) : /^[^:]+:\d+$/.test(host);
  if (!bracketed && host.includes(":") && !hasPort) {
    throw new ConfigError("ELASTIC_HOSTS", "host[:port] entries (IPv6 in brackets)", host);
  }
  return `${scheme}://${hasPort ? host : `${host}:9200`}`;
}

/** `aa:bb:…` or `AABB…` (64 hex digits) → `AA:BB:…`. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/[:\s]/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new ConfigError("ELASTIC_CA_FINGERPRINT", "a SHA-256 fingerprint: 64 hex digits, colons optional", value);
  }
  return hex.match(/../g)!.join(":");
}

function tls(env: Environment): ElasticTls {
  const caFile = text(env, "ELASTIC_CA_FILE");
  const fingerprint = text(env, "ELASTIC_CA_FINGERPRINT");
  if (caFile !== undefined && fingerprint !== undefined) {
    throw new ConfigError(
      "ELASTIC_CA_FINGERPRINT",
      "either ELASTIC_CA_FILE or ELASTIC_CA_FINGERPRINT, not both",
      fingerprint,
    );
  }
  const [certFile, keyFile] = pair(env, "ELASTIC_CLIENT_CERT_FILE", "ELASTIC_CLIENT_KEY_FILE") ?? [];
  return {
    verify: flag(env, "ELASTIC_VERIFY_SSL", true),
    caFile,
    caFingerprint: fingerprint === undefined ? undefined : normalizeFingerprint(fingerprint),
    certFile,
    keyFile,
  };
}

/**
 * Reads the time-to-send setting under its correct name, or under the original tool's misspelt
 * `ELASTC_MAX_TIME_TO_SEND` (which the original read, so its users may have set it).
 */
function maxTimeToSend(env: Environment, warnings: string[]): number {
  const bounds = { min: 1, max: 86_400 };
  if (text(env, "ELASTIC_MAX_TIME_TO_SEND") !== undefined) {
    return integer(env, "ELASTIC_MAX_TIME_TO_SEND", 10, bounds);
  }
  if (text(env, "ELASTC_MAX_TIME_TO_SEND") !== undefined) {
    warnings.push(
      "ELASTC_MAX_TIME_TO_SEND is a misspelling kept for compatibility; rename it ELASTIC_MAX_TIME_TO_SEND",
    );
    return integer(env, "ELASTC_MAX_TIME_TO_SEND", 10, bounds);
  }
  return 10;
}

/** Elasticsearch index names must be lowercase and free of a few characters. */
function indexPrefix(env: Environment): string {
  const prefix = text(env, "ELASTIC_INDEX_PREFIX") ?? "sflow";
  if (!/^[a-z0-9][a-z0-9._+-]*$/.test(prefix)) {
    throw new ConfigError(
      "ELASTIC_INDEX_PREFIX",
      "lowercase letters, digits, '.', '_', '+' or '-', not starting with a symbol",
      prefix,
    );
  }
  return prefix;
}

/** `ELASTIC_RETENTION`: `<days>d`, or `off` (the default). */
function retentionDays(env: Environment): number | undefined {
  const value = text(env, "ELASTIC_RETENTION");
  if (value === undefined || value.toLowerCase() === "off") return undefined;
  const days = /^(\d+)d$/.exec(value);
  if (days === null || Number(days[1]) < 1 || Number(days[1]) > 36_500) {
    throw new ConfigError("ELASTIC_RETENTION", "a number of days such as 30d (1d to 36500d), or off", value);
  }
  return Number(days[1]);
}

/** Settings that only mean something over TLS, in the order a mistake is reported. */
const TLS_VARIABLES = ["ELASTIC_USE_SSL", "ELASTIC_CA_FILE", "ELASTIC_CA_FINGERPRINT", "ELASTIC_CLIENT_CERT_FILE"];

/**
 * An `http://` URL wins over every TLS setting, so with one of them set the operator meant TLS
 * and would get plain text, credentials included: that is an error. Credentials to a node reached
 * over plain HTTP without any TLS setting (an `http://` URL, or a host with TLS off) may be
 * deliberate (a node on the same host, a proxy beside it) and only warn.
 */
function checkPlainHttp(
  env: Environment,
  hosts: string[],
  nodes: string[],
  credentials: boolean,
  warnings: string[],
): void {
  const written = hosts.find((host) => /^http:\/\//i.test(host));
  const tlsSetting = TLS_VARIABLES.find((name) =>
    name === "ELASTIC_USE_SSL" ? flag(env, name, false) : text(env, name) !== undefined
  );
  if (written !== undefined && tlsSetting !== undefined) {
    throw new ConfigError(
      "ELASTIC_HOSTS",
      `https:// URLs (or hosts without a scheme) with ${tlsSetting} set: an http:// URL is sent in plain text, without TLS`,
      written,
    );
  }
  const plain = nodes.find((node) => /^http:\/\//i.test(node));
  if (credentials && plain !== undefined) {
    warnings.push(
      `Elasticsearch is reached at ${plain} over plain HTTP: its credentials go in plain text; use https:// (ELASTIC_USE_SSL=YES) to protect them`,
    );
  }
}

/**
 * `ELASTIC_MAX_BUFFERED_BYTES` when unset. pmacct's records are a few hundred bytes, so 10,000 of
 * them never come near it; it binds for records of tens or hundreds of kilobytes (wide
 * multi-value messages, long labels), whose count alone would let the heap grow past gigabytes.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 32 * 1024 ** 2;

/** `ELASTIC_MAX_BUFFERED_SAMPLES` when unset: ten batches, and at least 10,000 records. */
export function defaultMaxBuffered(maxSamplesPerSend: number): number {
  return Math.max(10 * maxSamplesPerSend, 10_000);
}

/** Parses the Elasticsearch group; deprecated spellings that were accepted go to `warnings`. */
export function parseElasticConfig(env: Environment, warnings: string[]): ElasticConfig {
  const trust = tls(env);
  const useSsl = flag(env, "ELASTIC_USE_SSL", false) || trust.caFile !== undefined ||
    trust.caFingerprint !== undefined || trust.certFile !== undefined;
  const maxSamplesPerSend = integer(env, "ELASTIC_MAX_SAMPLES_PER_SEND", 1000, { min: 1, max: 100_000 });
  const [username, password] = pair(env, "ELASTIC_USERNAME", "ELASTIC_PASSWORD") ?? [];
  const hosts = list(text(env, "ELASTIC_HOSTS") ?? "127.0.0.1:9200");
  const fieldNames = choice(env, "ELASTIC_FIELD_NAMES", FIELD_NAMES, "pmacct");
  if (hosts.length === 0) throw new ConfigError("ELASTIC_HOSTS", "host[:port][,host[:port]]", env.ELASTIC_HOSTS);
  const apiKey = text(env, "ELASTIC_API_KEY");
  const nodes = hosts.map((host) => elasticNodeUrl(host, useSsl));
  checkPlainHttp(env, hosts, nodes, username !== undefined || apiKey !== undefined, warnings);
  return {
    nodes,
    useSsl,
    tls: trust,
    username,
    password,
    apiKey,
    indexPrefix: indexPrefix(env),
    indexTemplateFile: text(env, "ELASTIC_INDEX_TEMPLATE") ?? DEFAULT_TEMPLATE_FILES[fieldNames],
    fieldNames,
    communityId: flag(env, "ELASTIC_COMMUNITY_ID", fieldNames === "ecs"),
    pipeline: text(env, "ELASTIC_PIPELINE"),
    shards: optionalInteger(env, "ELASTIC_INDEX_SHARDS", { min: 1, max: 1024 }),
    replicas: optionalInteger(env, "ELASTIC_INDEX_REPLICAS", { min: 0, max: 16 }),
    retentionDays: retentionDays(env),
    maxSamplesPerSend,
    maxTimeToSendSeconds: maxTimeToSend(env, warnings),
    maxBufferedSamples: integer(env, "ELASTIC_MAX_BUFFERED_SAMPLES", defaultMaxBuffered(maxSamplesPerSend), {
      min: maxSamplesPerSend,
    }),
    maxBufferedBytes: byteSize(env, "ELASTIC_MAX_BUFFERED_BYTES", DEFAULT_MAX_BUFFERED_BYTES, {
      min: 64 * 1024,
      max: 64 * 1024 ** 3,
    }),
    bulkConcurrency: integer(env, "ELASTIC_BULK_CONCURRENCY", 2, { min: 1, max: 64 }),
    requestTimeoutSeconds: integer(env, "ELASTIC_REQUEST_TIMEOUT", 30, { min: 1, max: 3600 }),
    maxRetries: text(env, "ELASTIC_MAX_RETRIES")?.toLowerCase() === "forever"
      ? undefined
      : optionalInteger(env, "ELASTIC_MAX_RETRIES", { min: 0, max: 1_000_000 }),
  };
}

/** The effective Elasticsearch settings for the start-up log; secrets are masked. */
export function describeElasticConfig(config: ElasticConfig): Array<[string, unknown]> {
  const mask = (value: string | undefined) => (value === undefined ? "(none)" : "****");
  return [
    ["ELASTIC_HOSTS", config.nodes.join(",")],
    ["ELASTIC_USE_SSL", config.useSsl ? "YES" : "NO"],
    ["ELASTIC_VERIFY_SSL", config.tls.verify ? "YES" : "NO"],
    ["ELASTIC_CA_FILE", config.tls.caFile ?? "(none)"],
    ["ELASTIC_CA_FINGERPRINT", config.tls.caFingerprint ?? "(none)"],
    ["ELASTIC_CLIENT_CERT_FILE", config.tls.certFile ?? "(none)"],
    ["ELASTIC_CLIENT_KEY_FILE", config.tls.keyFile ?? "(none)"],
    ["ELASTIC_USERNAME", config.username ?? "(none)"],
    ["ELASTIC_PASSWORD", mask(config.password)],
    ["ELASTIC_API_KEY", mask(config.apiKey)],
    ["ELASTIC_INDEX_PREFIX", config.indexPrefix],
    ["ELASTIC_INDEX_TEMPLATE", config.indexTemplateFile],
    ["ELASTIC_FIELD_NAMES", config.fieldNames],
    ["ELASTIC_COMMUNITY_ID", config.communityId ? "on" : "off"],
    ["ELASTIC_PIPELINE", config.pipeline ?? "(none)"],
    ["ELASTIC_INDEX_SHARDS", config.shards ?? "(the template's, else 1)"],
    ["ELASTIC_INDEX_REPLICAS", config.replicas ?? "(the template's, else 0)"],
    ["ELASTIC_RETENTION", config.retentionDays === undefined ? "off" : `${config.retentionDays}d`],
    ["ELASTIC_MAX_SAMPLES_PER_SEND", config.maxSamplesPerSend],
    ["ELASTIC_MAX_TIME_TO_SEND", config.maxTimeToSendSeconds],
    ["ELASTIC_MAX_BUFFERED_SAMPLES", config.maxBufferedSamples],
    ["ELASTIC_MAX_BUFFERED_BYTES", formatBytes(config.maxBufferedBytes)],
    ["ELASTIC_BULK_CONCURRENCY", config.bulkConcurrency],
    ["ELASTIC_REQUEST_TIMEOUT", config.requestTimeoutSeconds],
    ["ELASTIC_MAX_RETRIES", config.maxRetries ?? "forever"],
  ];
}
