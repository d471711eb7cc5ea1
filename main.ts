/**
 * pmacct-kafka-elastic: consumes pmacct's JSON flow records from Kafka and bulk-indexes them
 * into daily Elasticsearch (or OpenSearch) indices. This file reads the configuration, builds
 * the parts and starts them; the behaviour lives in `lib/`.
 */
import { BulkWriter } from "./lib/elastic/bulk_writer.ts";
import { formatFindings, runChecks } from "./lib/cli/check.ts";
import { type Command, helpText, parseCommand, UsageError } from "./lib/cli/command.ts";
import { backfillConfig, prepareBackfill } from "./lib/cli/backfill.ts";
import type { OneOffRun } from "./lib/cli/one_off_run.ts";
import { prepareReplay, replayConfig, replayedSourceTopics } from "./lib/cli/replay.ts";
import { versionText } from "./lib/cli/version.ts";
import { type Config, ConfigError, describeConfig, secretValues, VARIABLES } from "./lib/config/mod.ts";
import { LogOnlyDeadLetterSink } from "./lib/delivery/dead_letters.ts";
import { connectSearch, PIPELINE_CHECK } from "./lib/elastic/connect.ts";
import { INDEX_CHECK, IndexCreator } from "./lib/elastic/indices.ts";
import { fieldNamesMismatch } from "./lib/elastic/index_template.ts";
import { startRetention } from "./lib/elastic/retention.ts";
import type { SearchService } from "./lib/elastic/service.ts";
import { ELASTIC_CHECKS, ElasticStatus } from "./lib/elastic/status.ts";
import { Health } from "./lib/runtime/health.ts";
import { listenError, serveHttp } from "./lib/runtime/http_server.ts";
import { createKafka, KAFKA_CHECKS } from "./lib/kafka/client.ts";
import { kafkaGroupAdmin, kafkaGroupConsumer, KafkaSource } from "./lib/kafka/consumer.ts";
import { createDeadLetterProducer, KafkaDeadLetterSink } from "./lib/kafka/dead_letters.ts";
import { ensureDeadLetterTopics, waitForTopic } from "./lib/kafka/topics.ts";
import { Logger } from "./lib/runtime/log.ts";
import { createMetrics } from "./lib/runtime/metrics.ts";
import { type PendingDocument, Pipeline } from "./lib/delivery/pipeline.ts";
import { retryUntilDone } from "./lib/runtime/retry.ts";
import { loadSettings, type Settings } from "./lib/config/settings.ts";
import { shutdown, type ShutdownParts } from "./lib/runtime/shutdown.ts";

function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`configuration error: ${error.message}`);
  Deno.exit(2);
}

