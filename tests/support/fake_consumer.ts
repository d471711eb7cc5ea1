/**
 * A small fake of the kafkajs consumer behind {@linkcode GroupConsumer}: the test decides when it
 * connects, joins its group and stops, and which batches it hands over, from which fetch offset,
 * in which order, as kafkajs 2.2.4's own runner can (a batch fetched before a rejoin handed over
 * after it, a batch fetched again from an offset resolved earlier).
 */
import type { ConsumerPipeline, GroupConsumer } from "../../lib/kafka/consumer.ts";
import type { CommitRequest } from "../../lib/delivery/pipeline.ts";

const EVENTS = {
  GROUP_JOIN: "consumer.group_join",
  REBALANCING: "consumer.rebalancing",
  CRASH: "consumer.crash",
  DISCONNECT: "consumer.disconnect",
  STOP: "consumer.stop",
  COMMIT_OFFSETS: "consumer.commit_offsets",
  END_BATCH_PROCESS: "consumer.end_batch_process",
} as const;

type Listener = (event: { payload: Record<string, unknown> }) => void;

/** How a batch is handed over: from which offset kafkajs fetched it, and its messages' contents. */
export interface BatchShape {
  /** Where kafkajs fetched the batch from; its first message's offset by default. */
  fetchedOffset?: number;
  /** kafkajs' `lastOffset()`: past trailing transaction markers; the last message's by default. */
  lastOffset?: number;
  /** The value of the message at `offset`; `{}` by default. */
  value?: (offset: number) => Uint8Array;
  /** What `heartbeat` does; resolves by default. */
  heartbeat?: () => Promise<void>;
}

const emptyObject = new Uint8Array([0x7b, 0x7d]);

/** The Kafka time of every message the fake hands over (2025-11-25 10:00 UTC). */
export const FAKE_KAFKA_TIME = 1764064800000;

export class FakeConsumer {
  readonly events = EVENTS;
  readonly listeners = new Map<string, Listener[]>();
  readonly commits: CommitRequest[][] = [];
  readonly calls: string[] = [];
  /** Whether `run` has been called and no stop since. */
  running = false;
  /** What `connect` does: resolves at once unless the test sets it. */
  connecting: () => Promise<void> = () => Promise.resolve();
  /** What `commitOffsets` waits for before it answers; answers at once unless the test sets it. */
  committing: () => Promise<void> = () => Promise.resolve();
  /** Seeks so far, per `topic:partition`: a batch handed over before the latest is stale (`isStale`). */
  readonly #seeks = new Map<string, number>();
  /**
   * kafkajs' fetch position per `topic:partition` in the current generation (its offset manager's
   * resolved offset, or a seek); read from {@linkcode groupCommitted} at the first fetch after a join.
   */
  readonly #positions = new Map<string, number>();
  /** The group's committed offset of a partition, as kafkajs reads it at the first fetch after a join. */
  groupCommitted: (topic: string, partition: number) => number = () => 0;
  /** A partition's end: fetches read up to it. */
  endOf: (topic: string, partition: number) => number = () => Infinity;

