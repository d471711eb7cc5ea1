/**
 * The bridge's settings, parsed from an environment map. Pure: no I/O, so every rule is tested
 * without a process. Variable names and defaults of the original Python tool are kept.
 *
 * @example
 * ```ts
 * const config = parseConfig({ KAFKA_BOOTSTRAP_SERVERS: "k1:9092", KAFKA_TOPIC: "pmacct" });
 * config.elastic.indexPrefix; // "sflow"
 * ```
 */

/** A setting that is missing or invalid; `main.ts` turns it into exit status 2. */
export class ConfigError extends Error {
  constructor(readonly variable: string, readonly expected: string, readonly got?: string) {
    super(
      got === undefined
        ? `${variable} is required: ${expected}`
        : `${variable}=${JSON.stringify(got)} is invalid: expected ${expected}`,
    );
    this.name = "ConfigError";
  }
}

export type Environment = Record<string, string | undefined>;

export interface ElasticConfig {
  /** Base URLs, e.g. `http://es01:9200`. */
  nodes: string[];
  useSsl: boolean;
  verifySsl: boolean;
  username?: string;
  password?: string;
  apiKey?: string;
  indexPrefix: string;
  indexTemplateFile: string;
  shards: number;
  replicas: number;
  maxSamplesPerSend: number;
  maxTimeToSendSeconds: number;
  maxBufferedSamples: number;
  bulkConcurrency: number;
  requestTimeoutSeconds: number;
  /** Retries of a document before it is dead-lettered; `undefined`: for ever. */
  maxRetries?: number;
}

export interface KafkaConfig {
  brokers: string[];
  topic: string;
  groupId: string;
  clientId: string;
  fromBeginning: boolean;
  /** How long the group waits for a silent member before handing its partitions to others. */
  sessionTimeoutSeconds: number;
  /** Dead-letter topic, or `undefined` when dead letters are switched off. */
  deadLetterTopic?: string;
}

export interface Config {
  kafka: KafkaConfig;
  elastic: ElasticConfig;
  /** IANA zone of pmacct's local-time strings (pmacct without `timestamps_utc`). */
  pmacctTimezone: string;
  /** Where `@timestamp` and the daily index come from. */
  timestampSource: TimestampSource;
  prometheusPort: number;
  shutdownTimeoutSeconds: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Messages about deprecated spellings that were accepted, to be logged at start-up. */
  warnings: string[];
}

/**
 * `flow`: the flow's own time (see `FLOW_TIME_FIELDS`); `kafka`: when pmacct published the
 * message; `ingest`: when the bridge read it, like the original tool (a replay that crosses
 * midnight then files a record under another day).
 */
export type TimestampSource = "flow" | "kafka" | "ingest";

const TIMESTAMP_SOURCES: readonly TimestampSource[] = ["flow", "kafka", "ingest"];

/** Names of settings whose values are never printed. */
export const SECRET_VARIABLES = ["ELASTIC_PASSWORD", "ELASTIC_API_KEY"] as const;