let command: Command;
try {
  command = parseCommand(Deno.args);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
if (command === "help") {
  console.log(helpText("pmacct-kafka-elastic", VARIABLES));
  Deno.exit(0);
}
if (command === "version") {
  console.log(versionText());
  Deno.exit(0);
}

let settings: Settings;
try {
  settings = loadSettings();
} catch (error) {
  exitOnConfigError(error);
}
if (command === "check") {
  const { text, status } = formatFindings(await runChecks(settings));
  console.log(text);
  Deno.exit(status);
}
/**
 * `--backfill PERIOD` and `--replay-dead-letters`: the same parts, reading bounded ranges in a
 * group of their own, then exiting.
 */
const oneOff = typeof command === "object" ? command : undefined;
const backfill = oneOff && "backfill" in oneOff ? oneOff : undefined;
const replay = oneOff && "replayDeadLetters" in oneOff ? oneOff : undefined;
let config: Config;
try {
  config = backfill
    ? backfillConfig(settings.config)
    : replay
    ? replayConfig(settings.config, replay)
    : settings.config;
} catch (error) {
  if (error instanceof UsageError) {
    console.error(error.message);
    Deno.exit(2);
  }
  exitOnConfigError(error);
}
const sourceTopics = replay ? replayedSourceTopics(settings.config, replay) : settings.config.kafka.topics;
const { templateFile } = settings;
const log = new Logger(config.logLevel, console.error, config.logFormat);
log.mask(secretValues(config));
// The settings as the operator set them; a one-off run adds the topics and group it reads.
log.info("pmacct-kafka-elastic starting", {
  config: describeConfig(settings.config),
  ...(oneOff ? { reads_topics: config.kafka.topics.join(","), in_group: config.kafka.groupId } : {}),
});
for (const warning of config.warnings) log.warn(warning);
if (!config.pmacctTimezoneSet) {
  log.info("PMACCT_TIMEZONE is not set: pmacct's local-time strings are read in the host's zone", {
    zone: config.pmacctTimezone,
  });
}
const templateMismatch = fieldNamesMismatch(templateFile, config.elastic.fieldNames);
if (templateMismatch !== undefined) log.warn(templateMismatch, { template: config.elastic.indexTemplateFile });

const metrics = createMetrics();
const health = new Health(log, {
  ...KAFKA_CHECKS,
  ...ELASTIC_CHECKS,
  index_template: false,
  [INDEX_CHECK]: true,
  ...(config.elastic.pipeline === undefined ? {} : { [PIPELINE_CHECK]: false }),
});
const elasticStatus = new ElasticStatus(health, metrics, config.elastic.nodes);
// A one-off run serves nothing: it runs beside a bridge that holds the port.
const listenAt = { hostname: config.prometheusHost, port: config.prometheusPort };
let server: Deno.HttpServer | undefined;
try {
  server = oneOff ? undefined : serveHttp(
    listenAt,
    metrics.registry,
    () => health.report(),
    (address) => log.info("serving /metrics, /healthz and /readyz", address),
  );
} catch (error) {
  exitOnConfigError(listenError(error, listenAt));
}

const kafka = createKafka(config.kafka, settings.kafkaTls, log, {
  offsetOutOfRange: (topic, partition) => pipeline.offsetOutOfRange(topic, partition),
});
const producer = config.kafka.deadLetterTopics.size > 0 ? createDeadLetterProducer(kafka) : undefined;
const deadLetters = producer
  ? new KafkaDeadLetterSink(producer, config.kafka.deadLetterTopics, log, metrics, health)
  : new LogOnlyDeadLetterSink(log, metrics);
/** Filled in once the cluster is identified; nothing is sent before (the consumer starts after). */
const cluster: { service?: SearchService; indices?: IndexCreator } = {};
const writer = new BulkWriter<PendingDocument>((body, signal) => cluster.service!.bulk(body, signal), log, metrics, {
  maxRetries: config.elastic.maxRetries,
  indices: {
    ensure: (indices) => cluster.indices!.ensure(indices),
    forget: (index) => cluster.indices?.forget(index),
  },
});
const pipeline = new Pipeline({
  indexPrefix: config.elastic.indexPrefix,
  timezone: config.pmacctTimezone,
  timestampSource: config.timestampSource,
  fieldNames: config.elastic.fieldNames,
  communityId: config.elastic.communityId,
  flowTimeWindow: config.flowTimeWindow,
  suspectLocalTime: config.suspectLocalTime,
  retentionDays: config.elastic.retentionDays,
  maxBatch: config.elastic.maxSamplesPerSend,
  maxWaitMs: config.elastic.maxTimeToSendSeconds * 1000,
  maxBuffered: config.elastic.maxBufferedSamples,
  maxBufferedBytes: config.elastic.maxBufferedBytes,
  concurrency: config.elastic.bulkConcurrency,
}, {
  writer,
  deadLetters,
  commit: (offsets): Promise<void> => source.commitOffsets(offsets),
  elasticHealth: elasticStatus.bulkHealth,
  pipelineHealth: config.elastic.pipeline === undefined
    ? undefined
    : (missing) =>
      missing === undefined
        ? health.pass(PIPELINE_CHECK)
        : health.fail(PIPELINE_CHECK, `${missing} (ELASTIC_PIPELINE): its records wait until it exists`),
  log,
  metrics,
});
const source: KafkaSource = new KafkaSource({
  config: config.kafka,
  newConsumer: () => kafkaGroupConsumer(kafka, config.kafka),
  admin: kafkaGroupAdmin(kafka, config.kafka.groupId),
  pipeline,
  log,
  metrics,
  health,
});
const parts: ShutdownParts = { source, pipeline, producer, server, log };

let stopping = false;
/** Set once a one-off run is planned: a signal then interrupts it, and its end exits. */
let oneOffRun: OneOffRun | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info("signal received", { signal });
    // A one-off run stopped before its end has not done what it was asked: never exit 0.
    const stopped = oneOffRun?.interrupt() ??
      shutdown(parts, config.shutdownTimeoutSeconds * 1000).then((status) => oneOff ? 1 : status);
    Deno.exit(await stopped);
  });
}

