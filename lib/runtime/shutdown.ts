/**
 * Graceful shutdown on SIGTERM/SIGINT: stop fetching, send what is buffered, commit what is
 * acknowledged, leave the group, all within a bound. When the bound is hit, the bridge exits
 * without committing the rest; those records are read again by whoever owns the partition next
 * and overwrite their documents (same `_id`).
 */
import type { Producer } from "kafkajs";
import type { Logger } from "./log.ts";
import type { Pipeline } from "../delivery/pipeline.ts";

/** What shutdown does with the source of records (`KafkaSource`), in whatever state it is. */
export interface SourceControl {
  /** Stops fetching and rebuilding; never throws. */
  stopFetching(): void;
  /** Leaves the group and disconnects. */
  stop(): Promise<void>;
}

export interface ShutdownParts {
  source?: SourceControl;
  producer?: Pick<Producer, "disconnect">;
  pipeline: Pick<Pipeline, "held" | "drain" | "unfinished">;
  server?: Pick<Deno.HttpServer, "shutdown">;
  log: Logger;
}

/**
 * Returns the exit status: 0 when everything was flushed and committed in time, 1 otherwise; the
 * log then says what is left for the next start (or the partitions' next owner) to read again.
 */
export async function shutdown(parts: ShutdownParts, timeoutMs: number): Promise<number> {
  const { source, producer, pipeline, server, log } = parts;
  const started = Date.now();
  log.info("shutting down: flushing buffered records", { held: pipeline.held, timeout_ms: timeoutMs });
  source?.stopFetching();
  const { sent, committed, leftToRebalance } = await pipeline.drain(timeoutMs);
  const unfinished = pipeline.unfinished();
  const remaining = Math.max(1000, timeoutMs - (Date.now() - started));
  const withTimeout = (step: Promise<unknown>) =>
    Promise.race([
      step.catch((error) => log.warn("shutdown step failed", { error: (error as Error).message })),
      new Promise((resolve) => setTimeout(resolve, remaining)),
    ]);
  await withTimeout(Promise.all([source?.stop(), producer?.disconnect()]));
  await withTimeout(server?.shutdown() ?? Promise.resolve());
  if (sent && committed && leftToRebalance === 0) {
    log.info("shutdown complete: everything buffered was indexed and committed", { took_ms: Date.now() - started });
    return 0;
  }
  const left = [
    !sent && `records of ${unfinished} messages were not indexed or dead-lettered in time`,
    !committed && "the last commit did not go through (Kafka refused it, or kafkajs made none: its consumer was " +
      "rejoining or stopping), so what was indexed since the commit before",
    leftToRebalance > 0 &&
    `a rebalance during the drain gave ${leftToRebalance} offsets taken but not committed to their next owner`,
  ].filter(Boolean);
  log.warn(`shutdown incomplete: ${left.join("; ")}: read again at the next start, under the same ids`, {
    unfinished_messages: unfinished,
    committed,
    left_to_rebalance: leftToRebalance,
  });
  return 1;
}