/** Every variable the bridge reads, with its default and meaning: the README's table. */
export const VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  {
    name: "KAFKA_BOOTSTRAP_SERVERS",
    default: "(required)",
    meaning: "Kafka bootstrap servers, `host:port`, comma-separated.",
  },
  { name: "KAFKA_TOPIC", default: "(required)", meaning: "Topic pmacct's kafka plugin writes to." },
  {
    name: "KAFKA_CONSUMER_GROUP_ID",
    default: "kafka2elastic",
    meaning: "Consumer group; run more copies with the same id to scale out.",
  },
  { name: "KAFKA_CLIENT_ID", default: "pmacct-kafka-elastic", meaning: "Client id shown in broker logs and quotas." },
  {
    name: "KAFKA_AUTO_OFFSET_RESET",
    default: "earliest",
    meaning: "Where a group with no committed offset starts: `earliest` or `latest`.",
  },
  {
    name: "KAFKA_SESSION_TIMEOUT",
    default: "30",
    meaning:
      "Seconds the group waits for a member that stopped heartbeating (crashed, killed) before its partitions go to the others.",
  },
  {
    name: "KAFKA_DLQ_TOPIC",
    default: "`<KAFKA_TOPIC>-dlq`",
    meaning:
      "Dead-letter topic for undecodable messages and documents Elasticsearch rejects for good; `off` logs and counts them only.",
  },
  {
    name: "ELASTIC_HOSTS",
    default: "127.0.0.1:9200",
    meaning: "Elasticsearch `host[:port]` list, comma-separated (port defaults to 9200); full URLs are accepted too.",
  },
  { name: "ELASTIC_USE_SSL", default: "NO", meaning: "`YES` connects with HTTPS." },
  { name: "ELASTIC_VERIFY_SSL", default: "YES", meaning: "`NO` accepts any server certificate (HTTPS only)." },
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
    meaning: 'File with `{"mappings": {...}}`, installed as the composable index template for `<prefix>-*`.',
  },
  { name: "ELASTIC_INDEX_SHARDS", default: "1", meaning: "`number_of_shards` of new daily indices." },
  { name: "ELASTIC_INDEX_REPLICAS", default: "0", meaning: "`number_of_replicas` of new daily indices." },
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
  {
    name: "PMACCT_TIMEZONE",
    default: "the host's zone",
    meaning: "IANA zone of pmacct's local-time strings (pmacct without `timestamps_utc: true`), e.g. `Europe/Zurich`.",
  },
  {
    name: "TIMESTAMP_SOURCE",
    default: "flow",
    meaning:
      "What `@timestamp` and the daily index are: `flow` the flow's own time (see *pmacct encodings*); `kafka` when pmacct published the message; `ingest` when the bridge read it (the original tool's behaviour).",
  },
  { name: "PROMETHEUS_CLIENT_PORT", default: "9003", meaning: "Port of `/metrics`, `/healthz` and `/readyz`." },
  {
    name: "SHUTDOWN_TIMEOUT",
    default: "30",
    meaning:
      "Seconds SIGTERM/SIGINT may spend flushing and committing before the bridge exits anyway (uncommitted records are then re-read on restart).",
  },
  { name: "LOG_LEVEL", default: "info", meaning: "`debug`, `info`, `warn` or `error`." },
];

const TRUE_WORDS = ["yes", "true", "1", "on"];
const FALSE_WORDS = ["no", "false", "0", "off"];

function text(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function required(env: Environment, name: string, expected: string): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigError(name, expected);
  return value;
}

function flag(env: Environment, name: string, fallback: boolean): boolean {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (TRUE_WORDS.includes(lower)) return true;
  if (FALSE_WORDS.includes(lower)) return false;
  throw new ConfigError(name, "YES or NO", value);
}

function integer(
  env: Environment,
  name: string,
  fallback: number,
  { min, max }: { min: number; max?: number },
): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  const range = max === undefined ? `>= ${min}` : `${min}..${max}`;
  if (!/^-?\d+$/.test(value) || parsed < min || (max !== undefined && parsed > max)) {
    throw new ConfigError(name, `an integer ${range}`, value);
  }
  return parsed;
}

function optionalInteger(env: Environment, name: string, bounds: { min: number; max?: number }): number | undefined {
  return text(env, name) === undefined ? undefined : integer(env, name, 0, bounds);
}

function list(value: string): string[] {
  return value.split(",").map((part) => part.trim()).filter((part) => part !== "");
}

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

function timezone(env: Environment, hostZone: string): string {
  const zone = text(env, "PMACCT_TIMEZONE") ?? hostZone;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
  } catch {
    throw new ConfigError("PMACCT_TIMEZONE", "an IANA time zone such as UTC or Europe/Zurich", zone);
  }
  return zone;
}

function brokers(env: Environment): string[] {
  const raw = required(env, "KAFKA_BOOTSTRAP_SERVERS", "Kafka bootstrap servers as host:port[,host:port]");
  const entries = list(raw);
  if (entries.length === 0 || entries.some((entry) => !/^[^\s:]+:\d+$|^\[[^\]]+\]:\d+$/.test(entry))) {
    throw new ConfigError("KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port]", raw);
  }
  return entries;
}

