/**
 * The bridge's parts, built from its settings and wired together, before anything is connected:
 * the log, metrics and readiness, the HTTP endpoints, the Kafka client, the dead-letter sink, the
 * bulk writer, the pipeline and the Kafka source. `main.ts` builds them; `run.ts` connects and
 * starts them.
 */
import type { Kafka, Producer } from "kafkajs";
import { type Config, describeConfig, secretValues } from "../config/mod.ts";
import type { Settings } from "../config/settings.ts";
import { LogOnlyDeadLetterSink } from "../delivery/dead_letters.ts";
import { type PendingDocument, Pipeline } from "../delivery/pipeline.ts";
import { BulkWriter } from "../elastic/bulk_writer.ts";
import { PIPELINE_CHECK } from "../elastic/connect.ts";
import { fieldNamesMismatch } from "../elastic/index_template.ts";
import { INDEX_CHECK, type IndexCreator } from "../elastic/indices.ts";
import type { ReadingMarks } from "../elastic/reading_marks.ts";
import type { SearchService } from "../elastic/service.ts";
import { ELASTIC_CHECKS, ElasticStatus } from "../elastic/status.ts";
import { createKafka, KAFKA_CHECKS } from "../kafka/client.ts";
import { kafkaGroupAdmin, kafkaGroupConsumer, KafkaSource } from "../kafka/consumer.ts";
import { createDeadLetterProducer, KafkaDeadLetterSink } from "../kafka/dead_letters.ts";
import { Health } from "./health.ts";
import { listenError, serveHttp } from "./http_server.ts";
import { Logger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";

/** The parts of one process, wired. */
export interface Bridge {
  settings: Settings;
  /** The settings the run uses (a one-off run's own topics and group). */
  config: Config;
  log: Logger;
  metrics: Metrics;
  health: Health;
  elasticStatus: ElasticStatus;
  /** `/metrics`, `/healthz` and `/readyz`; none for a one-off run, which runs beside a bridge that holds the port. */
  server?: Deno.HttpServer;
  kafka: Kafka;
  producer?: Producer;
  writer: BulkWriter<PendingDocument>;
  pipeline: Pipeline;
  source: KafkaSource;
  /** Filled in once the cluster is identified; nothing is sent before (the consumer starts after). */
  cluster: { service?: SearchService; indices?: IndexCreator; marks?: ReadingMarks };
}

/**
 * Builds the parts. `oneOff`: the topics and group a one-off run reads, said at start. Throws a
 * `ConfigError` when the endpoints cannot listen where the settings say.
 */
export function buildBridge(settings: Settings, config: Config, oneOff: boolean): Bridge {
  const log = startLog(settings, config, oneOff);
  const metrics = createMetrics();
  const health = new Health(log, {
    ...KAFKA_CHECKS,
    ...ELASTIC_CHECKS,
    index_template: false,
    [INDEX_CHECK]: true,
    ...(config.elastic.pipeline === undefined ? {} : { [PIPELINE_CHECK]: false }),
  });
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
    throw listenError(error, listenAt);
  }
  const parts: { pipeline?: Pipeline; source?: KafkaSource } = {};
  const kafka = createKafka(config.kafka, settings.kafkaTls, log, {
    offsetOutOfRange: (topic, partition) => parts.pipeline!.offsetOutOfRange(topic, partition),
  });
  const producer = config.kafka.deadLetterTopics.size > 0 ? createDeadLetterProducer(kafka) : undefined;
  const deadLetters = producer
    ? new KafkaDeadLetterSink(producer, config.kafka.deadLetterTopics, log, metrics, health)
    : new LogOnlyDeadLetterSink(log, metrics);
  const cluster: Bridge["cluster"] = {};
  const writer = new BulkWriter<PendingDocument>((body, signal) => cluster.service!.bulk(body, signal), log, metrics, {
    maxRetries: config.elastic.maxRetries,
    indices: {
      ensure: (indices) => cluster.indices!.ensure(indices),
      forget: (index) => cluster.indices?.forget(index),
    },
  });
  const elasticStatus = new ElasticStatus(health, metrics, config.elastic.nodes);
  const pipeline = parts.pipeline = new Pipeline(pipelineOptions(config), {
    writer,
    deadLetters,
    commit: (offsets) => parts.source!.commitOffsets(offsets),
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
  const source = parts.source = new KafkaSource({
    config: config.kafka,
    newConsumer: () => kafkaGroupConsumer(kafka, config.kafka),
    admin: kafkaGroupAdmin(kafka, config.kafka.groupId),
    readingMarks: () => {
      const marks = cluster.marks;
      return marks &&
        { firstReading: (topic, partition) => marks.firstReading(config.kafka.groupId, topic, partition) };
    },
    pipeline,
    log,
    metrics,
    health,
  });
  return {
    settings,
    config,
    log,
    metrics,
    health,
    elasticStatus,
    server,
    kafka,
    producer,
    writer,
    pipeline,
    source,
    cluster,
  };
}

/** The pipeline's options, from the settings. */
function pipelineOptions(config: Config): ConstructorParameters<typeof Pipeline>[0] {
  return {
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
  };
}

/**
 * The log, with its first lines: the settings as the operator set them (a one-off run adds the
 * topics and group it reads), their warnings, and what is assumed where a setting was left out.
 */
function startLog(settings: Settings, config: Config, oneOff: boolean): Logger {
  const log = new Logger(config.logLevel, console.error, config.logFormat);
  log.mask(secretValues(config));
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
  const mismatch = fieldNamesMismatch(settings.templateFile, config.elastic.fieldNames);
  if (mismatch !== undefined) log.warn(mismatch, { template: config.elastic.indexTemplateFile });
  return log;
}
