/**
 * A small fake of the kafkajs consumer behind {@linkcode GroupConsumer}: the test decides when it
 * connects, joins its group and stops, and with which error, as kafkajs' own consumer would.
 */
import type { ConsumerPipeline, GroupConsumer } from "../../lib/kafka/consumer.ts";
import type { CommitRequest } from "../../lib/delivery/pipeline.ts";

const EVENTS = {
  GROUP_JOIN: "consumer.group_join",
  REBALANCING: "consumer.rebalancing",
  CRASH: "consumer.crash",
  DISCONNECT: "consumer.disconnect",
  STOP: "consumer.stop",
} as const;

type Listener = (event: { payload: Record<string, unknown> }) => void;

export class FakeConsumer {
  readonly events = EVENTS;
  readonly listeners = new Map<string, Listener[]>();
  readonly commits: CommitRequest[][] = [];
  readonly calls: string[] = [];
  /** Whether `run` has been called and no stop since. */
  running = false;
  /** What `connect` does: resolves at once unless the test sets it. */
  connecting: () => Promise<void> = () => Promise.resolve();

  on(event: string, listener: Listener): () => void {
    this.listeners.set(event, [...this.listeners.get(event) ?? [], listener]);
    return () => {};
  }

  emit(event: string, payload: Record<string, unknown>): void {
    for (const listener of this.listeners.get(event) ?? []) listener({ payload });
  }

  connect(): Promise<void> {
    this.calls.push("connect");
    return this.connecting();
  }

  subscribe(): Promise<void> {
    this.calls.push("subscribe");
    return Promise.resolve();
  }

  /** The `eachBatch` the bridge handed to `run`. */
  eachBatch: ((payload: Record<string, unknown>) => Promise<void>) | undefined;

  run(config: { eachBatch?: (payload: Record<string, unknown>) => Promise<void> } = {}): Promise<void> {
    this.calls.push("run");
    this.running = true;
    this.eachBatch = config.eachBatch;
    return Promise.resolve();
  }

  /** Hands the bridge one fetched batch of `topic`'s `partition`, as kafkajs' runner does. */
  deliver(topic: string, partition: number, offsets: string[]): Promise<void> {
    const messages = offsets.map((offset) => ({ offset, timestamp: "0", value: new Uint8Array([0x7b, 0x7d]) }));
    return this.eachBatch!({
      batch: { topic, partition, messages, highWatermark: String(Number(offsets.at(-1) ?? "0") + 1) },
      resolveOffset: (offset: string) => this.calls.push(`resolve ${offset}`),
      heartbeat: () => Promise.resolve(),
      pause: () => this.calls.push(`pause ${topic}:${partition}`),
      isRunning: () => this.running,
      isStale: () => false,
    });
  }

  /** kafkajs throws a `KafkaJSNonRetriableError` when its consumer is not running. */
  pause(): void {
    this.calls.push("pause");
    if (!this.running) throw new Error("Consumer group was not initialized, consumer#run must be called first");
  }

  resume(): void {
    this.calls.push("resume");
    if (!this.running) throw new Error("Consumer group was not initialized, consumer#run must be called first");
  }

  commitOffsets(offsets: CommitRequest[]): Promise<void> {
    this.commits.push(offsets);
    return Promise.resolve();
  }

  disconnect(): Promise<void> {
    this.calls.push("disconnect");
    this.running = false;
    return Promise.resolve();
  }

  /** The group took it in, with one partition of `topic`. */
  join(topic: string): void {
    this.emit(EVENTS.GROUP_JOIN, { memberId: "m-1", memberAssignment: { [topic]: [0] } });
  }

  /** kafkajs' consumer stopped with `error` (it disconnected itself first, as kafkajs does). */
  crash(error: Error, restart: boolean): void {
    this.running = false;
    this.emit(EVENTS.CRASH, { error, restart, groupId: "g" });
  }

  /** The fake as the interface the bridge uses. */
  get asGroupConsumer(): GroupConsumer {
    return this as unknown as GroupConsumer;
  }
}

/** What the source uses of the pipeline, counting new generations. */
export function fakePipeline(): ConsumerPipeline & { generations: number } {
  return {
    generations: 0,
    ingest: (_topic, _partition, messages) => messages.length,
    whenRoom: () => Promise.resolve(true),
    hasRoom: true,
    held: 0,
    onRoom: () => {},
    newGeneration() {
      this.generations++;
    },
    commitAcknowledged: () => Promise.resolve(),
    committedOffset: () => undefined,
  };
}