function deadLetterTopic(env: Environment, topic: string): string | undefined {
  const value = text(env, "KAFKA_DLQ_TOPIC");
  if (value === undefined) return `${topic}-dlq`;
  if (value.toLowerCase() === "off") return undefined;
  if (value === topic) throw new ConfigError("KAFKA_DLQ_TOPIC", "a topic other than KAFKA_TOPIC", value);
  return value;
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

/** Parses and validates every setting; throws {@linkcode ConfigError} on the first bad one. */
export function parseConfig(
  env: Environment,
  hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone,
): Config {
  const warnings: string[] = [];
  const topic = required(env, "KAFKA_TOPIC", "the topic pmacct writes to");
  const useSsl = flag(env, "ELASTIC_USE_SSL", false);
  const maxSamplesPerSend = integer(env, "ELASTIC_MAX_SAMPLES_PER_SEND", 1000, { min: 1, max: 100_000 });
  const offsetReset = (text(env, "KAFKA_AUTO_OFFSET_RESET") ?? "earliest").toLowerCase();
  if (offsetReset !== "earliest" && offsetReset !== "latest") {
    throw new ConfigError("KAFKA_AUTO_OFFSET_RESET", "earliest or latest", offsetReset);
  }
  const logLevel = (text(env, "LOG_LEVEL") ?? "info").toLowerCase();
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new ConfigError("LOG_LEVEL", "debug, info, warn or error", logLevel);
  }
  const timestampSource = (text(env, "TIMESTAMP_SOURCE") ?? "flow").toLowerCase() as TimestampSource;
  if (!TIMESTAMP_SOURCES.includes(timestampSource)) {
    throw new ConfigError("TIMESTAMP_SOURCE", "flow, kafka or ingest", timestampSource);
  }
  const username = text(env, "ELASTIC_USERNAME");
  const password = text(env, "ELASTIC_PASSWORD");
  if ((username === undefined) !== (password === undefined)) {
    throw new ConfigError(
      username === undefined ? "ELASTIC_USERNAME" : "ELASTIC_PASSWORD",
      "ELASTIC_USERNAME and ELASTIC_PASSWORD set together",
    );
  }
  const hosts = list(text(env, "ELASTIC_HOSTS") ?? "127.0.0.1:9200");
  if (hosts.length === 0) throw new ConfigError("ELASTIC_HOSTS", "host[:port][,host[:port]]", env.ELASTIC_HOSTS);
  return {
    kafka: {
      brokers: brokers(env),
      topic,
      groupId: text(env, "KAFKA_CONSUMER_GROUP_ID") ?? "kafka2elastic",
      clientId: text(env, "KAFKA_CLIENT_ID") ?? "pmacct-kafka-elastic",
      fromBeginning: offsetReset === "earliest",
      sessionTimeoutSeconds: integer(env, "KAFKA_SESSION_TIMEOUT", 30, { min: 6, max: 300 }),
      deadLetterTopic: deadLetterTopic(env, topic),
    },
    elastic: {
      nodes: hosts.map((host) => elasticNodeUrl(host, useSsl)),
      useSsl,
      verifySsl: flag(env, "ELASTIC_VERIFY_SSL", true),
      username,
      password,
      apiKey: text(env, "ELASTIC_API_KEY"),
      indexPrefix: indexPrefix(env),
      indexTemplateFile: text(env, "ELASTIC_INDEX_TEMPLATE") ?? "new-index-template.json",
      shards: integer(env, "ELASTIC_INDEX_SHARDS", 1, { min: 1, max: 1024 }),
      replicas: integer(env, "ELASTIC_INDEX_REPLICAS", 0, { min: 0, max: 16 }),
      maxSamplesPerSend,
      maxTimeToSendSeconds: maxTimeToSend(env, warnings),
      maxBufferedSamples: integer(env, "ELASTIC_MAX_BUFFERED_SAMPLES", Math.max(10 * maxSamplesPerSend, 10_000), {
        min: maxSamplesPerSend,
      }),
      bulkConcurrency: integer(env, "ELASTIC_BULK_CONCURRENCY", 2, { min: 1, max: 64 }),
      requestTimeoutSeconds: integer(env, "ELASTIC_REQUEST_TIMEOUT", 30, { min: 1, max: 3600 }),
      maxRetries: text(env, "ELASTIC_MAX_RETRIES")?.toLowerCase() === "forever"
        ? undefined
        : optionalInteger(env, "ELASTIC_MAX_RETRIES", { min: 0, max: 1_000_000 }),
    },
    pmacctTimezone: timezone(env, hostZone),
    timestampSource,
    prometheusPort: integer(env, "PROMETHEUS_CLIENT_PORT", 9003, { min: 1, max: 65_535 }),
    shutdownTimeoutSeconds: integer(env, "SHUTDOWN_TIMEOUT", 30, { min: 1, max: 3600 }),
    logLevel: logLevel as Config["logLevel"],
    warnings,
  };
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

/** The effective settings as `NAME=value` pairs for the start-up log, secrets masked. */
export function describeConfig(config: Config): string {
  const mask = (value: string | undefined) => (value === undefined ? "(none)" : "****");
  const pairs: Array<[string, unknown]> = [
    ["KAFKA_BOOTSTRAP_SERVERS", config.kafka.brokers.join(",")],
    ["KAFKA_TOPIC", config.kafka.topic],
    ["KAFKA_CONSUMER_GROUP_ID", config.kafka.groupId],
    ["KAFKA_CLIENT_ID", config.kafka.clientId],
    ["KAFKA_AUTO_OFFSET_RESET", config.kafka.fromBeginning ? "earliest" : "latest"],
    ["KAFKA_SESSION_TIMEOUT", config.kafka.sessionTimeoutSeconds],
    ["KAFKA_DLQ_TOPIC", config.kafka.deadLetterTopic ?? "off"],
    ["ELASTIC_HOSTS", config.elastic.nodes.join(",")],
    ["ELASTIC_USE_SSL", config.elastic.useSsl ? "YES" : "NO"],
    ["ELASTIC_VERIFY_SSL", config.elastic.verifySsl ? "YES" : "NO"],
    ["ELASTIC_USERNAME", config.elastic.username ?? "(none)"],
    ["ELASTIC_PASSWORD", mask(config.elastic.password)],
    ["ELASTIC_API_KEY", mask(config.elastic.apiKey)],
    ["ELASTIC_INDEX_PREFIX", config.elastic.indexPrefix],
    ["ELASTIC_INDEX_TEMPLATE", config.elastic.indexTemplateFile],
    ["ELASTIC_INDEX_SHARDS", config.elastic.shards],
    ["ELASTIC_INDEX_REPLICAS", config.elastic.replicas],
    ["ELASTIC_MAX_SAMPLES_PER_SEND", config.elastic.maxSamplesPerSend],
    ["ELASTIC_MAX_TIME_TO_SEND", config.elastic.maxTimeToSendSeconds],
    ["ELASTIC_MAX_BUFFERED_SAMPLES", config.elastic.maxBufferedSamples],
    ["ELASTIC_BULK_CONCURRENCY", config.elastic.bulkConcurrency],
    ["ELASTIC_REQUEST_TIMEOUT", config.elastic.requestTimeoutSeconds],
    ["ELASTIC_MAX_RETRIES", config.elastic.maxRetries ?? "forever"],
    ["PMACCT_TIMEZONE", config.pmacctTimezone],
    ["TIMESTAMP_SOURCE", config.timestampSource],
    ["PROMETHEUS_CLIENT_PORT", config.prometheusPort],
    ["SHUTDOWN_TIMEOUT", config.shutdownTimeoutSeconds],
    ["LOG_LEVEL", config.logLevel],
  ];
  return pairs.map(([name, value]) => `${name}=${value}`).join(" ");
}
