/**
 * pmacct-kafka-elastic: consumes pmacct's JSON flow records from Kafka and bulk-indexes them
 * into daily Elasticsearch indices. This file reads the configuration, builds the parts and
 * starts them; the behaviour lives in `lib/`.
 */
import { BulkWriter } from "./lib/bulk_writer.ts";
import { ConfigError, describeConfig, parseConfig } from "./lib/config.ts";
import { KafkaDeadLetterSink, LogOnlyDeadLetterSink } from "./lib/dead_letters.ts";
import { createElasticClient, elasticBulkTransport, elasticReachable, errorStatus } from "./lib/elasticsearch.ts";
import { readEnvironment } from "./lib/env_file.ts";
import { serveHttp } from "./lib/http_server.ts";
import { buildIndexTemplate, installIndexTemplate, parseTemplateFile } from "./lib/index_template.ts";
import { type ConsumerState, createDeadLetterProducer, createKafka, runConsumer } from "./lib/kafka.ts";
import { Logger } from "./lib/log.ts";
import { createMetrics } from "./lib/metrics.ts";
import { type PendingDocument, Pipeline } from "./lib/pipeline.ts";
import { isAuthFailure, retryUntilDone } from "./lib/retry.ts";
import { shutdown, type ShutdownParts } from "./lib/shutdown.ts";

const DEFAULT_TEMPLATE = "new-index-template.json";
/** Start-up steps retry at least every 10 s, so a fixed server is noticed soon. */
const START_BACKOFF = { initialMs: 250, maxMs: 10_000 };

function loadSettings() {
  try {
    const config = parseConfig(readEnvironment());
    const path = config.elastic.indexTemplateFile;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      // A binary dropped on a host alone still has the default template built in (`deno task compile`).
      if (!(error instanceof Deno.errors.NotFound) || path !== DEFAULT_TEMPLATE) {
        throw new ConfigError("ELASTIC_INDEX_TEMPLATE", `a readable file (${(error as Error).message})`, path);
      }
      text = Deno.readTextFileSync(new URL(`./${DEFAULT_TEMPLATE}`, import.meta.url));
    }
    return { config, mappings: parseTemplateFile(text, path) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`configuration error: ${error.message}`);
    Deno.exit(2);
  }
}

const { config, mappings } = loadSettings();
const log = new Logger(config.logLevel);
log.info("pmacct-kafka-elastic starting", { config: describeConfig(config) });
for (const warning of config.warnings) log.warn(warning);

const metrics = createMetrics();
const consumerState: ConsumerState = { member: false };
const elasticState = { reachable: false, authFailed: false, templateInstalled: false };
const setElasticHealth = (ok: boolean, authFailed: boolean) => {
  elasticState.reachable = ok;
  elasticState.authFailed = authFailed;
  metrics.elasticUp.set(ok ? 1 : 0);
  metrics.elasticAuthFailed.set(authFailed ? 1 : 0);
};

const server = serveHttp(config.prometheusPort, metrics.registry, {
  kafka: () => consumerState.member,
  elasticsearch: () => elasticState.reachable,
  elasticsearch_credentials: () => !elasticState.authFailed,
  index_template: () => elasticState.templateInstalled,
}, (port) => log.info("serving /metrics, /healthz and /readyz", { port }));

const elastic = createElasticClient(config.elastic);
const kafka = createKafka(config.kafka, log);
const producer = config.kafka.deadLetterTopic ? createDeadLetterProducer(kafka) : undefined;
const deadLetters = producer
  ? new KafkaDeadLetterSink(producer, config.kafka.deadLetterTopic!, log, metrics)
  : new LogOnlyDeadLetterSink(log, metrics);
const writer = new BulkWriter<PendingDocument>(elasticBulkTransport(elastic), log, metrics, {
  maxRetries: config.elastic.maxRetries,
});
const pipeline = new Pipeline({
  indexPrefix: config.elastic.indexPrefix,
  timezone: config.pmacctTimezone,
  timestampSource: config.timestampSource,
  maxBatch: config.elastic.maxSamplesPerSend,
  maxWaitMs: config.elastic.maxTimeToSendSeconds * 1000,
  maxBuffered: config.elastic.maxBufferedSamples,
  concurrency: config.elastic.bulkConcurrency,
}, {
  writer,
  deadLetters,
  commit: async (offsets) => await parts.consumer?.commitOffsets(offsets),
  elasticHealth: setElasticHealth,
  log,
  metrics,
});
const parts: ShutdownParts = { pipeline, producer, server, topic: config.kafka.topic, log };

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info("signal received", { signal });
    Deno.exit(await shutdown(parts, config.shutdownTimeoutSeconds * 1000));
  });
}

/**
 * Keeps readiness current while nothing is being sent, and cuts retry backoff short the moment
 * Elasticsearch answers again (probing every 2 s while it is down, every 10 s otherwise).
 */
(async function probeElasticsearch() {
  const probe = await elasticReachable(elastic);
  if (probe.ok && !elasticState.reachable && elasticState.templateInstalled) {
    log.info("Elasticsearch answers again: retrying now");
    writer.retryNow();
  }
  if (probe.ok || !elasticState.reachable) setElasticHealth(probe.ok, isAuthFailure(probe.status));
  setTimeout(probeElasticsearch, elasticState.reachable ? 10_000 : 2_000);
})();

await retryUntilDone(
  async () => {
    try {
      await installIndexTemplate(
        elastic,
        config.elastic.indexPrefix,
        buildIndexTemplate(config.elastic.indexPrefix, mappings, config.elastic.shards, config.elastic.replicas),
      );
    } catch (error) {
      if (errorStatus(error) === 400) {
        log.error("Elasticsearch refused the index template", {
          file: config.elastic.indexTemplateFile,
          error: (error as Error).message,
        });
        console.error(
          `configuration error: ELASTIC_INDEX_TEMPLATE=${config.elastic.indexTemplateFile} was refused by Elasticsearch: ${
            (error as Error).message
          }`,
        );
        Deno.exit(2);
      }
      const probe = await elasticReachable(elastic);
      setElasticHealth(false, isAuthFailure(probe.status));
      throw error;
    }
  },
  (error, retryInMs) =>
    log.error(
      isAuthFailure(errorStatus(error))
        ? "Elasticsearch refused the credentials: check ELASTIC_USERNAME/ELASTIC_PASSWORD or ELASTIC_API_KEY; retrying"
        : "cannot reach Elasticsearch to install the index template; retrying",
      {
        nodes: config.elastic.nodes.join(","),
        status: errorStatus(error),
        error: error.message,
        retry_in_ms: retryInMs,
      },
    ),
  START_BACKOFF,
);
elasticState.templateInstalled = true;
setElasticHealth(true, false);
log.info("index template installed", {
  pattern: `${config.elastic.indexPrefix}-*`,
  file: config.elastic.indexTemplateFile,
});

if (!stopping) {
  if (producer) {
    await retryUntilDone(
      () => producer.connect(),
      (error, retryInMs) =>
        log.error("cannot connect the dead-letter producer; retrying", {
          error: error.message,
          retry_in_ms: retryInMs,
        }),
      START_BACKOFF,
    );
  }
  pipeline.start();
  parts.consumer = await runConsumer({ config: config.kafka, kafka, pipeline, log, metrics, state: consumerState });
  log.info("consuming", { topic: config.kafka.topic, group: config.kafka.groupId });
}
