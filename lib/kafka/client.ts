/**
 * The kafkajs client, built with the security settings (TLS, mutual TLS, SASL PLAIN or SCRAM),
 * shared by the consumer, the admin reads and the dead-letter producer; and the one place that
 * turns a Kafka failure into the readiness check an operator must fix.
 */
import { type Admin, Kafka, type LogEntry, logLevel as KafkaLogLevel, type SASLOptions } from "kafkajs";
import type { KafkaConfig } from "../config/mod.ts";
import type { Health } from "../runtime/health.ts";
import type { Logger } from "../runtime/log.ts";
import type { PemMaterial } from "../config/settings.ts";
import { tlsProblem } from "../runtime/tls_problem.ts";
import { registerCompressionCodecs } from "./codecs.ts";
import { requestQueuePatched } from "./request_queue.ts";

/**
 * kafkajs logs every failed connection attempt as an error, with its stack. The bridge reports
 * each failure itself, classified and once (see {@linkcode reportKafkaFailure}), so kafkajs'
 * own error lines are kept for `LOG_LEVEL=debug`.
 */
const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [KafkaLogLevel.ERROR]: "debug",
  [KafkaLogLevel.WARN]: "warn",
  [KafkaLogLevel.INFO]: "info",
  [KafkaLogLevel.DEBUG]: "debug",
};

/** What kafkajs tells only in its log, and the bridge acts on. */
export interface KafkaEvents {
  /** Kafka no longer holds the offset a partition was to read; kafkajs moves it (`KAFKA_AUTO_OFFSET_RESET`). */
  offsetOutOfRange?: (topic: string, partition: number) => void;
}

/** kafkajs 2.2.4's words when a fetch offset is out of range and it moves the partition. */
const OFFSET_RESET = "Offset out of range, resetting to default offset";

/** kafkajs' own log lines, routed through the bridge's logger; the ones it acts on, to `events`. */
function kafkaLogCreator(log: Logger, events: KafkaEvents = {}) {
  return () => ({ namespace, level, log: entry }: LogEntry) => {
    const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
    if (message === OFFSET_RESET && typeof fields.topic === "string" && typeof fields.partition === "number") {
      events.offsetOutOfRange?.(fields.topic, fields.partition);
    }
    log.log(LEVELS[level] ?? "info", `kafka ${namespace}: ${message}`, fields);
  };
}

const SASL_MECHANISMS = {
  "PLAIN": "plain",
  "SCRAM-SHA-256": "scram-sha-256",
  "SCRAM-SHA-512": "scram-sha-512",
} as const;

/** kafkajs' `ssl` and `sasl` options for the settings; `ssl: true` trusts the system's CAs. */
export function securityOptions(
  { security }: KafkaConfig,
  pem: PemMaterial | undefined,
): { ssl?: true | { ca?: string[]; cert?: string; key?: string }; sasl?: SASLOptions } {
  const sasl = security.sasl
    ? {
      mechanism: SASL_MECHANISMS[security.sasl.mechanism],
      username: security.sasl.username,
      password: security.sasl.password,
    } as SASLOptions
    : undefined;
  if (!security.tls) return { sasl };
  const ssl = pem?.ca || pem?.cert ? { ca: pem.ca ? [pem.ca] : undefined, cert: pem.cert, key: pem.key } : true;
  return { ssl, sasl };
}

export function createKafka(
  config: KafkaConfig,
  pem: PemMaterial | undefined,
  log: Logger,
  events: KafkaEvents = {},
): Kafka {
  registerCompressionCodecs();
  if (!requestQueuePatched) {
    log.warn("kafkajs is not the version whose idle request-queue loop the bridge stops; it may use more CPU");
  }
  return new Kafka({
    clientId: config.clientId,
    brokers: config.brokers,
    ...securityOptions(config, pem),
    logLevel: log.level === "debug" ? KafkaLogLevel.DEBUG : KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(log, events),
    // Short: a failure reaches the bridge's own loops (which retry with backoff and report what
    // is wrong) within a second, instead of after kafkajs' own retries of a wrong password.
    retry: { initialRetryTime: 300, maxRetryTime: 2_000, retries: 2 },
  });
}

