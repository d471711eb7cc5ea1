/**
 * The bridge's settings, parsed from an environment map. Pure: no I/O, so every rule is tested
 * without a process. Variable names and defaults of the original Python tool are kept. Each
 * group of settings lives in its own file beside this one.
 *
 * @example
 * ```ts
 * const config = parseConfig({ KAFKA_BOOTSTRAP_SERVERS: "k1:9092", KAFKA_TOPIC: "pmacct" });
 * config.elastic.indexPrefix; // "sflow"
 * ```
 */
import { describeElasticConfig, ELASTIC_VARIABLES, type ElasticConfig, parseElasticConfig } from "./elastic.ts";
import { describeKafkaConfig, KAFKA_VARIABLES, type KafkaConfig, parseKafkaConfig } from "./kafka.ts";
import { SECRET_FILE_NAMES, withSecretFiles } from "./secret_files.ts";
import { isIP } from "node:net";
import type { LogFormat } from "../runtime/log.ts";
import type { FlowTimeWindow } from "../pmacct/flow_time.ts";
import type { TimestampSource } from "../pmacct/document.ts";
import { isUtcZone } from "../pmacct/pmacct_time.ts";
import {
  choice,
  ConfigError,
  durationOrOff,
  type Environment,
  formatDurationOrOff,
  integer,
  text,
  type Variable,
} from "./parse.ts";

export { ConfigError, type Environment, type Variable } from "./parse.ts";
export { type ElasticConfig, elasticNodeUrl, type ElasticTls } from "./elastic.ts";
export { type KafkaConfig, type KafkaSecurity, type TlsFiles } from "./kafka.ts";

export interface Config {
  kafka: KafkaConfig;
  elastic: ElasticConfig;
  /** IANA zone of pmacct's local-time strings (pmacct without `timestamps_utc`). */
  pmacctTimezone: string;
  /** Whether `PMACCT_TIMEZONE` named that zone; else it is the host's, assumed. */
  pmacctTimezoneSet: boolean;
  /** The zone was assumed and is UTC: records whose times look like another zone's are warned of. */
  suspectLocalTime: boolean;
  /** Where `@timestamp` and the daily index come from. */
  timestampSource: TimestampSource;
  /** With `timestampSource: "flow"`, how far from its Kafka time a flow's own time may name its day. */
  flowTimeWindow: FlowTimeWindow;
  /** The address `/metrics`, `/healthz` and `/readyz` listen on (`0.0.0.0`: every IPv4 interface). */
  prometheusHost: string;
  prometheusPort: number;
  shutdownTimeoutSeconds: number;
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: LogFormat;
  /** The files secrets were read from, by `_FILE` variable (see `resolveSecretFiles`). */
  secretFiles: Record<string, string>;
  /** Messages about deprecated spellings that were accepted, to be logged at start-up. */
  warnings: string[];
}

const TIMESTAMP_SOURCES: readonly TimestampSource[] = ["flow", "kafka", "ingest"];
const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const GENERAL_VARIABLES: readonly Variable[] = [
  {
    name: "PMACCT_TIMEZONE",
    default: "the host's zone",
    meaning: "IANA zone of pmacct's local-time strings (pmacct without `timestamps_utc: true`), e.g. `Europe/Zurich`.",
  },
  {
    name: "TIMESTAMP_SOURCE",
    default: "flow",
    meaning:
      "What `@timestamp` and the daily index are: `flow` the flow's own time (see [pmacct encodings](docs/pmacct-encodings.md)); `kafka` when pmacct published the message; `ingest` when the bridge read it (the original tool's behaviour).",
  },
  {
    name: "FLOW_TIME_MAX_AGE",
    default: "7d",
    meaning:
      "How long before its Kafka message time a flow's own time may be and still name its day (`s`, `m`, `h` or `d`, or `off`); an older one (an exporter clock at 2000-01-01) is filed under the Kafka time, counted and logged. Set `off` to replay old captures into their own days.",
  },
  {
    name: "FLOW_TIME_MAX_AHEAD",
    default: "1h",
    meaning:
      "How long after its Kafka message time a flow's own time may be (exporter clock skew), or `off`; a later one is filed under the Kafka time, counted and logged.",
  },
  {
    name: "PROMETHEUS_CLIENT_HOST",
    default: "0.0.0.0",
    meaning:
      "Address `/metrics`, `/healthz` and `/readyz` listen on: `0.0.0.0` every IPv4 interface (the original tool's), `::` every interface, `127.0.0.1` this host only, or one interface's address.",
  },
  { name: "PROMETHEUS_CLIENT_PORT", default: "9003", meaning: "Port of `/metrics`, `/healthz` and `/readyz`." },
  {
    name: "SHUTDOWN_TIMEOUT",
    default: "30",
    meaning:
      "Seconds SIGTERM/SIGINT may spend flushing and committing before the bridge exits anyway (uncommitted records are then re-read on restart).",
  },
  { name: "LOG_LEVEL", default: "info", meaning: "`debug`, `info`, `warn` or `error`." },
  {
    name: "LOG_FORMAT",
    default: "text",
    meaning:
      "`text`: `time LEVEL message key=value ...` lines; `json`: one JSON object per line with `@timestamp`, `log.level`, `message` and the fields, ready to ship into Elasticsearch.",
  },
];

