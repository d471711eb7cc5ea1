/**
 * The bridge's Prometheus metrics. `samples_count_total` is the original tool's counter (records
 * consumed from Kafka) and keeps its name; the rest use the `pmacct_bridge_` prefix.
 */
import client from "prom-client";

export function createMetrics(registry = new client.Registry()) {
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new client.Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new client.Gauge({ name, help, labelNames, registers: [registry] });
  return {
    registry,
    samples: counter("samples_count_total", "Total number of samples (pmacct flow records) read from Kafka"),
    indexed: counter("pmacct_bridge_documents_indexed_total", "Documents Elasticsearch acknowledged, by HTTP status", [
      "status",
    ]),
    rejected: counter(
      "pmacct_bridge_documents_rejected_total",
      "Documents Elasticsearch rejected for good, by HTTP status and error type",
      ["status", "reason"],
    ),
    retried: counter(
      "pmacct_bridge_documents_retried_total",
      "Document sends retried, by HTTP status (0: the whole request failed)",
      ["status"],
    ),
    bulkRequests: counter("pmacct_bridge_bulk_requests_total", "`_bulk` requests, by outcome (ok, partial, failed)", [
      "outcome",
    ]),
    bulkDuration: new client.Histogram({
      name: "pmacct_bridge_bulk_request_duration_seconds",
      help: "Latency of `_bulk` requests",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    flowAge: new client.Histogram({
      name: "pmacct_bridge_indexed_flow_age_seconds",
      help:
        "Time from each indexed flow's own time (its @timestamp) to Elasticsearch's acknowledgement: pmacct's aggregation and purge interval, Kafka, and the bridge",
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400],
      registers: [registry],
    }),
    buffered: gauge(
      "pmacct_bridge_buffered_records",
      "Records read from Kafka and not yet acknowledged by Elasticsearch (or, for a dead letter, by Kafka)",
    ),
    bufferedBytes: gauge(
      "pmacct_bridge_buffered_bytes",
      "Bytes of the records (as pmacct wrote them) and dead letters held; bounded by ELASTIC_MAX_BUFFERED_BYTES",
    ),
    lag: gauge(
      "pmacct_bridge_kafka_consumer_lag",
      "Messages between the partition's end and the bridge's committed offset",
      ["topic", "partition"],
    ),
    committed: gauge("pmacct_bridge_kafka_committed_offset", "Last offset committed, per partition", [
      "topic",
      "partition",
    ]),
    decodeErrors: counter(
      "pmacct_bridge_decode_errors_total",
      "Kafka messages or lines that were not pmacct JSON records, by reason",
      ["reason"],
    ),
    deadLetters: counter(
      "pmacct_bridge_dead_letters_total",
      "Records written to the dead-letter topic (or only logged if it is off), by reason",
      ["reason"],
    ),
    flowTimeRefused: counter(
      "pmacct_bridge_flow_time_refused_total",
      "Flows whose own time was outside FLOW_TIME_MAX_AGE/FLOW_TIME_MAX_AHEAD of their Kafka time, or no date a daily index can name, and were filed under the Kafka time, by reason",
      ["reason"],
    ),
    olderThanRetention: counter(
      "pmacct_bridge_flows_older_than_retention_total",
      "Flows indexed into a day that ELASTIC_RETENTION deletes at its next run",
    ),
    offsetResets: counter(
      "pmacct_bridge_kafka_offset_resets_total",
      "Partitions read from where KAFKA_AUTO_OFFSET_RESET puts them, by reason: deleted_unread (Kafka no longer held the offset to read next: records deleted before the bridge read them, lost), log_went_back (the log was made again or cut: its offsets read again), commit_missing_skipped (the group had no commit for a partition it had read before; latest: records skipped), commit_missing_reread (the same with earliest: records read again)",
      ["topic", "reason"],
    ),
    batchesRefused: counter(
      "pmacct_bridge_kafka_batches_refused_total",
      "Fetched batches not taken because they did not continue their partition's reading (stale_generation: fetched before a rejoin; not_contiguous: fetched from another offset), each read again from the right one",
      ["reason"],
    ),
    heldPartitions: gauge(
      "pmacct_bridge_kafka_partitions_held",
      "Partitions read no further because one record holds their commit (a dead letter Kafka refuses, a document Elasticsearch holds); /readyz names them",
    ),
    stalledPartitions: gauge(
      "pmacct_bridge_kafka_partitions_stalled",
      "Assigned partitions with records to read that the consumer has not fetched for a while, though the bridge did not pause them; /readyz names them",
    ),
    fetchHeals: counter(
      "pmacct_bridge_kafka_fetch_heals_total",
      "Stalled reading healed, by action: seek (a partition read again from the bridge's position), rebuild (a new consumer for a partition not fetched), rejoin (a new consumer for a join kafkajs never finished)",
      ["action"],
    ),
    deadLetterWriteFailures: counter(
      "pmacct_bridge_dead_letter_write_failures_total",
      "Dead-letter writes Kafka refused (each is retried; the source offset waits), by reason: message_too_large, not_authorized, topic_missing, kafka_error",
      ["reason"],
    ),
    markers: counter("pmacct_bridge_markers_total", "pmacct kafka_markers seen (not indexed), by event_type", [
      "event_type",
    ]),
    markerValuesIgnored: counter(
      "pmacct_bridge_pmacct_marker_values_ignored_total",
      "pmacct markers whose counts no purge can have (a negative, fractional or absurd purged_entries), ignored, by field",
      ["field"],
    ),
    purgedEntries: counter(
      "pmacct_bridge_pmacct_purged_entries_total",
      "Records pmacct reports having purged to Kafka (purged_entries of its purge_close markers); compare with samples_count_total",
    ),
    elasticUp: gauge("pmacct_bridge_elasticsearch_up", "1 when the last Elasticsearch request succeeded"),
    elasticAuthFailed: gauge(
      "pmacct_bridge_elasticsearch_auth_failed",
      "1 while Elasticsearch refuses the bridge's credentials (401/403)",
    ),
    elasticBlocked: gauge(
      "pmacct_bridge_elasticsearch_blocked",
      "Indices (or the cluster) whose blocks refuse the bridge's writes now, such as index.blocks.write or a closed index; 0 when none",
    ),
    kafkaUp: gauge("pmacct_bridge_kafka_up", "1 while the consumer is a member of its group"),
    retentionDeleted: counter(
      "pmacct_bridge_retention_deleted_indices_total",
      "Daily indices deleted because their date is older than ELASTIC_RETENTION",
    ),
    retentionFailures: counter(
      "pmacct_bridge_retention_failures_total",
      "Retention runs or index deletions that failed (logged with the reason)",
    ),
    paused: gauge("pmacct_bridge_paused", "1 while fetching from Kafka is paused because the buffer is full"),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