/** Runs `use` on a connected admin client, which is disconnected afterwards whatever happened. */
export async function withAdmin<T>(kafka: Kafka, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await use(admin);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The readiness checks of the Kafka side, and whether each passes before anything was tried. */
export const KAFKA_CHECKS = {
  kafka: false,
  kafka_tls: true,
  kafka_credentials: true,
  kafka_topic: true,
  dead_letter_topic: true,
  /** Partitions read no further because one record holds their commit. */
  partition_commit: true,
  /** Partitions with records to read that the consumer does not fetch. */
  partition_fetch: true,
} as const;

/** The error and the errors it wraps (kafkajs nests the real cause in retries). */
export function causes(error: unknown): Array<{ name?: string; message?: string; type?: string }> {
  const chain = [];
  let current = error as { name?: string; message?: string; type?: string; cause?: unknown; originalError?: unknown };
  for (let depth = 0; current && depth < 5; depth++) {
    chain.push(current);
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return chain;
}

/** Errors of kafkajs that mean no broker answered (down, unreachable, too slow). */
const UNREACHED = new Set([
  "KafkaJSConnectionError",
  "KafkaJSConnectionClosedError",
  "KafkaJSRequestTimeoutError",
  "KafkaJSBrokerNotFound",
  "KafkaJSNoBrokerAvailableError",
  "KafkaJSTimeout",
  "KafkaJSLockTimeout",
]);
const SOCKET_FAILURE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Connection error/;

/** What the group told the bridge when it refused it for its assignment protocols. */
export interface GroupProtocolConflict {
  /** The protocol the group's members agreed on, when the group could be described. */
  protocol?: string;
  /** The client ids of the members in the group. */
  clients: string[];
}

/** Whether the group refused the bridge because its members share none of its assignment protocols. */
export function isGroupProtocolConflict(error: unknown): boolean {
  return causes(error).some((cause) => cause.type === "INCONSISTENT_GROUP_PROTOCOL");
}

/**
 * Which check a Kafka failure belongs to, and what the operator reads. A broker that answered
 * is never reported as unreachable: its answer is named (a group that refuses the bridge's
 * assignment protocols, an authorization error), and so is an error of the bridge itself.
 */
export function classifyKafkaFailure(
  error: unknown,
  config: KafkaConfig,
  conflict?: GroupProtocolConflict,
): { check: keyof typeof KAFKA_CHECKS; problem: string } {
  const chain = causes(error);
  if (chain.some((cause) => cause.name === "KafkaJSSASLAuthenticationError")) {
    return {
      check: "kafka_credentials",
      problem:
        `Kafka refused the SASL credentials: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM (${config.security.sasl?.mechanism}); retrying`,
    };
  }
  for (const { message = "" } of chain) {
    const tls = tlsProblem(message);
    if (tls === "certificate is not trusted") {
      return { check: "kafka_tls", problem: "Kafka's certificate is not trusted: set KAFKA_SSL_CA_FILE; retrying" };
    }
    if (tls === "client certificate was refused") {
      return {
        check: "kafka_tls",
        problem:
          "Kafka refused the client certificate: set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to one its CA signed; retrying",
      };
    }
    if (tls !== undefined) return { check: "kafka_tls", problem: `Kafka's TLS: ${tls}; retrying` };
  }
  if (isGroupProtocolConflict(error)) {
    return { check: "kafka", problem: groupProtocolProblem(config, conflict) };
  }
  const answer = chain.find((cause) => cause.name === "KafkaJSProtocolError" || typeof cause.type === "string");
  if (answer !== undefined) {
    return { check: "kafka", problem: `Kafka answered ${answer.type}: ${answer.message}; retrying` };
  }
  if (chain.some(({ name = "", message = "" }) => UNREACHED.has(name) || SOCKET_FAILURE.test(message))) {
    return { check: "kafka", problem: `cannot reach Kafka at ${config.brokers.join(",")}; retrying` };
  }
  const [first] = chain;
  if (!first?.name?.startsWith("KafkaJS")) {
    return {
      check: "kafka",
      problem:
        `the Kafka consumer stopped on an error of the bridge (${first?.name}: ${first?.message}); restarting it`,
    };
  }
  return { check: "kafka", problem: `Kafka client error (${first.name}: ${first.message}); retrying` };
}

/** The protocol of kafkajs' built-in assigner, the only one version 1.0 of the bridge offered. */
const KAFKAJS_OWN_ASSIGNER = "RoundRobinAssigner";

function groupProtocolProblem(config: KafkaConfig, conflict: GroupProtocolConflict | undefined): string {
  const offered = config.partitionAssignmentStrategy.join(", ");
  const others = conflict?.clients.length ? ` (${[...new Set(conflict.clients)].join(", ")})` : "";
  const theirs = conflict?.protocol ? `protocol (${conflict.protocol})` : "protocols";
  if (conflict?.protocol === KAFKAJS_OWN_ASSIGNER) {
    // Version 1.0 of the bridge offered only kafkajs' own assigner; its ids lack the cluster id.
    return `group ${config.groupId} has members of pmacct-kafka-elastic 1.0 (assignment protocol ${KAFKAJS_OWN_ASSIGNER}${others}): stop every 1.0 copy (SIGTERM, exit 0) and this one joins; versions with different document ids must not share a group; waiting for them to leave`;
  }
  return `group ${config.groupId} has members of another Kafka client${others} whose assignment ${theirs} this bridge does not offer (KAFKA_PARTITION_ASSIGNMENT_STRATEGY=${offered}); waiting for them to leave`;
}

/** Records a Kafka failure in readiness (logged once per problem); returns the problem's text. */
export function reportKafkaFailure(
  health: Health,
  error: unknown,
  config: KafkaConfig,
  conflict?: GroupProtocolConflict,
): string {
  const { check, problem } = classifyKafkaFailure(error, config, conflict);
  health.fail(check, problem, { error: (error as Error).message });
  if (check !== "kafka") health.set("kafka", false);
  return problem;
}

/** A Kafka request went through: the connection's TLS and credentials are fine. */
export function reportKafkaReached(health: Health): void {
  health.pass("kafka_tls");
  health.pass("kafka_credentials");
}
