/**
 * Running the built bridge: a signal stops it (with the shutdown's status, or a one-off run's
 * end), the parts are connected to their servers (the search cluster identified and its template
 * installed, the Kafka cluster and its topics), and reading starts. Normal running ends only by a
 * signal; a one-off run also when its ranges are read.
 */
import { type OneOffCommand, prepareOneOff, sourceTopicsOf } from "../cli/one_off.ts";
import type { OneOffRun } from "../cli/one_off_run.ts";
import { connectSearch } from "../elastic/connect.ts";
import { IndexCreator } from "../elastic/indices.ts";
import { ReadingMarks } from "../elastic/reading_marks.ts";
import { startRetention } from "../elastic/retention.ts";
import { ensureDeadLetterTopics, waitForTopic } from "../kafka/topics.ts";
import type { Bridge } from "./bridge.ts";
import { retryUntilDone } from "./retry.ts";
import { shutdown } from "./shutdown.ts";

/**
 * Runs `bridge` (a one-off run when `oneOff` is given) and resolves with the exit status; rejects
 * with a `ConfigError` a server's answer showed (a TLS setting it refuses, say).
 */
export function run(bridge: Bridge, oneOff?: OneOffCommand): Promise<number> {
  const { config, log, source, pipeline, producer, server } = bridge;
  const stop = () => shutdown({ source, pipeline, producer, server, log }, config.shutdownTimeoutSeconds * 1000);
  return new Promise<number>((resolve, reject) => {
    let stopping = false;
    /** Set once a one-off run is planned: a signal then interrupts it. */
    let planned: OneOffRun | undefined;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => {
        if (stopping) return;
        stopping = true;
        log.info("signal received", { signal });
        // A one-off run stopped before its end has not done what it was asked: never exit 0.
        (planned?.interrupt() ?? stop().then((status) => oneOff ? 1 : status)).then(resolve);
      });
    }
    start(bridge, oneOff, () => stopping, (run) => planned = run, stop).then((status) => {
      // A signal meanwhile shuts down on its own path.
      if (status !== undefined && !stopping) resolve(status);
    }, reject);
  });
}

/**
 * Connects the parts and starts reading. Resolves with a one-off run's status once it ended (or
 * could not start), never for normal running.
 */
async function start(
  bridge: Bridge,
  oneOff: OneOffCommand | undefined,
  stopping: () => boolean,
  planned: (run: OneOffRun) => void,
  stop: () => Promise<number>,
): Promise<number | undefined> {
  const { config, log, metrics, health, kafka, producer, pipeline, source } = bridge;
  await connect(bridge, oneOff, stopping);
  if (stopping()) return undefined;
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
  let oneOffRun: OneOffRun | undefined;
  if (oneOff) {
    const prepared = await prepareOneOff(oneOff, { kafka, config, pipeline, metrics, log, shutdown: stop }, planned);
    if (prepared === 1) return 1;
    planned(oneOffRun = prepared);
  }
  if (stopping()) return undefined;
  pipeline.start();
  source.start();
  log.info("consuming", {
    topics: config.kafka.topics.join(","),
    group: config.kafka.groupId,
    assignment_protocols: config.kafka.partitionAssignmentStrategy.join(","),
  });
  return oneOffRun ? await oneOffRun.finish() : await new Promise<never>(() => {});
}

/**
 * Identifies the search cluster and installs the template, waits for the source topics and names
 * the Kafka cluster every id begins with, starts retention (not for a one-off run) and the
 * writer's watch of Elasticsearch.
 */
async function connect(bridge: Bridge, oneOff: OneOffCommand | undefined, stopping: () => boolean): Promise<void> {
  const { config, settings, log, metrics, health, elasticStatus, kafka, pipeline, writer, cluster } = bridge;
  const [connected, kafkaClusterId] = await Promise.all([
    connectSearch({
      config: config.elastic,
      pem: settings.elasticTls,
      templateFile: settings.templateFile,
      health,
      status: elasticStatus,
      log,
    }),
    // The source topics (a replay's replayed ones): their dead-letter topics are made next if missing.
    waitForTopic(
      kafka,
      { ...settings.config.kafka, topics: sourceTopicsOf(settings.config, oneOff) },
      health,
      stopping,
    ),
  ]);
  pipeline.identifySource(kafkaClusterId);
  if (kafkaClusterId !== undefined) {
    log.info("document ids begin with the Kafka cluster's id", { cluster_id: kafkaClusterId });
  } else if (!stopping()) {
    log.warn("the Kafka cluster has no cluster id: document ids start at the topic, unique within this cluster only");
  }
  cluster.service = connected.service;
  cluster.indices = new IndexCreator(connected.service, connected.template, health, log);
  // A one-off run's group is its own, made for the run: nothing to remember of it.
  if (!oneOff) cluster.marks = new ReadingMarks(connected.service, config.elastic.indexPrefix, kafkaClusterId);
  health.pass("index_template");
  log.info("index template installed", {
    patterns: connected.template.index_patterns.join(","),
    priority: connected.template.priority,
    file: config.elastic.indexTemplateFile,
  });
  const keepDays = config.elastic.retentionDays;
  if (keepDays !== undefined && !oneOff) {
    log.info("retention on: deleting daily indices by the date in their names", {
      pattern: `${config.elastic.indexPrefix}-yyyy-MM-dd`,
      keep_days: keepDays,
    });
    startRetention(connected.service, { prefix: config.elastic.indexPrefix, keepDays, log, metrics });
  }
  elasticStatus.watch(connected.service, () => {
    log.info("Elasticsearch answers again: retrying now");
    writer.retryNow();
  });
}