/**
 * A flow is at most this much older than the message pmacct published it in: daily aggregates
 * (`kafka_history: 1d`) are a day old when sent, and exporters that buffer through an outage a
 * few days more. Older is a broken clock (devices without NTP boot at 1970 or 2000).
 */
const DEFAULT_FLOW_TIME_MAX_AGE_MS = 7 * 86_400_000;
/**
 * A flow cannot start after it was published: only the exporter's clock skew puts it ahead. An
 * hour covers ordinary skew and an exporter a DST hour off; more is a wrong clock or zone.
 */
const DEFAULT_FLOW_TIME_MAX_AHEAD_MS = 3_600_000;

/** Every variable the bridge reads, with its default and meaning: the README's table (a secret's names its `_FILE`). */
export const VARIABLES: readonly Variable[] = withSecretFiles([
  ...KAFKA_VARIABLES,
  ...ELASTIC_VARIABLES,
  ...GENERAL_VARIABLES,
]);

/**
 * `PROMETHEUS_CLIENT_HOST`: an IP address (IPv6 with or without brackets) or `localhost`. Not any
 * host name: one that does not resolve would only fail when the server starts.
 */
function listenHost(env: Environment): string {
  const value = text(env, "PROMETHEUS_CLIENT_HOST") ?? "0.0.0.0";
  const host = /^\[.*\]$/.test(value) ? value.slice(1, -1) : value;
  if (isIP(host) === 0 && host.toLowerCase() !== "localhost") {
    throw new ConfigError(
      "PROMETHEUS_CLIENT_HOST",
      "an IP address of this host (0.0.0.0, ::, 127.0.0.1) or localhost",
      value,
    );
  }
  return host;
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

/** Parses and validates every setting; throws {@linkcode ConfigError} on the first bad one. */
export function parseConfig(
  env: Environment,
  hostZone = Intl.DateTimeFormat().resolvedOptions().timeZone,
): Config {
  const warnings: string[] = [];
  const kafka = parseKafkaConfig(env);
  const elastic = parseElasticConfig(env, warnings);
  const pmacctTimezone = timezone(env, hostZone);
  const pmacctTimezoneSet = text(env, "PMACCT_TIMEZONE") !== undefined;
  return {
    kafka,
    elastic,
    pmacctTimezone,
    pmacctTimezoneSet,
    suspectLocalTime: !pmacctTimezoneSet && isUtcZone(pmacctTimezone),
    timestampSource: choice(env, "TIMESTAMP_SOURCE", TIMESTAMP_SOURCES, "flow"),
    flowTimeWindow: {
      maxAgeMs: durationOrOff(env, "FLOW_TIME_MAX_AGE", DEFAULT_FLOW_TIME_MAX_AGE_MS),
      maxAheadMs: durationOrOff(env, "FLOW_TIME_MAX_AHEAD", DEFAULT_FLOW_TIME_MAX_AHEAD_MS),
    },
    prometheusHost: listenHost(env),
    prometheusPort: integer(env, "PROMETHEUS_CLIENT_PORT", 9003, { min: 1, max: 65_535 }),
    shutdownTimeoutSeconds: integer(env, "SHUTDOWN_TIMEOUT", 30, { min: 1, max: 3600 }),
    logLevel: choice(env, "LOG_LEVEL", LOG_LEVELS, "info"),
    logFormat: choice(env, "LOG_FORMAT", LOG_FORMATS, "text"),
    secretFiles: Object.fromEntries(
      SECRET_FILE_NAMES.flatMap((name) => {
        const path = text(env, name);
        return path === undefined ? [] : [[name, path]];
      }),
    ),
    warnings,
  };
}

/** The effective settings as `NAME=value` pairs for the start-up log, secrets masked. */
export function describeConfig(config: Config): string {
  const pairs: Array<[string, unknown]> = [
    ...describeKafkaConfig(config.kafka),
    ...describeElasticConfig(config.elastic),
    ["PMACCT_TIMEZONE", config.pmacctTimezone],
    ["TIMESTAMP_SOURCE", config.timestampSource],
    ["FLOW_TIME_MAX_AGE", formatDurationOrOff(config.flowTimeWindow.maxAgeMs)],
    ["FLOW_TIME_MAX_AHEAD", formatDurationOrOff(config.flowTimeWindow.maxAheadMs)],
    ["PROMETHEUS_CLIENT_HOST", config.prometheusHost],
    ["PROMETHEUS_CLIENT_PORT", config.prometheusPort],
    ["SHUTDOWN_TIMEOUT", config.shutdownTimeoutSeconds],
    ["LOG_LEVEL", config.logLevel],
    ["LOG_FORMAT", config.logFormat],
  ];
  // Each secret is followed by the file it may come from.
  return pairs.flatMap(([name, value]) => {
    const file = `${name}_FILE`;
    const fromFile = SECRET_FILE_NAMES.includes(file) ? [`${file}=${config.secretFiles[file] ?? "(none)"}`] : [];
    return [`${name}=${value}`, ...fromFile];
  }).join(" ");
}

/** The secret values in effect, for the logger to mask wherever they might appear. */
export function secretValues(config: Config): string[] {
  return [config.elastic.password, config.elastic.apiKey, config.kafka.security.sasl?.password]
    .filter((value): value is string => value !== undefined && value.length >= 4);
}
