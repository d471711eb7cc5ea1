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

/** Returns the exit status: 0 when everything was flushed and committed in time, 1 otherwise. */
export async function shutdown(parts: ShutdownParts, timeoutMs: number): Promise<number> {
  const { source, producer, pipeline, server, log } = parts;
  const started = Date.now();
  log.info("shutting down: flushing buffered records", { held: pipeline.held, timeout_ms: timeoutMs });
  source?.stopFetching();
  const drained = await pipeline.drain(timeoutMs);
  const remaining = Math.max(1000, timeoutMs - (Date.now() - started));
  const withTimeout = (step: Promise<unknown>) =>
    Promise.race([
      step.catch((error) => log.warn("shutdown step failed", { error: (error as Error).message })),
      new Promise((resolve) => setTimeout(resolve, remaining)),
    ]);
  await withTimeout(Promise.all([source?.stop(), producer?.disconnect()]));
  await withTimeout(server?.shutdown() ?? Promise.resolve());
  if (drained) {
    log.info("shutdown complete: everything buffered was indexed and committed", { took_ms: Date.now() - started });
    return 0;
  }
  log.warn("shutdown incomplete: records not indexed in time, or offsets not committed; they will be read again", {
    unfinished_messages: pipeline.unfinished(),
  });
  return 1;
}
