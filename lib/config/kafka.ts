/**
 * Kafka settings: where to read, as which group, and how to connect. The security settings carry
 * librdkafka's names (`security.protocol`, `sasl.mechanism`, ...), which pmacct users already
 * write in pmacct's `kafka_config_file`.
 */
import { choice, ConfigError, type Environment, integer, list, pair, required, text, type Variable } from "./parse.ts";

export type SecurityProtocol = "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";
export type SaslMechanism = "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";

/** librdkafka's `partition.assignment.strategy` values the bridge offers (`lib/kafka/assigners.ts`). */
export type AssignmentStrategy = "range" | "roundrobin";
const ASSIGNMENT_STRATEGIES: readonly AssignmentStrategy[] = ["range", "roundrobin"];

const PROTOCOLS: readonly SecurityProtocol[] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const MECHANISMS: readonly SaslMechanism[] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/** Paths of PEM files; their contents are read at start-up (`lib/config/settings.ts`). */
export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface KafkaSecurity {
  protocol: SecurityProtocol;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  /** Set when the protocol is SSL or SASL_SSL. */
  tls?: TlsFiles;
}

export interface KafkaConfig {
  brokers: string[];
  /** The source topics, one or more (pmacct setups often publish one per collector). */
  topics: string[];
  groupId: string;
  clientId: string;
  fromBeginning: boolean;
  /** How long the group waits for a silent member before handing its partitions to others. */
  sessionTimeoutSeconds: number;
  /** The assignment protocols offered to the group, most preferred first. */
  partitionAssignmentStrategy: AssignmentStrategy[];
  /**
   * Each source topic's dead-letter topic: its own `<topic>-dlq`, or `KAFKA_DLQ_TOPIC` for all.
   * Empty when dead letters are switched off.
   */
  deadLetterTopics: ReadonlyMap<string, string>;
  security: KafkaSecurity;
}

export const KAFKA_VARIABLES: readonly Variable[] = [
  {
    name: "KAFKA_BOOTSTRAP_SERVERS",
    default: "(required)",
    meaning: "Kafka bootstrap servers, `host:port`, comma-separated.",
  },
  {
    name: "KAFKA_TOPIC",
    default: "(required)",
    meaning: "Topic pmacct's kafka plugin writes to, or several, comma-separated (one per collector, say).",
  },
  {
    name: "KAFKA_CONSUMER_GROUP_ID",
    default: "kafka2elastic",
    meaning: "Consumer group; run more copies with the same id to scale out.",
  },
  { name: "KAFKA_CLIENT_ID", default: "pmacct-kafka-elastic", meaning: "Client id shown in broker logs and quotas." },
  {
    name: "KAFKA_AUTO_OFFSET_RESET",
    default: "earliest",
    meaning: "Where a group starts with no commit, or one Kafka deleted: `earliest` or `latest`.",
  },
  {
    name: "KAFKA_SESSION_TIMEOUT",
    default: "30",
    meaning:
      "Seconds the group waits for a member that stopped heartbeating (crashed, killed) before its partitions go to the others.",
  },
  {
    name: "KAFKA_PARTITION_ASSIGNMENT_STRATEGY",
    default: "roundrobin,range",
    meaning:
      "Assignment protocols offered, preferred first: `roundrobin`, `range` (librdkafka's `partition.assignment.strategy`); one the group's other clients offer lets the bridge share it ([compatibility](docs/compatibility.md)).",
  },
  {
    name: "KAFKA_DLQ_TOPIC",
    default: "`<topic>-dlq` for each topic",
    meaning:
      "Dead-letter topic for undecodable messages and documents Elasticsearch rejects for good, one for all source topics; created at start if missing (where the bridge may); `off` logs and counts them only.",
  },
  {
    name: "KAFKA_SECURITY_PROTOCOL",
    default: "PLAINTEXT",
    meaning: "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (librdkafka's `security.protocol`).",
  },
  {
    name: "KAFKA_SASL_MECHANISM",
    default: "(none)",
    meaning: "With `SASL_*`: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (librdkafka's `sasl.mechanism`).",
  },
  { name: "KAFKA_SASL_USERNAME", default: "(none)", meaning: "With `SASL_*`: the SASL user." },
  { name: "KAFKA_SASL_PASSWORD", default: "(none)", meaning: "With `SASL_*`: the SASL password (masked in logs)." },
  {
    name: "KAFKA_SSL_CA_FILE",
    default: "the system's CAs",
    meaning: "With `SSL`/`SASL_SSL`: PEM file of the CA(s) that signed the brokers' certificates.",
  },
  {
    name: "KAFKA_SSL_CERT_FILE",
    default: "(none)",
    meaning: "With `SSL`/`SASL_SSL`: PEM client certificate, for brokers that require mutual TLS.",
  },
  { name: "KAFKA_SSL_KEY_FILE", default: "(none)", meaning: "The client certificate's PEM private key (unencrypted)." },
];

