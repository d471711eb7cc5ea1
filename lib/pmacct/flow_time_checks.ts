/**
 * What an operator must hear about a flow's time without being flooded: a flow whose own time was
 * refused (filed under its Kafka time instead), and one filed into a day that retention deletes,
 * each counted always and logged once per exporter per 10 minutes; and, where the zone of
 * pmacct's local-time strings was only assumed, records that look read in the wrong zone.
 */
import { formatDurationOrOff } from "../config/parse.ts";
import type { EncodedDocument, Misdated, RecordOrigin } from "./document.ts";
import { type FlowTimeWindow, isNameableDate, MISDATED_REASONS } from "./flow_time.ts";
import { utcDay } from "../elastic/index_name.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";

/** An instant for a log line: ISO text, or the number itself where it is no date. */
const instantText = (epochMs: number) => isNameableDate(epochMs) ? new Date(epochMs).toISOString() : String(epochMs);
import { OncePerPeriod } from "../runtime/once_per_period.ts";
import { formatZoneOffset, suspectedZoneOffsetMs } from "./local_time_hint.ts";

/** How often a misdated flow or one older than retention is logged, per exporter. */
const TIME_WARNING_PERIOD_MS = 10 * 60_000;
/** How often an exporter's records are looked at for local time read as UTC, and how often it is said. */
const LOCAL_TIME_SAMPLE_MS = 10_000;
const LOCAL_TIME_WARNING_PERIOD_MS = 60 * 60_000;
/** Samples in a row, 10 s apart, that must show the same offset before it is said. */
const LOCAL_TIME_AGREEING = 3;

export interface FlowTimeCheckOptions {
  /** The window flow times were checked against, named in the log. */
  flowTimeWindow?: FlowTimeWindow;
  /** `ELASTIC_RETENTION`'s days: flows filed into a day it deletes are counted and logged. */
  retentionDays?: number;
  /**
   * Set when `PMACCT_TIMEZONE` is not and the host's zone, assumed instead, is UTC: records whose
   * times look like another zone's wall clock are then warned of (see `suspectedZoneOffsetMs`).
   */
  suspectLocalTime?: boolean;
}

/** Counts and logs, once per exporter and period, flows whose time needs an operator's attention. */
export class FlowTimeChecks {
  readonly #misdatedWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);
  readonly #retentionWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);
  readonly #localTimeSamples = new OncePerPeriod(LOCAL_TIME_SAMPLE_MS);
  readonly #localTimeWarnings = new OncePerPeriod(LOCAL_TIME_WARNING_PERIOD_MS);

  constructor(
    private readonly options: FlowTimeCheckOptions,
    private readonly deps: { log: Logger; metrics: Metrics },
  ) {
    // Every reason's series exists from the start, so an alert's `increase()` sees its first flow.
    for (const reason of MISDATED_REASONS) deps.metrics.flowTimeRefused.inc({ reason }, 0);
  }

  /**
   * Counts and logs a flow filed under its Kafka time, or into a day retention deletes; with
   * `suspectLocalTime`, looks at one record per exporter every 10 s for local time read as UTC,
   * and warns once three in a row agree.
   */
  check(document: EncodedDocument, record: Record<string, unknown>, origin: RecordOrigin, now: number): void {
    const keepDays = this.options.retentionDays;
    const expired = keepDays !== undefined && utcDay(document.epochMs) < utcDay(now) - keepDays;
    const suspect = this.options.suspectLocalTime === true;
    if (document.misdated === undefined && !expired && !suspect) return;
    const exporter = typeof record.peer_ip_src === "string" && record.peer_ip_src !== ""
      ? record.peer_ip_src
      : "unknown";
    if (suspect && this.#localTimeSamples.due(exporter, now)) this.#checkLocalTime(record, exporter, origin, now);
    if (document.misdated !== undefined) {
      this.deps.metrics.flowTimeRefused.inc({ reason: document.misdated.reason });
      if (this.#misdatedWarnings.due(exporter, now)) this.#logMisdated(document.misdated, exporter, origin);
    }
    if (expired) {
      this.deps.metrics.olderThanRetention.inc();
      if (!this.#retentionWarnings.due(exporter, now)) return;
      this.deps.log.warn("flow is older than ELASTIC_RETENTION: indexed, and its day deleted at retention's next run", {
        exporter,
        index: document.index,
        keep_days: keepDays,
        topic: origin.topic,
        partition: origin.partition,
        offset: origin.offset,
        note: "logged once per exporter per 10 minutes; pmacct_bridge_flows_older_than_retention_total counts all",
      });
    }
  }

  /**
   * Samples agreeing on one offset, per exporter: a warning needs `LOCAL_TIME_AGREEING` of them in
   * a row (one record alone may be a late one).
   */
  readonly #localTimeAgreeing = new Map<string, { offsetMs: number; count: number }>();

  #checkLocalTime(record: Record<string, unknown>, exporter: string, origin: RecordOrigin, now: number): void {
    const offsetMs = suspectedZoneOffsetMs(record, "UTC", origin.timestampMs);
    if (offsetMs === undefined) {
      this.#localTimeAgreeing.delete(exporter);
      return;
    }
    const agreeing = this.#localTimeAgreeing.get(exporter);
    const count = agreeing?.offsetMs === offsetMs ? agreeing.count + 1 : 1;
    if (this.#localTimeAgreeing.size >= 10_000 && agreeing === undefined) this.#localTimeAgreeing.clear();
    this.#localTimeAgreeing.set(exporter, { offsetMs, count });
    if (count < LOCAL_TIME_AGREEING || !this.#localTimeWarnings.due(exporter, now)) return;
    const offset = formatZoneOffset(offsetMs);
    this.deps.log.warn(
      `this exporter's times look like local time at UTC${offset} read as UTC: PMACCT_TIMEZONE is not set, ` +
        "and the host's zone, UTC, was assumed; set PMACCT_TIMEZONE to the collector's zone (or timestamps_utc: true in pmacct)",
      {
        exporter,
        latest_time_ahead_of_kafka: offset,
        kafka_time: instantText(origin.timestampMs),
        topic: origin.topic,
        partition: origin.partition,
        offset: origin.offset,
        note: "logged once per exporter per hour",
      },
    );
  }

  #logMisdated({ reason, field, flowMs }: Misdated, exporter: string, origin: RecordOrigin): void {
    const window = this.options.flowTimeWindow ?? {};
    this.deps.log.warn("flow time refused: filed under its Kafka message time", {
      exporter,
      reason,
      field,
      flow_time: instantText(flowMs),
      kafka_time: instantText(origin.timestampMs),
      max_age: formatDurationOrOff(window.maxAgeMs),
      max_ahead: formatDurationOrOff(window.maxAheadMs),
      topic: origin.topic,
      partition: origin.partition,
      offset: origin.offset,
      note: "logged once per exporter per 10 minutes; pmacct_bridge_flow_time_refused_total counts all",
    });
  }
}
