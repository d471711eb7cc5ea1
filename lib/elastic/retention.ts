/**
 * Runs retention (`expired_indices.ts`) against the cluster: at start and then every hour it lists
 * the prefix's indices and deletes, one by one and by exact name, those whose date has expired.
 * Deleting is idempotent (an index another copy deleted first counts as gone), so every copy of
 * the bridge may run it. Each deletion is logged and counted; a failure is logged, counted and
 * tried again at the next run, and never stops the bridge.
 */
import { indexPattern } from "./index_name.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { expiredIndices } from "./expired_indices.ts";
import type { SearchService } from "./service.ts";

const RETENTION_INTERVAL_MS = 3_600_000;

export interface RetentionOptions {
  prefix: string;
  keepDays: number;
  log: Logger;
  metrics: Metrics;
}

/** One pass: deletes what has expired now. */
async function applyRetention(service: SearchService, options: RetentionOptions): Promise<void> {
  const { prefix, keepDays, log, metrics } = options;
  let names: string[];
  try {
    names = await service.listIndices(indexPattern(prefix));
  } catch (error) {
    metrics.retentionFailures.inc();
    log.error("retention could not list the indices; trying again in an hour", {
      pattern: indexPattern(prefix),
      error: (error as Error).message,
    });
    return;
  }
  for (const index of expiredIndices(names, prefix, keepDays, Date.now())) {
    try {
      if (await service.deleteIndex(index) === "deleted") {
        metrics.retentionDeleted.inc();
        log.info("index deleted by retention", { index, retention: `${keepDays}d` });
      }
    } catch (error) {
      metrics.retentionFailures.inc();
      log.error("retention could not delete an index; trying again in an hour", {
        index,
        error: (error as Error).message,
      });
    }
  }
}

/** Applies retention now and then every hour, one pass at a time, for as long as the process runs. */
export function startRetention(service: SearchService, options: RetentionOptions): void {
  let running: Promise<unknown> = applyRetention(service, options);
  Deno.unrefTimer(setInterval(() => {
    running = running.then(() => applyRetention(service, options));
  }, RETENTION_INTERVAL_MS));
}