function brokers(env: Environment): string[] {
  const raw = required(env, "KAFKA_BOOTSTRAP_SERVERS", "Kafka bootstrap servers as host:port[,host:port]");
  const entries = list(raw);
  if (entries.length === 0 || entries.some((entry) => !/^[^\s:]+:\d+$|^\[[^\]]+\]:\d+$/.test(entry))) {
    throw new ConfigError("KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port]", raw);
  }
  return entries;
}

function sourceTopics(env: Environment): string[] {
  const raw = required(env, "KAFKA_TOPIC", "the topic pmacct writes to (or several, comma-separated)");
  const topics = list(raw);
  if (topics.length === 0 || new Set(topics).size !== topics.length) {
    throw new ConfigError("KAFKA_TOPIC", "topic names, comma-separated, each once", raw);
  }
  return topics;
}

function deadLetterTopics(env: Environment, topics: string[]): Map<string, string> {
  const value = text(env, "KAFKA_DLQ_TOPIC");
  if (value?.toLowerCase() === "off") return new Map();
  const routes = new Map(topics.map((topic) => [topic, value ?? `${topic}-dlq`]));
  for (const deadLetterTopic of routes.values()) {
    if (topics.includes(deadLetterTopic)) {
      throw value === undefined
        ? new ConfigError(
          "KAFKA_TOPIC",
          `topics whose dead-letter topics (<topic>-dlq) are not sources too`,
          topics.join(","),
        )
        : new ConfigError("KAFKA_DLQ_TOPIC", "a topic other than those of KAFKA_TOPIC", value);
    }
  }
  return routes;
}

/**
 * `roundrobin` first: it balances several topics across members (`range` deals each topic out
 * on its own, so with one partition per topic the first member gets them all); `range` too, as
 * the one protocol Java's consumers offer by default and kafka-python and librdkafka also offer.
 */
const DEFAULT_ASSIGNMENT_STRATEGY: AssignmentStrategy[] = ["roundrobin", "range"];

function assignmentStrategy(env: Environment): AssignmentStrategy[] {
  const raw = text(env, "KAFKA_PARTITION_ASSIGNMENT_STRATEGY");
  if (raw === undefined) return DEFAULT_ASSIGNMENT_STRATEGY;
  const names = list(raw).map((name) => name.toLowerCase());
  const known = (name: string): name is AssignmentStrategy => (ASSIGNMENT_STRATEGIES as string[]).includes(name);
  if (names.length === 0 || !names.every(known) || new Set(names).size !== names.length) {
    throw new ConfigError(
      "KAFKA_PARTITION_ASSIGNMENT_STRATEGY",
      "range and/or roundrobin, comma-separated, each once, preferred first",
      raw,
    );
  }
  return names as AssignmentStrategy[];
}

/** The distinct dead-letter topics, each with the source topics that send to it. */
export function deadLetterSources(config: KafkaConfig): Map<string, string[]> {
  const sources = new Map<string, string[]>();
  for (const [topic, deadLetterTopic] of config.deadLetterTopics) {
    sources.set(deadLetterTopic, [...sources.get(deadLetterTopic) ?? [], topic]);
  }
  return sources;
}

/**
 * A SASL or TLS setting under a protocol that does not use it is a mistake to report, not to
 * ignore: the operator most likely forgot `KAFKA_SECURITY_PROTOCOL`.
 */
