/**
 * What an operator must hear about a flow's time without being flooded: a flow whose own time was
 * refused (filed under its Kafka time instead), and one filed into a day that retention deletes.
 * Each is counted always and logged once per exporter per 10 minutes.
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

/** How often a misdated flow or one older than retention is logged, per exporter. */
const TIME_WARNING_PERIOD_MS = 10 * 60_000;

export interface FlowTimeCheckOptions {
  /** The window flow times were checked against, named in the log. */
  flowTimeWindow?: FlowTimeWindow;
  /** `ELASTIC_RETENTION`'s days: flows filed into a day it deletes are counted and logged. */
  retentionDays?: number;
}

/** Counts and logs, once per exporter and period, flows whose time needs an operator's attention. */
export class FlowTimeChecks {
  readonly #misdatedWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);
  readonly #retentionWarnings = new OncePerPeriod(TIME_WARNING_PERIOD_MS);

  constructor(
    private readonly options: FlowTimeCheckOptions,
    private readonly deps: { log: Logger; metrics: Metrics },
  ) {
    // Every reason's series exists from the start, so an alert's `increase()` sees its first flow.
    for (const reason of MISDATED_REASONS) deps.metrics.flowTimeRefused.inc({ reason }, 0);
  }

  /** Counts and logs a flow filed under its Kafka time, or into a day retention deletes. */
  check(document: EncodedDocument, record: Record<string, unknown>, origin: RecordOrigin, now: number): void {
    const keepDays = this.options.retentionDays;
    const expired = keepDays !== undefined && utcDay(document.epochMs) < utcDay(now) - keepDays;
    if (document.misdated === undefined && !expired) return;
    const exporter = typeof record.peer_ip_src === "string" && record.peer_ip_src !== ""
      ? record.peer_ip_src
      : "unknown";
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
