/**
 * Plays the consumer's part for tests of the pipeline alone: one fetched batch of a partition,
 * admitted from its first offset (the partition's reading starts there when it has not started),
 * taken while there is room, and settled as the consumer resolves it.
 */
import { partitionKey } from "../../lib/delivery/acknowledgement.ts";
import type { Pipeline, SourceMessage } from "../../lib/delivery/pipeline.ts";

/** Returns how many messages were taken; 0 when the batch is refused. */
export function feed(pipeline: Pipeline, topic: string, partition: number, messages: readonly SourceMessage[]): number {
  if (messages.length === 0) return 0;
  const from = messages[0].offset;
  if (pipeline.position(topic, partition) === undefined) {
    pipeline.startRuns(pipeline.generation, new Map([[partitionKey(topic, partition), { offset: Number(from) }]]));
  }
  const admission = pipeline.admit(topic, partition, from);
  if (!("ticket" in admission)) return 0;
  const taken = pipeline.ingest(admission.ticket, messages);
  if (taken > 0) pipeline.settle(admission.ticket, messages[taken - 1].offset);
  return taken;
}

/** Whether a drain within `timeoutMs` sent everything and committed it, with nothing left to a rebalance. */
export async function drained(pipeline: Pipeline, timeoutMs = 1000): Promise<boolean> {
  const { sent, committed, leftToRebalance } = await pipeline.drain(timeoutMs);
  return sent && committed && leftToRebalance === 0;
}