function security(env: Environment): KafkaSecurity {
  const protocol = choice(env, "KAFKA_SECURITY_PROTOCOL", PROTOCOLS, "PLAINTEXT");
  const usesSasl = protocol.startsWith("SASL_");
  const usesTls = protocol.endsWith("SSL");
  const saslSet = ["KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"].find((name) =>
    text(env, name) !== undefined
  );
  if (saslSet && !usesSasl) {
    throw new ConfigError("KAFKA_SECURITY_PROTOCOL", `SASL_PLAINTEXT or SASL_SSL, since ${saslSet} is set`, protocol);
  }
  const tlsSet = ["KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE"].find((name) =>
    text(env, name) !== undefined
  );
  if (tlsSet && !usesTls) {
    throw new ConfigError("KAFKA_SECURITY_PROTOCOL", `SSL or SASL_SSL, since ${tlsSet} is set`, protocol);
  }
  const result: KafkaSecurity = { protocol };
  if (usesSasl) {
    const mechanism = choice(env, "KAFKA_SASL_MECHANISM", MECHANISMS);
    if (mechanism === undefined) {
      throw new ConfigError("KAFKA_SASL_MECHANISM", `PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with ${protocol})`);
    }
    const username = required(env, "KAFKA_SASL_USERNAME", `the SASL user (with ${protocol})`);
    const password = required(env, "KAFKA_SASL_PASSWORD", `the SASL password (with ${protocol})`);
    result.sasl = { mechanism, username, password };
  }
  if (usesTls) {
    const [certFile, keyFile] = pair(env, "KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE") ?? [];
    result.tls = { caFile: text(env, "KAFKA_SSL_CA_FILE"), certFile, keyFile };
  }
  return result;
}

export function parseKafkaConfig(env: Environment): KafkaConfig {
  const topics = sourceTopics(env);
  const offsetReset = choice(env, "KAFKA_AUTO_OFFSET_RESET", ["earliest", "latest"] as const, "earliest");
  return {
    brokers: brokers(env),
    topics,
    groupId: text(env, "KAFKA_CONSUMER_GROUP_ID") ?? "kafka2elastic",
    clientId: text(env, "KAFKA_CLIENT_ID") ?? "pmacct-kafka-elastic",
    fromBeginning: offsetReset === "earliest",
    sessionTimeoutSeconds: integer(env, "KAFKA_SESSION_TIMEOUT", 30, { min: 6, max: 300 }),
    partitionAssignmentStrategy: assignmentStrategy(env),
    deadLetterTopics: deadLetterTopics(env, topics),
    security: security(env),
  };
}

/** The effective Kafka settings for the start-up log; the password is masked. */
export function describeKafkaConfig(config: KafkaConfig): Array<[string, unknown]> {
  const { security } = config;
  return [
    ["KAFKA_BOOTSTRAP_SERVERS", config.brokers.join(",")],
    ["KAFKA_TOPIC", config.topics.join(",")],
    ["KAFKA_CONSUMER_GROUP_ID", config.groupId],
    ["KAFKA_CLIENT_ID", config.clientId],
    ["KAFKA_AUTO_OFFSET_RESET", config.fromBeginning ? "earliest" : "latest"],
    ["KAFKA_SESSION_TIMEOUT", config.sessionTimeoutSeconds],
    ["KAFKA_PARTITION_ASSIGNMENT_STRATEGY", config.partitionAssignmentStrategy.join(",")],
    ["KAFKA_DLQ_TOPIC", config.deadLetterTopics.size === 0 ? "off" : [...deadLetterSources(config).keys()].join(",")],
    ["KAFKA_SECURITY_PROTOCOL", security.protocol],
    ["KAFKA_SASL_MECHANISM", security.sasl?.mechanism ?? "(none)"],
    ["KAFKA_SASL_USERNAME", security.sasl?.username ?? "(none)"],
    ["KAFKA_SASL_PASSWORD", security.sasl ? "****" : "(none)"],
    ["KAFKA_SSL_CA_FILE", security.tls?.caFile ?? "(none)"],
    ["KAFKA_SSL_CERT_FILE", security.tls?.certFile ?? "(none)"],
    ["KAFKA_SSL_KEY_FILE", security.tls?.keyFile ?? "(none)"],
  ];
}