const [connected, kafkaClusterId] = await Promise.all([
  connectSearch({ config: config.elastic, pem: settings.elasticTls, templateFile, health, status: elasticStatus, log })
    .catch(exitOnConfigError),
  // The source topics (a replay's replayed ones): their dead-letter topics are made next if missing.
  waitForTopic(kafka, { ...settings.config.kafka, topics: sourceTopics }, health, () => stopping),
]);
pipeline.identifySource(kafkaClusterId);
if (kafkaClusterId !== undefined) {
  log.info("document ids begin with the Kafka cluster's id", { cluster_id: kafkaClusterId });
} else if (!stopping) {
  log.warn("the Kafka cluster has no cluster id: document ids start at the topic, unique within this cluster only");
}
cluster.service = connected.service;
cluster.indices = new IndexCreator(connected.service, connected.template, health, log);
health.pass("index_template");
log.info("index template installed", {
  patterns: connected.template.index_patterns.join(","),
  priority: connected.template.priority,
  file: config.elastic.indexTemplateFile,
});
if (config.elastic.retentionDays !== undefined && !oneOff) {
  log.info("retention on: deleting daily indices by the date in their names", {
    pattern: `${config.elastic.indexPrefix}-yyyy-MM-dd`,
    keep_days: config.elastic.retentionDays,
  });
  startRetention(connected.service, {
    prefix: config.elastic.indexPrefix,
    keepDays: config.elastic.retentionDays,
    log,
    metrics,
  });
}
elasticStatus.watch(connected.service, () => {
  log.info("Elasticsearch answers again: retrying now");
  writer.retryNow();
});

if (!stopping) {
  if (producer) {
    await ensureDeadLetterTopics(kafka, config.kafka, health, log);
    await retryUntilDone(
      () => producer.connect(),
      (error, retryInMs) =>
        log.error("cannot connect the dead-letter producer; retrying", {
          error: error.message,
          retry_in_ms: retryInMs,
        }),
      { initialMs: 250, maxMs: 10_000 },
    );
  }
  if (oneOff) {
    const runParts = {
      kafka,
      config,
      pipeline,
      metrics,
      log,
      shutdown: () => shutdown(parts, config.shutdownTimeoutSeconds * 1000),
    };
    const prepared = backfill
      ? await prepareBackfill(backfill, runParts, (run) => oneOffRun = run)
      : await prepareReplay(replay!, runParts);
    if (prepared === 1) Deno.exit(1);
    oneOffRun = prepared;
  }
  // A signal meanwhile shuts down on its own path, which exits.
  if (!stopping) {
    pipeline.start();
    source.start();
    log.info("consuming", {
      topics: config.kafka.topics.join(","),
      group: config.kafka.groupId,
      assignment_protocols: config.kafka.partitionAssignmentStrategy.join(","),
    });
    if (oneOffRun) Deno.exit(await oneOffRun.finish());
  }
}
