/**
 * The fault suite's bookkeeping: each scenario gets its own topic, group and index prefix,
 * produces pmacct records into the real Kafka, breaks a real server, and then accounts for every
 * produced record from what Elasticsearch and the dead-letter topic hold.
 */
import { REPO_ROOT } from "../support/fixtures.ts";
import {
  type BridgeProcess,
  indexedDocuments,
  kafkaClusterId,
  MAIN_ELASTIC,
  makeTrafficPcap,
  readTopic,
  recordPartOfId,
  replaySyntheticTraffic,
  startBridge,
  type TopicMessage,
  uniqueName,
} from "../support/stack.ts";

/** `deno task chaos --long`: more records, more kills, longer outages. */
export const LONG = Deno.args.includes("--long");

const AGGREGATE = "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start";

/** One line of the table the suite prints. */
export type Row = Omit<Accounting, "letters"> & { scenario: string; recoverSeconds: number };

export const rows: Row[] = [];

/** Where the suite keeps its last table, for the README. */
export const TABLE_PATH = `${REPO_ROOT}.stack/chaos-table.md`;

export function renderTable(table: Row[]): string {
  const header =
    "| scenario | produced | indexed | dead-lettered | duplicates | missing | overwritten | time to recover |";
  const lines = table.map((row) =>
    `| ${row.scenario} | ${row.produced} | ${row.indexed} | ${row.deadLettered} | ${row.duplicates} | ${row.missing} | ${row.overwritten} | ${
      row.recoverSeconds.toFixed(1)
    } s |`
  );
  return [header, "|---|--:|--:|--:|--:|--:|--:|--:|", ...lines].join("\n");
}

/** The keys (`topic:partition:offset:position`) the bridge gives the records of a message. */
export function recordKeys(topic: string, message: TopicMessage): string[] {
  const prefix = `${topic}:${message.partition}:${message.offset}`;
  const payload = message.payload ?? "";
  if (!payload.includes("\n")) return [`${prefix}:0`];
  const lines = payload.split("\n").filter((line) => line.replace(/\r$/, "").trim() !== "");
  return lines.length === 0 ? [`${prefix}:0`] : lines.map((_, position) => `${prefix}:${position}`);
}

export interface Accounting {
  produced: number;
  indexed: number;
  deadLettered: number;
  /** ES documents or dead letters with the same key, keys in both, and keys never produced. */
  duplicates: number;
  missing: number;
  /** Documents written more than once under their own `_id` (at-least-once, made idempotent). */
  overwritten: number;
  /** Dead letters of this scenario, for checks of their reasons and headers. */
  letters: TopicMessage[];
}

export class Scenario {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly bridges: BridgeProcess[] = [];
  #pcapDir: string | undefined;
  #pcap: string | undefined;
  #load: Promise<void> | undefined;
  #loading = false;

  /** `target`: where the scenario's bridges index (the stack's main Elasticsearch by default). */
  constructor(readonly name: string, label: string, readonly target = MAIN_ELASTIC) {
    this.topic = uniqueName(label);
    this.deadLetterTopic = `${this.topic}-dlq`;
  }

  /** Settings of every bridge of this scenario (same group, so they share the partitions). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      KAFKA_TOPIC: this.topic,
      KAFKA_CONSUMER_GROUP_ID: this.topic,
      ELASTIC_INDEX_PREFIX: this.topic,
      ELASTIC_MAX_TIME_TO_SEND: "1",
      ...extra,
    };
  }

  async startBridge(extra: Record<string, string> = {}): Promise<BridgeProcess> {
    const bridge = await startBridge(this.env(extra));
    this.bridges.push(bridge);
    return bridge;
  }

  /** One replay of the synthetic capture (5,000 flows) through Debian's pmacctd into the topic. */
  async replay(times = 1): Promise<void> {
    if (!this.#pcapDir) this.#pcapDir = await Deno.makeTempDir({ prefix: "chaos-" });
    this.#pcap ??= await makeTrafficPcap(this.#pcapDir);
    for (let i = 0; i < times; i++) await replaySyntheticTraffic(this.topic, AGGREGATE, this.#pcap);
  }

  /** Keeps pmacctd replaying into the topic until {@linkcode stopLoad}: the load during a fault. */
  startLoad(): void {
    this.#loading = true;
    this.#load = (async () => {
      while (this.#loading) await this.replay();
    })();
  }

  async stopLoad(): Promise<void> {
    this.#loading = false;
    await this.#load;
  }

  /** Every produced record, accounted for from Elasticsearch and the dead-letter topic. */
  async account(): Promise<Accounting> {
    const produced = new Set<string>();
    for (const message of await readTopic(this.topic)) {
      for (const key of recordKeys(this.topic, message)) produced.add(key);
    }
    const documents = await indexedDocuments(this.topic, false, this.target);
    const cluster = await kafkaClusterId();
    const indexed = new Set(documents.map((document) => recordPartOfId(document.id, cluster)));
    const letters = await readTopicIfExists(this.deadLetterTopic);
    const lettered = new Set(letters.map((letter) => letter.key ?? ""));
    let missing = 0;
    for (const key of produced) if (!indexed.has(key) && !lettered.has(key)) missing++;
    let both = 0;
    for (const key of lettered) if (indexed.has(key)) both++;
    const strangers = [...indexed, ...lettered].filter((key) => !produced.has(key)).length;
    return {
      produced: produced.size,
      indexed: indexed.size,
      deadLettered: lettered.size,
      duplicates: (documents.length - indexed.size) + (letters.length - lettered.size) + both + strangers,
      missing,
      overwritten: documents.filter((document) => document.version > 1).length,
      letters,
    };
  }

  /**
   * Waits until no produced record is missing (or the time is up); returns the last accounting
   * and the seconds since `since`, so a failed scenario still gets its row in the table.
   */
  async settle(since: number, timeoutMs = 300_000): Promise<Accounting & { seconds: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.account();
      if ((now.produced > 0 && now.missing === 0) || Date.now() > deadline) {
        return { ...now, seconds: (Date.now() - since) / 1000 };
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** Adds the scenario's row to the table. */
  record({ letters: _letters, seconds, ...counts }: Accounting & { seconds: number }): Row {
    const row: Row = { scenario: this.name, ...counts, recoverSeconds: seconds };
    rows.push(row);
    return row;
  }

  /** Stops the load and every bridge still running. */
  async cleanUp(): Promise<void> {
    await this.stopLoad().catch(() => {});
    await Promise.all(this.bridges.map((bridge) => bridge.stop("SIGKILL")));
    if (this.#pcapDir) await Deno.remove(this.#pcapDir, { recursive: true });
  }
}

async function readTopicIfExists(topic: string): Promise<TopicMessage[]> {
  try {
    return await readTopic(topic);
  } catch (error) {
    if (/Unknown topic|UNKNOWN_TOPIC/i.test((error as Error).message)) return [];
    throw error;
  }
}

/** Sum of a metric over all its labels, or 0 when the bridge does not answer. */
export async function metricOf(bridge: BridgeProcess, name: string): Promise<number> {
  try {
    return await bridge.metric(name);
  } catch {
    return 0;
  }
}