  on(event: string, listener: Listener): () => void {
    this.listeners.set(event, [...this.listeners.get(event) ?? [], listener]);
    return () => this.listeners.set(event, (this.listeners.get(event) ?? []).filter((one) => one !== listener));
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

  /**
   * Hands the bridge one fetched batch of `topic`'s `partition` holding `offsets`, as kafkajs'
   * runner does; resolves when `eachBatch` returns.
   */
  deliver(topic: string, partition: number, offsets: number[], shape: BatchShape = {}): Promise<void> {
    const name = `${topic}:${partition}`;
    const seeksBefore = this.#seeks.get(name) ?? 0;
    const messages = offsets.map((offset) => ({
      offset: String(offset),
      timestamp: String(FAKE_KAFKA_TIME),
      value: shape.value?.(offset) ?? emptyObject,
    }));
    const last = shape.lastOffset ?? offsets.at(-1) ?? 0;
    return this.eachBatch!({
      batch: {
        topic,
        partition,
        messages,
        highWatermark: String(last + 1),
        fetchedOffset: String(shape.fetchedOffset ?? offsets[0]),
        lastOffset: () => String(last),
      },
      resolveOffset: (offset: string) => {
        this.calls.push(`resolve ${name} ${offset}`);
        // kafkajs resolves the last message of a batch as its last offset, past trailing markers.
        this.#positions.set(name, (Number(offset) === offsets.at(-1) ? last : Number(offset)) + 1);
      },
      heartbeat: shape.heartbeat ?? (() => Promise.resolve()),
      pause: () => this.calls.push(`pause ${name}`),
      isRunning: () => this.running,
      isStale: () => (this.#seeks.get(name) ?? 0) !== seeksBefore,
    });
  }

  /**
   * Fetches up to `max` messages of `topic`'s `partition` from kafkajs' position now; the batch is
   * handed over when `deliver` is called, which may be after a join (a batch fetched before it).
   * `null` when the partition has nothing past its position.
   */
  fetch(topic: string, partition: number, max: number, shape: BatchShape = {}): { deliver(): Promise<void> } | null {
    const name = `${topic}:${partition}`;
    const from = this.#positions.get(name) ?? this.groupCommitted(topic, partition);
    this.#positions.set(name, from);
    const to = Math.min(from + max, this.endOf(topic, partition));
    if (to <= from) return null;
    const offsets = Array.from({ length: to - from }, (_, i) => from + i);
    return { deliver: () => this.deliver(topic, partition, offsets, { fetchedOffset: from, ...shape }) };
  }

  /** kafkajs' fetch position of `topic`'s `partition` in the current generation, if it fetched it. */
  positionOf(topic: string, partition: number): number | undefined {
    return this.#positions.get(`${topic}:${partition}`);
  }

  /** kafkajs resolved a batch of `topic`'s `partition` by itself: nothing in it was for the bridge. */
  passOver(topic: string, partition: number, firstOffset: number | null, lastOffset: number): void {
    this.#positions.set(`${topic}:${partition}`, lastOffset + 1);
    this.emit(EVENTS.END_BATCH_PROCESS, {
      topic,
      partition,
      batchSize: 0,
      firstOffset: firstOffset === null ? null : String(firstOffset),
      lastOffset: String(lastOffset),
    });
  }

  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }): void {
    const name = `${topic}:${partition}`;
    this.calls.push(`seek ${name} ${offset}`);
    this.#seeks.set(name, (this.#seeks.get(name) ?? 0) + 1);
    this.#positions.set(name, Number(offset));
  }

  /** kafkajs throws a `KafkaJSNonRetriableError` when its consumer is not running. */
  pause(): void {
    this.calls.push("pause");
    if (!this.running) throw new Error("Consumer group was not initialized, consumer#run must be called first");
  }

  resume(partitions: Array<{ topic: string; partitions?: number[] }> = []): void {
    this.calls.push(`resume ${partitions.map(({ topic, partitions }) => `${topic}:${partitions}`).join(" ")}`.trim());
    if (!this.running) throw new Error("Consumer group was not initialized, consumer#run must be called first");
  }

  /** As kafkajs: a consumer whose runner is not running resolves without committing (and says nothing). */
  async commitOffsets(offsets: CommitRequest[]): Promise<void> {
    await this.committing();
    if (!this.running) return;
    this.commits.push(offsets);
    this.emit(EVENTS.COMMIT_OFFSETS, { topics: offsets });
  }

  disconnect(): Promise<void> {
    this.calls.push("disconnect");
    this.running = false;
    return Promise.resolve();
  }

  /** The group took it in, with `partitions` of `topic`. */
  join(topic: string, partitions = [0]): void {
    this.#positions.clear();
    this.emit(EVENTS.GROUP_JOIN, { memberId: "m-1", memberAssignment: { [topic]: partitions } });
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

/** What the source uses of the pipeline, taking every batch whole and counting new generations. */
export function fakePipeline(): Omit<ConsumerPipeline, "generation"> & { generation: number; generations: number } {
  return {
    generations: 0,
    generation: 0,
    admit(topic, partition) {
      return { ticket: { topic, partition, key: `${topic}:${partition}`, generation: this.generation, run: 0 } };
    },
    ingest: (_ticket, messages) => messages.length,
    settle: () => true,
    passedOver: () => {},
    startRuns: () => {},
    whenStarted: () => Promise.resolve(),
    commitsSettled: () => Promise.resolve(),
    spanFull: () => false,
    heldPartitions: () => [],
    position: () => undefined,
    whenRoom: () => Promise.resolve(true),
    hasRoom: true,
    held: 0,
    onRoom: () => {},
    newGeneration() {
      this.generations++;
      this.generation++;
    },
    commitAcknowledged: () => Promise.resolve(),
    committedOffset: () => undefined,
  };
}
